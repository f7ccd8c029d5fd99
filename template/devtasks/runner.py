"""`invoke ci`: run the workflow's jobs locally, in order, and summarise them."""

import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass

from invoke.context import Context
from invoke.exceptions import Exit

from . import workflow
from .jobs import require_python

RESULTS = ("passed", "FAILED", "skipped")


@dataclass
class Outcome:
    """How one job (or matrix entry) went."""

    job: str
    entry: str
    result: str
    seconds: float
    detail: str = ""


def python_available(version: str) -> bool:
    """Whether an interpreter for this Python version exists on the machine."""
    try:
        require_python(version)
    except Exit:
        return False
    return True


def docker_available() -> bool:
    """Whether a Docker engine answers."""
    if shutil.which("docker") is None:
        return False
    info = subprocess.run(["docker", "info"], capture_output=True, check=False)
    return info.returncode == 0


@dataclass(frozen=True)
class Place:
    """Where `invoke ci` runs the jobs: on this machine, or inside the `ci` image."""

    prefix: tuple[str, ...] = ()
    image_python: str | None = None

    @property
    def in_container(self) -> bool:
        """Whether the jobs run inside a container."""
        return bool(self.prefix)

    def skip_reason(self, entry: workflow.MatrixEntry) -> str | None:
        """Why this entry cannot run here, if it cannot."""
        version = entry.values.get("python-version")
        if self.in_container:
            if entry.job.needs_docker:
                return "not run inside the container: it drives the host's Docker engine"
            if version is not None and version != self.image_python:
                return f"the ci image has Python {self.image_python}, not {version}"
            return None
        if version is not None and not python_available(version):
            return f"no local Python {version}"
        if entry.job.needs_docker and not docker_available():
            return "no Docker engine answers on this machine"
        return None


HOST = Place()


def print_summary(outcomes: list[Outcome]) -> None:
    """Print the job / matrix entry / result / seconds table, then why anything was skipped."""
    rows = [("job", "matrix", "result", "seconds")]
    rows += [(o.job, o.entry, o.result, f"{o.seconds:.1f}") for o in outcomes]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print()
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    for outcome in outcomes:
        if outcome.detail:
            print(f"{outcome.job} [{outcome.entry}] {outcome.result}: {outcome.detail}")


def plan() -> list[workflow.Job]:
    """The CI workflow's jobs in the order `invoke ci` runs them."""
    try:
        return workflow.ordered(workflow.load())
    except workflow.WorkflowError as error:
        raise Exit(str(error), code=1) from None


def print_plan() -> None:
    """Print what `invoke ci` would run, one matrix entry a line, without running it."""
    for job in plan():
        for entry in job.entries():
            reason = HOST.skip_reason(entry)
            what = f"skip ({reason})" if reason else shlex.join(entry.argv)
            print(f"{job.id}\t{entry.label}\t{what}")


def run_ci(c: Context, *, fail_fast: bool = False, place: Place = HOST) -> list[Outcome]:
    """Run every job of the CI workflow like CI does: dependents of a failed job are skipped."""
    jobs = plan()
    outcomes: list[Outcome] = []
    failed_jobs: set[str] = set()
    for job in jobs:
        blocked = sorted(set(job.needs) & failed_jobs)
        for entry in job.entries():
            if blocked or (fail_fast and failed_jobs):
                why = f"needs {', '.join(blocked)}, which failed" if blocked else "--fail-fast"
                outcomes.append(Outcome(job.id, entry.label, "skipped", 0.0, why))
                failed_jobs.add(job.id)
                continue
            reason = place.skip_reason(entry)
            if reason:
                outcomes.append(Outcome(job.id, entry.label, "skipped", 0.0, reason))
                continue
            command = shlex.join([*place.prefix, *entry.argv])
            print(f"\n==> {job.id} [{entry.label}]: {command}", flush=True)
            started = time.monotonic()
            result = c.run(command, warn=True, pty=False)
            ok = result is not None and result.ok
            seconds = time.monotonic() - started
            outcomes.append(Outcome(job.id, entry.label, "passed" if ok else "FAILED", seconds))
            if not ok:
                failed_jobs.add(job.id)
    print_summary(outcomes)
    counts = {result: sum(o.result == result for o in outcomes) for result in RESULTS}
    print(f"ci: {counts['passed']} passed, {counts['FAILED']} failed, {counts['skipped']} skipped")
    failures = sorted({o.job for o in outcomes if o.result == "FAILED"})
    if failures:
        message = f"ci: failed: {', '.join(failures)}"
        raise Exit(message, code=1)
    return outcomes
