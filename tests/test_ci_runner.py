"""`invoke ci` on a rendered service: JSON results, side-by-side jobs, subdirectories, Ctrl-C.

Slow tier: these run the service's own `invoke ci` (from its own locked environment).
"""

import contextlib
import functools
import hashlib
import http.server
import io
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import tarfile
import threading
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
    """A default service whose own tests fail: `test` fails and `publish` is skipped."""
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
    # docker does not wait for test, but its ci image runs the same suite: it cannot pass.
    assert by_job["docker"] != "passed"
    publish = next(e for e in serial["entries"] if e["job"] == "publish")
    unmet = {job for job, result in by_job.items() if job != "publish" and result != "passed"}
    assert "test" in unmet
    assert publish["result"] == "skipped"
    named = publish["reason"].removeprefix("needs ").removesuffix(", which did not succeed")
    assert set(named.split(", ")) == unmet, publish["reason"]
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


def add_job(project: Path, job: str, task: str) -> None:
    """Add a job (YAML under `jobs:`) and its task; `publish` needs it, as parity demands."""
    name = job.strip().split(":", 1)[0]
    workflow = project / ".github/workflows/ci.yml"
    text = workflow.read_text(encoding="utf-8").replace("\njobs:\n", "\njobs:" + job, 1)
    publish = "\n  publish:\n    needs: ["
    assert publish in text
    workflow.write_text(text.replace(publish, f"{publish}{name}, ", 1), encoding="utf-8")
    tasks = project / "tasks.py"
    tasks.write_text(
        tasks.read_text(encoding="utf-8").replace("\n\nns = Collection(", task, 1),
        encoding="utf-8",
    )


@pytest.fixture
def slow_service(broken_service: Path, tmp_path: Path) -> Iterator[Path]:
    """The service with one more job, `slow`, whose task sleeps in a grandchild process."""
    project = tmp_path / "service"
    run(["cp", "-a", str(broken_service), str(project)], tmp_path)
    add_job(project, SLOW_JOB, SLOW_TASK)
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
    # act ignores a job's timeout-minutes (act_runner.ACT_SELF_HOSTED_IGNORES). GitHub:
    # "The maximum number of minutes to let a job run before GitHub automatically cancels
    # it. Default: 360" (docs.github.com, Workflow syntax for GitHub Actions, section
    # jobs.<job_id>.timeout-minutes): the job fails, and its processes are stopped.
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
    # act has no job-level continue-on-error either. GitHub: "Prevents a workflow run from
    # failing when a job fails. Set to true to allow a workflow run to pass when this job
    # fails." (docs.github.com, Workflow syntax, section jobs.<job_id>.continue-on-error)
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
    # The reason is the task's own last line (nox's), not a bare exit code.
    assert by_job["test"]["reason"].startswith("continue-on-error: "), by_job["test"]
    assert by_job["test"]["reason"] != "continue-on-error: exit code 1", by_job["test"]
    assert by_job["docker"]["result"] == "skipped"
    assert document["exit_code"] == 0, json.dumps(document, indent=1)


FAILING_JOB = """
  boom:
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    permissions:
      contents: read
    steps:
      - run: uv run --locked invoke boom
"""
FAILING_TASK = '''

@ci_task()
def boom(c: Context) -> None:
    """Print a line, then fail with a reason of its own (for the reasons test)."""
    print("boom: some output first", flush=True)
    from invoke.exceptions import Exit

    raise Exit("boom: the cause, in one line", code=1)


ns = Collection(boom, '''


@pytest.fixture(scope="module")
def boom_run(broken_service: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`invoke ci --json --jobs 2 --only boom --only typecheck` in a service with a failing job."""
    project = tmp_path_factory.mktemp("boom") / "service"
    run(["cp", "-a", str(broken_service), str(project)], project.parent)
    add_job(project, FAILING_JOB, FAILING_TASK)
    document = ci_json(project, "--jobs", "2", "--only", "boom", "--only", "typecheck")
    invoke = str(project / ".venv/bin/invoke")
    document["parity"] = run([invoke, "parity"], project, check=False)
    return document


def test_a_failed_jobs_reason_is_its_tasks_exit_message(boom_run: dict[str, Any]) -> None:
    by_job = {e["job"]: e for e in boom_run["entries"]}
    # add_job adds the job to publish's needs, as parity demands.
    assert "publishes without waiting" not in boom_run["parity"].stderr
    assert by_job["boom"]["result"] == "failed", by_job["boom"]
    assert by_job["boom"]["reason"] == "boom: the cause, in one line"
    assert by_job["boom"]["exit_code"] == 1
    assert "--only boom" in by_job["boom"]["fix"]
    assert boom_run["exit_code"] == 1


# What uv itself prints while it syncs the venv a task runs in.
UV_WORDS = ("Using CPython", "Creating virtual environment", "Resolved", "Prepared", "Installed")
UV_LINE = re.compile(
    "^(" + "|".join((*UV_WORDS, "Uninstalled", "Audited", "Built", "Building")) + ") "
)


def test_side_by_side_jobs_stream_prefixed_lines_and_still_group_each_log(
    boom_run: dict[str, Any],
) -> None:
    # stderr here is a pipe, not a terminal: `[job] line` as it happens, then each log whole.
    lines = boom_run["output"].splitlines()
    assert "[boom] started: uv run --locked invoke boom" in lines, boom_run["output"]
    assert "[boom] boom: some output first" in lines
    assert any(line.startswith("[boom] failed after ") for line in lines)
    assert any(line.startswith("[typecheck] passed after ") for line in lines)
    header = lines.index("==> boom [-]: uv run --locked invoke boom")
    # The job's whole log follows its header (after any line uv prints as it syncs the venv).
    group = lines[header + 1 :]
    group = group[: next((i for i, line in enumerate(group) if line.startswith("==> ")), None)]
    own = [line for line in group if not line.startswith(" ") and not UV_LINE.match(line)]
    assert own[:1] == ["boom: some output first"], group


def test_only_runs_the_job_and_not_the_others(broken_service: Path) -> None:
    document = ci_json(broken_service, "--only", "test")
    by_result: dict[str, set[str]] = {}
    for job, _, result in results(document):
        by_result.setdefault(result, set()).add(job)
    assert by_result == {
        "failed": {"test"},
        "not-selected": {"lint", "typecheck", "security", "docker", "publish"},
    }, document["output"]
    assert document["exit_code"] == 1


def test_skip_leaves_a_job_out_and_skips_what_needs_it(broken_service: Path) -> None:
    left_out = ["docker", "lint", "typecheck", "test", "security"]
    flags = [arg for job in left_out for arg in ("--skip", job)]
    document = ci_json(broken_service, *flags)
    by_job = {e["job"]: e for e in document["entries"]}
    assert {job: by_job[job]["result"] for job in left_out} == dict.fromkeys(
        left_out, "not-selected"
    )
    assert by_job["publish"]["result"] == "skipped"
    assert by_job["publish"]["reason"] == (
        "needs docker, lint, security, test, typecheck, which --only / --skip left out"
    )
    # Nothing ran, so nothing failed.
    assert document["exit_code"] == 0
    invoke = str(broken_service / ".venv/bin/invoke")
    plan = run([invoke, "ci", "--dry-run", "--json", "--skip", "docker"], broken_service).stdout
    planned = {e["job"]: e["plan"] for e in json.loads(plan)["entries"]}
    assert planned["publish"] == "skip (needs docker, which --only / --skip left out)"
    assert planned["docker"].startswith("not selected")
    unknown = run([invoke, "ci", "--only", "nope"], broken_service, check=False)
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines() == [
        (
            "ci: no job nope in .github/workflows/ci.yml; its jobs are "
            "lint, typecheck, test, security, docker, publish"
        )
    ]
    bare = run([invoke, "ci", "--only", "--dry-run"], broken_service, check=False)
    assert bare.returncode == 1
    assert bare.stderr.strip().splitlines() == [
        "ci: --only needs a value, as in `invoke ci --only test`"
    ]


FAKE_TRIVY = """#!/bin/sh
echo "Version: 0.70.0"
"""


def pinned_trivy(service: Path) -> str:
    """The Trivy version ci.yml's setup-trivy steps pin."""
    text = (service / ".github/workflows/ci.yml").read_text(encoding="utf-8")
    pinned = re.search(r"setup-trivy@\S+ # \S+\n\s+with:\n\s+version: v(\S+)", text)
    assert pinned is not None
    return pinned[1]


def test_a_tool_at_another_version_than_the_pin_skips_the_job(
    broken_service: Path, tmp_path: Path
) -> None:
    pinned = pinned_trivy(broken_service)
    trivy = tmp_path / "bin" / "trivy"
    trivy.parent.mkdir()
    trivy.write_text(FAKE_TRIVY, encoding="utf-8")
    trivy.chmod(0o755)
    env = {"PATH": f"{trivy.parent}{os.pathsep}{os.environ['PATH']}"}
    document = ci_json(broken_service, "--only", "security", env=env)
    (security,) = [e for e in document["entries"] if e["job"] == "security"]
    assert security["result"] == "skipped", security
    how = (
        f"install it from https://github.com/aquasecurity/trivy/releases/tag/v{pinned}, "
        "or run `invoke ci --fetch-tools` to download it checksum-verified"
    )
    assert security["reason"] == (
        f"aquasecurity/setup-trivy pins trivy {pinned}; this machine has trivy 0.70.0: {how}"
    )
    assert security["fix"] == how
    assert document["exit_code"] == 0


def trivy_release(served: Path, version: str, trivy: Path, *, published: str = "") -> str:
    """A GitHub-shaped release of Trivy `version` under `served`; returns the asset's name.

    Its binary is a wrapper of the harness's Trivy (`trivy`, at that very version); the
    checksums file names the asset's true SHA-256, or `published` instead.
    """
    arch = {"x86_64": "64bit", "aarch64": "ARM64"}[platform.machine()]
    asset = f"trivy_{version}_Linux-{arch}.tar.gz"
    folder = served / "aquasecurity/trivy/releases/download" / f"v{version}"
    folder.mkdir(parents=True)
    wrapper = f'#!/bin/sh\nexec "{trivy}" "$@"\n'.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in (("LICENSE", b"Apache-2.0\n"), ("trivy", wrapper)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            archive.addfile(info, io.BytesIO(data))
    (folder / asset).write_bytes(buffer.getvalue())
    digest = published or hashlib.sha256(buffer.getvalue()).hexdigest()
    other = "0" * 64
    checksums = f"{other}  trivy_{version}_macOS-64bit.tar.gz\n{digest}  {asset}\n"
    (folder / f"trivy_{version}_checksums.txt").write_text(checksums, encoding="utf-8")
    return asset


@contextlib.contextmanager
def serving(directory: Path) -> Iterator[str]:
    """A loopback HTTP server of `directory`, as a mirror of github.com's release paths."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def without_trivy() -> str:
    """This process's PATH without any folder holding a `trivy`."""
    folders = os.environ["PATH"].split(os.pathsep)
    return os.pathsep.join(f for f in folders if not (Path(f) / "trivy").exists())


def test_fetch_tools_downloads_the_pinned_trivy_checksum_verified(
    broken_service: Path, tmp_path: Path
) -> None:
    version, real = pinned_trivy(broken_service), shutil.which("trivy")
    assert real is not None, "the slow tier puts the harness's Trivy on PATH"
    trivy_release(tmp_path / "good", version, Path(real))
    trivy_release(tmp_path / "tampered", version, Path(real), published="1" * 64)
    cache = tmp_path / "cache"
    cached = cache / "shipshape/tools/trivy" / version / "trivy"
    env = {"PATH": without_trivy(), "XDG_CACHE_HOME": str(cache)}
    # Without the flag: skipped, and the reason names the flag.
    document = ci_json(broken_service, "--only", "security", env=env)
    (security,) = [e for e in document["entries"] if e["job"] == "security"]
    assert security["result"] == "skipped"
    assert security["reason"].endswith(
        "or run `invoke ci --fetch-tools` to download it checksum-verified"
    )
    with serving(tmp_path / "tampered") as url:
        tampered = {**env, "SHIPSHAPE_TOOL_DOWNLOADS": url}
        document = ci_json(broken_service, "--only", "security", "--fetch-tools", env=tampered)
    (security,) = [e for e in document["entries"] if e["job"] == "security"]
    assert security["result"] == "skipped", security
    assert f"not the published {'1' * 64}; nothing was installed" in security["reason"]
    assert not cached.exists()
    with serving(tmp_path / "good") as url:
        good = {**env, "SHIPSHAPE_TOOL_DOWNLOADS": url}
        invoke = str(broken_service / ".venv/bin/invoke")
        argv = [invoke, "ci", "--dry-run", "--json", "--only", "security", "--fetch-tools"]
        plan = json.loads(run(argv, broken_service, env=good).stdout)
        (row,) = [e for e in plan["entries"] if e["job"] == "security"]
        assert row["plan"].endswith(f"(after downloading trivy {version})"), row
        assert not cached.exists(), "a dry run downloads nothing"
        document = ci_json(broken_service, "--only", "security", "--fetch-tools", env=good)
    (security,) = [e for e in document["entries"] if e["job"] == "security"]
    assert security["result"] == "passed", document["output"]
    assert (
        f"downloading trivy {version} (SHA-256 checked) into {cached.parent}" in document["output"]
    )
    assert cached.is_file()
    # The server is gone: the cached version is found, without the flag and without a download.
    document = ci_json(broken_service, "--only", "security", env=env)
    (security,) = [e for e in document["entries"] if e["job"] == "security"]
    assert security["result"] == "passed", document["output"]
    assert "downloading" not in document["output"]


def test_parity_fails_when_publish_does_not_wait_for_a_job(
    broken_service: Path, tmp_path: Path
) -> None:
    project = tmp_path / "service"
    shutil.copytree(broken_service, project, ignore=shutil.ignore_patterns(".venv"))
    workflow = project / ".github/workflows/ci.yml"
    text = workflow.read_text(encoding="utf-8")
    assert "needs: [lint, typecheck, test, security, docker]" in text
    workflow.write_text(text.replace("test, security, docker]", "test, docker]"), "utf-8")
    invoke = str(broken_service / ".venv/bin/invoke")
    parity = run([invoke, "parity"], project, check=False)
    assert parity.returncode == 1
    assert (
        "parity: .github/workflows/ci.yml: job `publish` publishes without waiting for "
        "security: add it to its `needs:`"
    ) in parity.stderr.splitlines()


def with_shards(source: Path, destination: Path, *, fail_fast: bool | None) -> Path:
    """The broken service with a second matrix axis on `test`: two entries, both failing."""
    run(["cp", "-a", str(source), str(destination)], destination.parent)
    workflow = destination / ".github/workflows/ci.yml"
    text = workflow.read_text(encoding="utf-8")
    written = "      fail-fast: false\n"  # the template's: a failed Python runs the rest
    assert text.count(written) == 1, text
    setting = "" if fail_fast is None else f"      fail-fast: {str(fail_fast).lower()}\n"
    text = text.replace(written, setting, 1)
    text = text.replace("      matrix:\n", "      matrix:\n        shard: [1, 2]\n", 1)
    workflow.write_text(text, encoding="utf-8")
    return destination


def test_fail_fast_cancels_the_matrix_siblings(broken_service: Path, tmp_path: Path) -> None:
    # act never cancels (ACT_SELF_HOSTED_IGNORES). GitHub: "If
    # `jobs.<job_id>.strategy.fail-fast` is set to `true` or its expression evaluates to
    # `true`, GitHub will cancel all in-progress and queued jobs in the matrix if any job in
    # the matrix fails. This property defaults to `true`." (github/docs, data/reusables/
    # actions/jobs/section-using-a-build-matrix-for-your-jobs-failfast.md)
    for fail_fast, second in ((None, "cancelled"), (False, "failed")):
        project = with_shards(
            broken_service, tmp_path / f"fail-fast-{fail_fast}", fail_fast=fail_fast
        )
        document = ci_json(project, "--only", "test")
        shards = [e for e in document["entries"] if e["job"] == "test"]
        assert [e["result"] for e in shards] == ["failed", second], (fail_fast, shards)
        if second == "cancelled":
            assert shards[1]["reason"] == f"fail-fast: [{shards[0]['entry']}] failed"
        assert document["exit_code"] == 1


SCHEDULED_JOBS = """
  quick:
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    permissions:
      contents: read
    steps:
      - run: uv run --locked invoke quick

  slowpoke:
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    permissions:
      contents: read
    steps:
      - run: uv run --locked invoke slowpoke

  after-quick:
    needs: [quick]
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    permissions:
      contents: read
    steps:
      - run: uv run --locked invoke after-quick
"""
SCHEDULED_TASKS = '''

@ci_task()
def quick(c: Context) -> None:
    """Pass at once (for the scheduling test)."""
    c.run("true")


@ci_task()
def slowpoke(c: Context) -> None:
    """Take longer than quick (for the scheduling test)."""
    c.run("sleep 20")


@ci_task()
def after_quick(c: Context) -> None:
    """Run once quick has passed (for the scheduling test)."""
    c.run("true")


ns = Collection(quick, slowpoke, after_quick, '''


def test_a_job_starts_when_its_own_needs_are_done_not_its_stage(
    broken_service: Path, tmp_path: Path
) -> None:
    # act runs a workflow stage by stage: a job waits for every job of the stage before it
    # (ACT_SELF_HOSTED_IGNORES). GitHub: "Use `jobs.<job_id>.needs` to identify any jobs
    # that must complete successfully before this job will run." (github/docs, data/
    # reusables/actions/jobs/section-using-jobs-in-a-workflow-needs.md): after-quick needs
    # quick only, so it starts while slowpoke, of quick's stage, still runs.
    project = tmp_path / "service"
    run(["cp", "-a", str(broken_service), str(project)], tmp_path)
    add_job(project, SCHEDULED_JOBS, SCHEDULED_TASKS)
    workflow = project / ".github/workflows/ci.yml"
    text = workflow.read_text(encoding="utf-8")
    # add_job put the first job into publish's needs; the other two join it.
    text = text.replace("needs: [quick, ", "needs: [quick, slowpoke, after-quick, ", 1)
    workflow.write_text(text, encoding="utf-8")
    invoke = str(project / ".venv/bin/invoke")
    parity = run([invoke, "parity"], project, check=False)
    assert "publishes without waiting" not in parity.stderr
    document = ci_json(project, "--jobs", "2", "--only", "after-quick", "--only", "slowpoke")
    by_job = {e["job"]: e["result"] for e in document["entries"]}
    assert by_job["quick"] == by_job["after-quick"] == by_job["slowpoke"] == "passed", by_job
    lines = document["output"].splitlines()
    started = lines.index("[after-quick] started: uv run --locked invoke after-quick")
    slow_done = next(i for i, line in enumerate(lines) if line.startswith("[slowpoke] passed"))
    assert started < slow_done, document["output"]
