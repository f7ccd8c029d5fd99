"""Tasks that mirror the CI jobs one for one: `invoke ci` runs what CI runs.

The job graph lives in `.github/workflows/ci.yml` only; `invoke ci` reads it, and
`invoke parity` fails when the workflow and these tasks drift apart.
"""

import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from devtasks import parity as parity_check
from devtasks import workflow
from devtasks.jobs import ci_job, require_tool, run

REPORTS = Path("reports")
CURRENT_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


@task
@ci_job()
def lint(c: Context) -> None:
    """Lint code, workflows and the Dockerfile, and check parity with CI."""
    run(c, "ruff", "check", ".")
    run(c, "ruff", "format", "--check", ".")
    workflows = sorted(str(p) for p in workflow.WORKFLOWS.glob("*.y*ml"))
    run(c, "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)
    run(c, "check-jsonschema", "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml")
    run(c, "zizmor", "--offline", "--quiet", ".github")
    if Path("Dockerfile").exists():
        run(c, "hadolint", "Dockerfile")
    parity(c)


@task
@ci_job()
def typecheck(c: Context) -> None:
    """Type-check everything with mypy in strict mode."""
    run(c, "mypy")


def python_available(version: str) -> bool:
    """Whether an interpreter for this Python version exists on the machine."""
    require_tool("uv")
    found = subprocess.run(
        ["uv", "python", "find", "--no-python-downloads", "--system", version],
        capture_output=True,
        check=False,
    )
    return found.returncode == 0


@task(help={"python": "Python version to test on (default: the running one)"})
@ci_job()
def test(c: Context, python: str = CURRENT_PYTHON) -> None:
    """Run the test suite with coverage on one Python version, through nox."""
    if not python_available(python):
        message = f"Python {python} is not installed on this machine: install it first"
        raise Exit(message, code=1)
    REPORTS.mkdir(exist_ok=True)
    run(c, "nox", "--session", f"tests-{python}")


@task(name="format")
def format_code(c: Context) -> None:
    """Fix what the linters can fix: ruff's safe fixes, then formatting."""
    run(c, "ruff", "check", "--fix", ".")
    run(c, "ruff", "format", ".")


@task
def parity(_: Context) -> None:
    """Fail when the workflows and these tasks disagree on what CI runs."""
    problems = parity_check.check(ns)
    if problems:
        print("\n".join(f"parity: {problem}" for problem in problems), file=sys.stderr)
        message = f"parity: {len(problems)} difference(s) between CI and the local tasks"
        raise Exit(message, code=1)
    print("parity: the workflows and the local tasks agree")


@dataclass
class Outcome:
    """How one job (or matrix entry) went."""

    job: str
    entry: str
    result: str
    seconds: float
    detail: str = ""


def print_summary(outcomes: list[Outcome]) -> None:
    """Print the job / matrix entry / result / seconds table."""
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
            print(f"{outcome.job} [{outcome.entry}]: {outcome.detail}")


def skip_reason(entry: workflow.MatrixEntry) -> str | None:
    """Why this entry cannot run on this machine, if it cannot."""
    version = entry.values.get("python-version")
    if version is not None and not python_available(version):
        return f"no local Python {version}"
    return None


@task(help={"fail_fast": "Stop at the first failed job instead of running the rest"})
def ci(c: Context, fail_fast: bool = False) -> None:  # noqa: FBT001, FBT002 - invoke flags
    """Run every CI job, in the workflow's order, exactly as the workflow runs it."""
    try:
        jobs = workflow.ordered(workflow.load())
    except workflow.WorkflowError as error:
        raise Exit(str(error), code=1) from None
    outcomes: list[Outcome] = []
    failed_jobs: set[str] = set()
    for job in jobs:
        blocked = sorted(set(job.needs) & failed_jobs)
        for entry in job.entries():
            if blocked or (fail_fast and failed_jobs):
                why = f"needs {', '.join(blocked)}" if blocked else "--fail-fast"
                outcomes.append(Outcome(job.id, entry.label, "skipped", 0.0, why))
                failed_jobs.add(job.id)
                continue
            reason = skip_reason(entry)
            if reason:
                outcomes.append(Outcome(job.id, entry.label, "skipped", 0.0, reason))
                continue
            print(f"\n==> {job.id} [{entry.label}]: {shlex.join(entry.argv)}", flush=True)
            started = time.monotonic()
            result = c.run(shlex.join(entry.argv), warn=True, pty=False)
            ok = result is not None and result.ok
            outcomes.append(
                Outcome(
                    job.id, entry.label, "passed" if ok else "FAILED", time.monotonic() - started
                )
            )
            if not ok:
                failed_jobs.add(job.id)
    print_summary(outcomes)
    failures = [o for o in outcomes if o.result == "FAILED"]
    if failures:
        names = ", ".join(sorted({o.job for o in failures}))
        message = f"ci: failed: {names}"
        raise Exit(message, code=1)
    print("ci: every job that ran passed")


ns = Collection(lint, typecheck, test, format_code, parity, ci)
