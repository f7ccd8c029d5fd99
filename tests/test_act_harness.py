"""The act harness: stand-ins map from the workflow, and act runs a service offline.

The fast tests check the `uses:`-to-stand-in mapping and the reading of act's JSON log; the
slow ones run nektos/act on rendered services, clean and with a broken test.
"""

import contextlib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from act_runner import (
    STAND_INS,
    ActHarnessError,
    Result,
    parse_log,
    read_workflow,
    run_act,
    runner_labels,
    stand_ins,
)
from containers import base_image
from helpers import ROOT, copy_project, git_commit, git_init, questions, run

sys.path.insert(0, str(ROOT / "harness"))
import base_images

WORKFLOW = ".github/workflows/ci.yml"
# The job that builds images: it and every job needing it run in the Docker tier only.
ENGINE_JOB = "docker"
# Jobs whose `if:` is false for a pull request.
SKIPPED_ON_PULL_REQUEST = {"publish"}
UV_VERSION = str(questions()["uv_version"]["default"])


def workflow(*steps: dict[str, Any]) -> dict[str, Any]:
    """A one-job workflow with these steps."""
    return {"jobs": {"build": {"runs-on": "ubuntu-24.04", "steps": list(steps)}}}


def test_every_action_of_every_workflow_has_a_stand_in(default_project: Path) -> None:
    workflows = [*sorted((default_project / ".github/workflows").glob("*.yml")), ROOT / WORKFLOW]
    assert len(workflows) > 1
    for path in workflows:
        parsed = read_workflow(path)
        mapped = stand_ins(parsed)
        uses = {
            step["uses"]
            for job in parsed["jobs"].values()
            for step in job["steps"]
            if "uses" in step
        }
        assert set(mapped) == uses, path
        for stand_in in mapped.values():
            assert stand_in.directory == STAND_INS / stand_in.repository
            assert stand_in.local_repository.startswith(f"{stand_in.repository}@{stand_in.ref}=")


def test_a_new_pin_maps_to_the_same_stand_in() -> None:
    new_sha = "f" * 40
    mapped = stand_ins(workflow({"uses": f"actions/checkout@{new_sha}"}))
    stand_in = mapped[f"actions/checkout@{new_sha}"]
    assert stand_in.local_repository == f"actions/checkout@{new_sha}={STAND_INS}/actions/checkout"


def test_an_action_in_a_subfolder_maps_its_repository() -> None:
    uses = "github/codeql-action/upload-sarif@v3"
    stand_in = stand_ins(workflow({"uses": uses, "with": {"sarif_file": "zizmor.sarif"}}))[uses]
    assert stand_in.local_repository == f"github/codeql-action@v3={STAND_INS}/github/codeql-action"
    assert (stand_in.directory / stand_in.path / "action.yml").is_file()


def test_the_commented_app_token_step_of_template_update_maps() -> None:
    # template-update.yml.jinja carries it commented out, for teams to enable.
    uses = "actions/create-github-app-token@1b10c78c7865c340bc4f6099eb2f838309f1e8c3"
    step = {
        "uses": uses,
        "with": {
            "client-id": "${{ vars.TEMPLATE_UPDATE_APP_CLIENT_ID }}",
            "private-key": "${{ secrets.TEMPLATE_UPDATE_APP_PRIVATE_KEY }}",
            "permission-contents": "write",
            "permission-pull-requests": "write",
            "permission-workflows": "write",
        },
    }
    assert stand_ins(workflow(step))[uses].repository == "actions/create-github-app-token"


def test_an_action_without_a_stand_in_is_named() -> None:
    with pytest.raises(ActHarnessError, match=r"no stand-in for acme/deploy@v1 \(step 1 of job"):
        stand_ins(workflow({"run": "true"}, {"uses": "acme/deploy@v1"}))


def test_an_input_the_stand_in_does_not_declare_is_named() -> None:
    step = {"uses": "astral-sh/setup-uv@v7", "with": {"activate-environment": True}}
    with pytest.raises(ActHarnessError, match="passes activate-environment"):
        stand_ins(workflow(step))


@pytest.mark.parametrize(
    ("parsed", "refused"),
    [
        (workflow({"uses": "docker://alpine:3"}), "needs a registry"),
        ({"jobs": {"call": {"uses": "./.github/workflows/other.yml"}}}, "reusable workflow"),
        (workflow({"uses": "not-an-action"}), "is not owner/repo"),
    ],
)
def test_what_act_cannot_run_offline_is_refused(parsed: dict[str, Any], refused: str) -> None:
    with pytest.raises(ActHarnessError, match=refused):
        stand_ins(parsed)


def test_runner_labels_refuse_an_expression() -> None:
    parsed = {"jobs": {"a": {"runs-on": ["ubuntu-24.04"]}, "b": {"runs-on": "${{ matrix.os }}"}}}
    with pytest.raises(ActHarnessError, match="expression"):
        runner_labels(parsed)


def record(job: str, matrix: Mapping[str, object], message: str, **fields: object) -> str:
    """One line of act's --json log, as act 0.2.89 writes it."""
    line = {"level": "info", "jobID": job, "job": job, "matrix": matrix, "msg": message}
    return json.dumps({**line, **fields})


def step_lines(job: str, matrix: Mapping[str, object], step: str, run: str, code: int) -> list[str]:
    """The main-stage lines of one `run:` step that exited `code`."""
    where = {"stepID": [step], "stage": "Main", "step": run}
    lines = [
        record(job, matrix, f"Wrote command \n\n{run}\n\n to 'workflow/{step}.sh'", **where),
        record(job, matrix, "done", stepResult="success" if code == 0 else "failure", **where),
    ]
    if code:
        lines.append(record(job, matrix, f"exit status {code}", level="error", **where))
    return lines


def test_an_entry_fails_only_for_its_own_error() -> None:
    # act keeps one result per job: 3.12 passed after 3.11 failed, yet logs jobResult failure.
    failing, passing = {"python-version": "3.11"}, {"python-version": "3.12"}
    log = [
        *step_lines("test", failing, "0", "pytest", 1),
        record("test", failing, "Job failed", jobResult="failure"),
        *step_lines("test", passing, "0", "pytest", 0),
        record("test", passing, "Job failed", jobResult="failure"),
        record("docker", {}, "Skipping job", level="debug", jobResult="skipped"),
    ]
    jobs = {job.label: job for job in parse_log("\n".join(log))}
    assert {label: job.result for label, job in jobs.items()} == {
        "test (python-version=3.11)": Result.FAILED,
        "test (python-version=3.12)": Result.PASSED,
        "docker": Result.SKIPPED,
    }
    assert jobs["test (python-version=3.11)"].commands == (("pytest", 1),)


def test_a_step_that_continued_on_error_keeps_its_outcome() -> None:
    # A composite action's step failed inside it; a sibling entry failed the job's result.
    entry = {"n": 2}
    where = {"stepID": ["soft"], "stage": "Main", "step": "acme/setup@v1"}
    inside = {**where, "stepID": ["soft", "0"], "step": "exit 3"}
    log = [
        record("lint", entry, "exit status 3", level="error", **inside),
        record("lint", entry, "Failed but continue next step", **where),
        record("lint", entry, "Failure", stepResult="failure", **where),
        record("lint", entry, "::error::annotated", level="error", command="error", **where),
        record("lint", entry, "Job failed", jobResult="failure"),
    ]
    (job,) = parse_log("\n".join(log))
    (step,) = job.steps
    assert job.result is Result.PASSED
    assert (step.outcome, step.exit_code, step.continued_on_error) == (Result.FAILED, None, True)


def test_a_line_that_is_not_a_job_record_is_an_error() -> None:
    with pytest.raises(ActHarnessError, match="not a job log record"):
        parse_log("Error: something\n")


def needing_the_engine(jobs: Mapping[str, Any]) -> dict[str, str]:
    """The engine's job and every job needing it, directly or not, each with why."""
    excluded = {ENGINE_JOB: "builds images: test_docker_job_under_act, Docker tier"}
    grown = True
    while grown:
        grown = False
        for job_id, job in jobs.items():
            needs = job.get("needs", [])
            needed = [needs] if isinstance(needs, str) else needs
            if job_id not in excluded and set(needed) & set(excluded):
                excluded[job_id] = f"needs {', '.join(sorted(set(needed) & set(excluded)))}"
                grown = True
    return excluded


def python_versions(project: Path) -> list[str]:
    """The `test` job's matrix, from the rendered workflow."""
    test = read_workflow(project / WORKFLOW)["jobs"]["test"]
    return [str(v) for v in test["strategy"]["matrix"]["python-version"]]


# Each stand-in, passing and failing where the real action would; ids name the expectation.
STAND_IN_PROBE = """
name: stand-ins
on: push
jobs:
  probe:
    runs-on: ubuntu-24.04
    steps:
      - id: checkout-copies
        uses: actions/checkout@v5
      - id: uv-pinned
        uses: astral-sh/setup-uv@v7
        with: {version: "%(uv)s", python-version: "3.12", enable-cache: true,
               cache-dependency-glob: uv.lock}
      - id: uv-exports
        run: test "$UV_PYTHON" = 3.12 && test "${{ steps.uv-pinned.outputs.uv-version }}" = %(uv)s
      - id: uv-other-version-fails
        uses: astral-sh/setup-uv@v7
        with: {version: "0.0.1"}
        continue-on-error: true
      - id: hidden-report
        run: mkdir -p reports/.hidden && touch reports/.hidden/x
      - id: upload-only-hidden-fails
        uses: actions/upload-artifact@v4
        with: {path: reports/, if-no-files-found: error}
        continue-on-error: true
      - id: report
        run: touch reports/junit.xml
      - id: upload-found
        uses: actions/upload-artifact@v4
        with: {name: reports, path: "reports/\n!reports/skip\n", if-no-files-found: error}
      - id: upload-missing-warns
        uses: actions/upload-artifact@v4
        with: {path: missing/}
      - id: sarif-missing-fails
        uses: github/codeql-action/upload-sarif@v3
        with: {sarif_file: missing.sarif}
        continue-on-error: true
      - id: login-without-password-fails
        uses: docker/login-action@v3
        with: {registry: ghcr.io, username: someone}
        continue-on-error: true
      - id: login
        uses: docker/login-action@v3
        with: {registry: ghcr.io, username: someone, password: "${{ secrets.GITHUB_TOKEN }}"}
      - id: app-token
        uses: actions/create-github-app-token@v2
        with: {app-id: "1", private-key: key}
      - id: app-token-set
        run: test -n "${{ steps.app-token.outputs.token }}"
      - id: runtime
        uses: crazy-max/ghaction-github-runtime@v3
        env: {ACTIONS_PROBE: exported}
      - id: runtime-exported
        run: test "$ACTIONS_PROBE" = exported
      - id: checkout-other-repository-fails
        uses: actions/checkout@v5
        with: {repository: someone/else}
        continue-on-error: true
"""


@pytest.mark.slow
def test_stand_ins_pass_and_fail_as_the_real_actions_would(tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    (probe / ".github/workflows").mkdir(parents=True)
    (probe / WORKFLOW).write_text(STAND_IN_PROBE % {"uv": UV_VERSION}, encoding="utf-8")
    git_init(probe)
    result = run_act(probe, event="push")
    (job,) = result.jobs
    assert job.result is Result.PASSED, result.summary()
    outcomes = {step.step_id: step.outcome for step in job.steps}
    expected = {
        step["id"]: Result.FAILED if step["id"].endswith("-fails") else Result.PASSED
        for step in read_workflow(probe / WORKFLOW)["jobs"]["probe"]["steps"]
    }
    assert outcomes == expected, result.summary()


@pytest.mark.slow
def test_default_service_passes_under_act(default_project: Path) -> None:
    jobs = read_workflow(default_project / WORKFLOW)["jobs"]
    excluded = needing_the_engine(jobs)
    assert ENGINE_JOB in jobs, f"ci.yml has no {ENGINE_JOB} job: {sorted(jobs)}"
    assert set(excluded) < set(jobs), excluded
    # One act run per job: `--job docker` would run the jobs it needs as well.
    results = {
        job_id: run_act(default_project, job=job_id) for job_id in jobs if job_id not in excluded
    }
    for job_id, result in results.items():
        assert result.exit_code == 0, result.summary()
        assert {job.job_id for job in result.jobs} == {job_id}, result.summary()
        for entry in result.jobs:
            assert entry.result is Result.PASSED, result.output(job_id, entry.matrix)
            assert all(step.outcome is Result.PASSED for step in entry.steps), result.summary()
            assert [code for _, code in entry.commands] == [0], result.summary()
    test = results["test"]
    versions = python_versions(default_project)
    assert [dict(entry.matrix) for entry in test.jobs] == [{"python-version": v} for v in versions]
    for entry in test.jobs:
        version = entry.matrix["python-version"]
        assert entry.commands == ((f"uv run --locked invoke test --python {version}", 0),)


@pytest.mark.slow
def test_a_broken_test_fails_the_test_job_and_skips_what_needs_it(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "service")
    (project / "tests" / "test_broken.py").write_text(
        "def test_broken() -> None:\n    assert sum([1, 2]) == 4\n", encoding="utf-8"
    )
    git_commit(project, "A test that fails")
    result = run_act(project, event="pull_request")
    summary = result.summary()
    assert result.exit_code == 1, summary
    assert result.entry("lint").result is Result.PASSED, summary
    assert result.entry("typecheck").result is Result.PASSED, summary
    for version in python_versions(project):
        entry = result.entry("test", {"python-version": version})
        assert entry.result is Result.FAILED, summary
        (command, code) = entry.commands[0]
        assert command == f"uv run --locked invoke test --python {version}", summary
        assert code not in {0, None}, summary
        assert "test_broken" in result.output("test", entry.matrix)
        # `if: always()`: the reports are uploaded after the failure too.
        assert entry.steps[-1].name.startswith("actions/upload-artifact@"), summary
        assert entry.steps[-1].outcome is not Result.SKIPPED, summary
    # docker starts beside test, but its ci image's build runs the same suite: it fails too
    # (where no engine answers, it fails saying so).
    docker = result.entry(ENGINE_JOB)
    assert docker.result is Result.FAILED, summary
    with contextlib.suppress(base_images.HarnessError):
        base_images.check_engine()
        assert "test_broken" in result.output(ENGINE_JOB, docker.matrix), summary
    # Every job needing test or docker is skipped, whatever its own `if:`.
    for job_id in needing_the_engine(read_workflow(project / WORKFLOW)["jobs"]):
        if job_id != ENGINE_JOB:
            assert [job.result for job in result.entries(job_id)] == [Result.SKIPPED], summary


@pytest.mark.docker
def test_docker_job_under_act(tmp_path: Path) -> None:
    try:
        base_images.check_engine()
    except base_images.HarnessError as error:
        pytest.skip(f"no Docker engine: {error}")
    # Its own name, so its images clash with no other test's.
    project = copy_project(tmp_path / "service", project_name="Act Harness")
    jobs = set(read_workflow(project / WORKFLOW)["jobs"])
    assert jobs > SKIPPED_ON_PULL_REQUEST, sorted(jobs)
    python_image = base_image(project)
    try:
        base_images.ensure_base_images(
            UV_VERSION, [python_image, f"{base_images.UV_IMAGE}:{UV_VERSION}"]
        )
    except base_images.HarnessError as error:
        pytest.skip(f"{python_image} is not on this machine and cannot be made here: {error}")
    try:
        result = run_act(project, event="pull_request")
        assert result.exit_code == 0, result.summary()
        assert {job.job_id for job in result.jobs} == jobs, result.summary()
        for job in result.jobs:
            expected = Result.SKIPPED if job.job_id in SKIPPED_ON_PULL_REQUEST else Result.PASSED
            assert job.result is expected, result.summary()
    finally:
        owner = questions()["github_owner"]["default"]
        for reference in (f"ghcr.io/{owner}/act-harness", "act-harness"):
            listed = run(
                ["docker", "image", "ls", "--quiet", f"--filter=reference={reference}"],
                ROOT,
                check=False,
            ).stdout.split()
            if listed:
                run(["docker", "image", "rm", "--force", *sorted(set(listed))], ROOT, check=False)
