"""Benchmark a new service: `copier copy`, then `invoke ci` serial and with `--jobs 2`.

Then the same workflow under nektos/act, as the differential tests run it (self-hosted,
offline stand-in actions), on the same service in the same run, against a warm
`invoke ci --jobs 2`.

Run: `uv run python bench/bench_service.py [--runs N]`. Writes its section of bench/results.md.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from results_file import verdict, write_section

ROOT = Path(__file__).resolve().parent.parent
# The security job's scanners, offline (harness only): Trivy and a loopback OSV stand-in.
sys.path.insert(0, str(ROOT / "harness"))
from offline_scanners import offline_scanners  # noqa: E402

# act, driven the way the differential tests drive it (harness only).
sys.path.insert(0, str(ROOT / "tests"))
from act_runner import run_act  # noqa: E402

GOAL_SECONDS = 30.0
PARALLEL_GOAL_SECONDS = 15.0
PARITY_GOAL_SECONDS = 1.0


def timed(argv: list[str], cwd: Path) -> tuple[float, str]:
    """Run a command, failing loudly; return its wall time and stdout."""
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed, result.stdout


def copy(destination: Path, project_name: str | None) -> float:
    """Render the template with its defaults (and this project name), `uv lock` included."""
    copier = [sys.executable, "-m", "copier", "copy", "--quiet", "--trust", "--defaults"]
    if project_name:
        copier += ["--data", f"project_name={project_name}"]
    elapsed, _ = timed([*copier, "--vcs-ref", "HEAD", str(ROOT), str(destination)], ROOT)
    return elapsed


def job_seconds(output: str) -> dict[str, float]:
    """Per-entry seconds from `invoke ci --json`."""
    document = json.loads(output)
    return {f"{e['job']} [{e['entry']}]": float(e["seconds"]) for e in document["entries"]}


def new_service(scratch: Path, name: str, project_name: str | None = None) -> tuple[Path, float]:
    """A rendered, git-initialised service and the copy's seconds."""
    service = scratch / name
    elapsed = copy(service, project_name)
    timed(["git", "init", "--quiet"], service)
    timed(["git", "add", "--all"], service)
    timed(["git", "commit", "--quiet", "--message", "new service"], service)
    return service, elapsed


def act_seconds(service: Path, env: dict[str, str]) -> float:
    """Wall time of ci.yml under act on `service`, which must pass there as it does locally."""
    started = time.perf_counter()
    run = run_act(service, env=env)
    elapsed = time.perf_counter() - started
    if run.exit_code != 0:
        sys.exit(f"act failed on {service}:\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}")
    return elapsed


def main() -> None:
    """Measure, then write the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    copies, first_ci, warm_ci, parallel_first, parity = [], [], [], [], []
    # A project of a name no earlier run built: BuildKit has none of its layers.
    unseen_first: list[float] = []
    unseen_jobs: dict[str, float] = {}
    parallel_warm, under_act = [], []
    last_jobs: dict[str, float] = {}
    first_jobs: dict[str, float] = {}
    ci = ["uv", "run", "--locked", "invoke", "ci", "--json"]
    with (
        tempfile.TemporaryDirectory() as scratch,
        offline_scanners(Path(scratch) / "trivy-cache") as scanners,
    ):
        os.environ.update(scanners)
        for index in range(runs):
            service, elapsed = new_service(Path(scratch), f"service-{index}")
            copies.append(elapsed)
            elapsed, _ = timed(ci, service)
            first_ci.append(elapsed)
            elapsed, output = timed(ci, service)
            warm_ci.append(elapsed)
            last_jobs = job_seconds(output)
            elapsed, _ = timed(["uv", "run", "--locked", "invoke", "parity"], service)
            parity.append(elapsed)
            service, elapsed = new_service(Path(scratch), f"parallel-{index}")
            first, output = timed([*ci, "--jobs", "2"], service)
            parallel_first.append(elapsed + first)
            first_jobs = job_seconds(output)
            warm, _ = timed([*ci, "--jobs", "2"], service)
            parallel_warm.append(warm)
            under_act.append(act_seconds(service, scanners))
            unseen = f"Bench Unseen {index} {time.time_ns()}"
            service, elapsed = new_service(Path(scratch), f"unseen-{index}", unseen)
            first, output = timed([*ci, "--jobs", "2"], service)
            unseen_first.append(elapsed + first)
            unseen_jobs = job_seconds(output)
    total = statistics.median(copies) + statistics.median(first_ci)
    parallel_total = statistics.median(parallel_first)
    parity_seconds = statistics.median(parity)
    warm_parallel = statistics.median(parallel_warm)
    act_total = statistics.median(under_act)
    ratio = act_total / warm_parallel
    # No schedule on two slots ends before half the jobs' seconds: the floor of `--jobs 2`.
    floor = sum(first_jobs.values()) / 2
    unseen_floor = sum(unseen_jobs.values()) / 2
    lines = [
        "## New service: copy and local CI",
        "",
        (
            f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.machine()}, "
            f"{platform.python_version()}, median of {runs} runs, warm uv cache."
        ),
        "",
        "| step | seconds | goal | |",
        "|---|---|---|---|",
        f"| `copier copy --defaults` (incl. `uv lock`) | {statistics.median(copies):.1f} | | |",
        f"| first `invoke ci` (creates the venvs) | {statistics.median(first_ci):.1f} | | |",
        f"| second `uv run --locked invoke ci` | {statistics.median(warm_ci):.1f} | | |",
        (
            f"| copy + first full local CI | {total:.1f} | under {GOAL_SECONDS:.0f} "
            f"| {verdict(total < GOAL_SECONDS)} |"
        ),
        (
            f"| copy + first `invoke ci --jobs 2` | {parallel_total:.1f} "
            f"| under {PARALLEL_GOAL_SECONDS:.0f} "
            f"| {verdict(parallel_total < PARALLEL_GOAL_SECONDS)} |"
        ),
        (
            f"| `uv run --locked invoke parity` | {parity_seconds:.2f} "
            f"| under {PARITY_GOAL_SECONDS:.0f} | {verdict(parity_seconds < PARITY_GOAL_SECONDS)} |"
        ),
        (
            "| copy + first `invoke ci --jobs 2` of a project no run built before "
            f"(its image layers not in BuildKit's cache) | {statistics.median(unseen_first):.1f} "
            "| | |"
        ),
        f"| warm `invoke ci --jobs 2` | {warm_parallel:.1f} | | |",
        f"| the same ci.yml under act (self-hosted, offline stand-ins) | {act_total:.1f} | | |",
        (f"| act's time / `invoke ci --jobs 2`'s | {ratio:.2f} | above 1 | {verdict(ratio > 1)} |"),
        "",
        (
            "Per job, from the last run of each: the first `--jobs 2` run of a new service "
            "(its image layers come from the serial run's service, rendered the same), of a "
            "project no run built before, and a warm serial run. Two slots cannot end a run "
            f"before half its jobs' seconds: {floor:.1f} s for the first, "
            f"{unseen_floor:.1f} s for the unbuilt project, plus the copy."
        ),
        "",
        "| job [matrix] | first `--jobs 2` | first, unbuilt project | warm, serial |",
        "|---|---|---|---|",
        *(
            f"| {job} | {first_jobs.get(job, 0.0):.1f} | {unseen_jobs.get(job, 0.0):.1f} "
            f"| {seconds:.1f} |"
            for job, seconds in last_jobs.items()
        ),
    ]
    write_section("service", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
