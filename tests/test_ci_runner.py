"""`invoke ci` on a rendered service: JSON results, side-by-side jobs, subdirectories, Ctrl-C.

Slow tier: these run the service's own `invoke ci` (from its own locked environment).
"""

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import break_the_tests, copy_project, run, user_environment

pytestmark = pytest.mark.slow

SLOW_JOB = """
  slow:
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    permissions:
      contents: read
    steps:
      - run: uv run --locked invoke slow
"""
SLOW_TASK = '''

@ci_task()
def slow(c: Context) -> None:
    """Start a grandchild that records its pid, then wait for it (for the Ctrl-C test)."""
    c.run("sh -c 'echo $$ > slow.pid; exec sleep 600'")


ns = Collection(slow, '''


@pytest.fixture(scope="module")
def broken_service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default service whose own tests fail, so only `test` fails and `docker` is skipped."""
    project = copy_project(tmp_path_factory.mktemp("broken") / "service")
    break_the_tests(project)
    run(["uv", "sync", "--locked"], project)
    return project


def ci_json(
    project: Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run the service's `invoke ci --json`; its stdout is one JSON document."""
    invoke = str(project / ".venv/bin/invoke")
    argv = [invoke, "ci", "--json", *args]
    result = run(argv, cwd or project, env=env, check=False, timeout=1800)
    document: dict[str, Any] = json.loads(result.stdout)
    assert document["exit_code"] == result.returncode, result.stderr[-3000:]
    # Failures below show what the jobs printed.
    document["output"] = result.stderr[-6000:]
    return document


def results(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e["job"], e["entry"], e["result"]) for e in document["entries"]]


def test_side_by_side_jobs_give_the_serial_results(broken_service: Path) -> None:
    serial = ci_json(broken_service)
    parallel = ci_json(broken_service, "--jobs", "2")
    assert results(serial) == results(parallel)
    assert serial["exit_code"] == parallel["exit_code"] == 1
    by_job = {job: result for job, _, result in results(serial)}
    assert by_job["lint"] == by_job["typecheck"] == "passed", serial["output"]
    assert by_job["test"] == "failed"
    assert by_job["docker"] == "skipped"
    docker = next(e for e in serial["entries"] if e["job"] == "docker")
    assert docker["reason"] == "needs test, which did not succeed"
    failed = next(e for e in serial["entries"] if e["job"] == "test")
    assert failed["exit_code"] == 1
    assert failed["command"].startswith("uv run --locked invoke test --python ")


def test_ci_and_parity_work_from_a_subdirectory(broken_service: Path) -> None:
    invoke = str(broken_service / ".venv/bin/invoke")
    inside = broken_service / "src"
    plan = run([invoke, "ci", "--dry-run", "--json"], inside).stdout
    entries = json.loads(plan)["entries"]
    assert [e["job"] for e in entries][:3] == ["lint", "typecheck", "test"]
    assert all(e["cwd"] == str(broken_service) for e in entries)
    assert "agree" in run([invoke, "parity"], inside).stdout


# A laptop with the docker CLI and no engine: every `docker` call fails to connect.
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


@pytest.fixture(scope="module")
def postgres_service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A service with `database=postgres`: its `integration` task starts Postgres in Docker."""
    project = copy_project(tmp_path_factory.mktemp("postgres") / "service", database="postgres")
    run(["uv", "sync", "--locked"], project)
    return project


def test_without_an_engine_the_plan_skips_the_tasks_that_start_containers(
    postgres_service: Path,
) -> None:
    invoke = str(postgres_service / ".venv/bin/invoke")
    plan = run([invoke, "ci", "--dry-run", "--json"], postgres_service, env=NO_ENGINE).stdout
    by_job = {e["job"]: e["plan"] for e in json.loads(plan)["entries"]}
    assert by_job["integration"].startswith("skip (no Docker engine answers"), by_job
    assert by_job["docker"].startswith("skip (no Docker engine answers"), by_job
    assert by_job["lint"] == "uv run --locked invoke lint"


def test_without_an_engine_ci_skips_integration_and_the_task_alone_fails(
    postgres_service: Path,
) -> None:
    document = ci_json(postgres_service, "--jobs", "3", env=NO_ENGINE)
    by_job = {e["job"]: e for e in document["entries"]}
    integration = by_job["integration"]
    assert integration["result"] == "skipped", document["output"]
    assert integration["reason"].startswith("no Docker engine answers"), integration
    assert integration["reason"] == by_job["docker"]["reason"]
    assert by_job["lint"]["result"] == by_job["typecheck"]["result"] == "passed"
    assert document["exit_code"] == 0, json.dumps(document, indent=1)
    # Run by hand, the task still fails rather than pass without its services.
    invoke = str(postgres_service / ".venv/bin/invoke")
    alone = run([invoke, "integration"], postgres_service, env=NO_ENGINE, check=False)
    assert alone.returncode == 1, alone.stdout + alone.stderr
    assert "integration: no Docker engine answers" in alone.stderr


@pytest.fixture
def slow_service(broken_service: Path, tmp_path: Path) -> Iterator[Path]:
    """The service with one more job, `slow`, whose task sleeps in a grandchild process."""
    project = tmp_path / "service"
    run(["cp", "-a", str(broken_service), str(project)], tmp_path)
    workflow = project / ".github/workflows/ci.yml"
    workflow.write_text(
        workflow.read_text(encoding="utf-8").replace("\njobs:\n", "\njobs:" + SLOW_JOB, 1),
        encoding="utf-8",
    )
    tasks = project / "tasks.py"
    tasks.write_text(
        tasks.read_text(encoding="utf-8").replace("\n\nns = Collection(", SLOW_TASK, 1),
        encoding="utf-8",
    )
    yield project
    pid_file = project / "slow.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text(encoding="utf-8")), signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for this purpose.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text(encoding="utf-8").split()[2] == "Z")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupt_stops_every_job_at_once(slow_service: Path, sig: signal.Signals) -> None:
    invoke = str(slow_service / ".venv/bin/invoke")
    assert run([invoke, "parity"], slow_service).returncode == 0
    process = subprocess.Popen(
        [invoke, "ci", "--jobs", "2"],
        cwd=slow_service,
        env=user_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pid_file = slow_service / "slow.pid"
    deadline = time.monotonic() + 120
    while not pid_file.exists() or not pid_file.read_text(encoding="utf-8").strip():
        assert time.monotonic() < deadline, "the slow job never started"
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    grandchild = int(pid_file.read_text(encoding="utf-8"))
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stdout + stderr
    assert "ci: interrupted; every job was stopped" in stderr
    rows = [line.split() for line in stdout.splitlines() if line.startswith("slow ")]
    assert rows, stdout
    assert rows[0][:3] == ["slow", "-", "cancelled"], stdout
    deadline = time.monotonic() + 15
    while alive(grandchild):
        assert time.monotonic() < deadline, f"pid {grandchild} outlived invoke ci"
        time.sleep(0.1)


def test_a_job_timeout_stops_the_job_and_fails_it(slow_service: Path) -> None:
    # act ignores a job's timeout-minutes (act_runner.ACT_SELF_HOSTED_IGNORES): GitHub's rule
    # is that the job is cancelled and fails, and its processes are stopped.
    workflow = slow_service / ".github/workflows/ci.yml"
    text = workflow.read_text(encoding="utf-8")
    workflow.write_text(text.replace("timeout-minutes: 5\n", "timeout-minutes: 0.05\n", 1), "utf-8")
    document = ci_json(slow_service)
    slow = next(e for e in document["entries"] if e["job"] == "slow")
    assert slow["result"] == "failed", slow
    assert slow["reason"] == "timed out after 0.05 minute(s)"
    assert 3 <= slow["seconds"] < 15, slow
    grandchild = int((slow_service / "slow.pid").read_text(encoding="utf-8"))
    assert not alive(grandchild)


def test_a_job_allowed_to_fail_does_not_fail_the_run(broken_service: Path, tmp_path: Path) -> None:
    # act has no job-level continue-on-error either; GitHub: the run and the needs succeed.
    project = tmp_path / "service"
    run(["cp", "-a", str(broken_service), str(project)], tmp_path)
    workflow = project / ".github/workflows/ci.yml"
    text = workflow.read_text(encoding="utf-8")
    text = text.replace(
        "  test:\n    runs-on:", "  test:\n    continue-on-error: true\n    runs-on:"
    )
    text = text.replace(
        "  docker:\n    needs:", "  docker:\n    if: github.event_name == 'push'\n    needs:"
    )
    workflow.write_text(text, encoding="utf-8")
    document = ci_json(project)
    by_job = {e["job"]: e for e in document["entries"]}
    assert by_job["test"]["result"] == "failed-allowed", by_job["test"]
    assert by_job["test"]["reason"] == "continue-on-error: exit code 1"
    assert by_job["docker"]["result"] == "skipped"
    assert document["exit_code"] == 0, json.dumps(document, indent=1)
