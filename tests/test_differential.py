"""`invoke ci` against an independent runner: nektos/act runs the same workflows, offline.

For a service whose code is broken so that only its tests fail, and for each workflow edit a
team might make (one table, `EDITS`), either parity refuses the edit (and `invoke ci` reports
the job failed with parity's line, never passed), or act and `invoke ci` agree on the entries
run, each entry's result, the command each ran with its exit code, and the run's exit code.
Agreeing edits to different jobs share one act run, so the table grows without act runs.

Keys act's self-hosted mode does not emulate (act_runner.ACT_SELF_HOSTED_IGNORES: job
timeout-minutes and continue-on-error, fail-fast, services, container, runs-on OSes,
custom shells) are not compared here: agreeing with a runner that ignores a key proves
nothing. Parity refuses the ones `invoke ci` cannot mirror; the mirrored ones are tested
against GitHub's documented behaviour in test_workflow_model.py and test_ci_runner.py.
The image jobs need the tests, so they are skipped in both runners, as the broken tests fail.
"""

import copy
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from act_runner import ActRun, Result, run_act
from helpers import break_the_tests, copy_project, git_commit, run

pytestmark = pytest.mark.slow

Workflow = dict[Any, Any]
Edit = Callable[[Workflow], None]
SHA = "ea165f8d65b6e75b540449e92b4886f43607fa02"  # the pin of upload-artifact the template uses
UPLOAD = f"actions/upload-artifact@{SHA}"
PRE_COMMIT = "pre-commit/action@2c7b3805fd2a0fd8c1884dcaebf91fc102a13ecd"  # the README's
# invoke ci's result -> act's: a failure allowed by continue-on-error concludes as success.
AS_ACT = {
    "passed": Result.PASSED,
    "failed-allowed": Result.PASSED,
    "failed": Result.FAILED,
    "skipped": Result.SKIPPED,
}


def steps(workflow: Workflow, job: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = workflow["jobs"][job]["steps"]
    return found


def task_step(workflow: Workflow, job: str) -> dict[str, Any]:
    return next(step for step in steps(workflow, job) if "run" in step)


def lint_runs_only_on_push(w: Workflow) -> None:
    w["jobs"]["lint"]["if"] = "github.event_name == 'push'"


def typecheck_always_after_test(w: Workflow) -> None:
    w["jobs"]["typecheck"]["needs"] = ["test"]
    w["jobs"]["typecheck"]["if"] = "always()"


def task_step_continues_on_error(w: Workflow) -> None:
    task_step(w, "test")["continue-on-error"] = True
    # The tests now conclude as a success; keep the image jobs out of this comparison.
    w["jobs"]["docker"]["if"] = "github.event_name == 'push'"


def workflow_env_and_run_defaults(w: Workflow) -> None:
    w["env"] = {"CI": "true"}
    w["defaults"] = {"run": {"shell": "bash", "working-directory": "src"}}


def step_working_directory(w: Workflow) -> None:
    task_step(w, "typecheck")["working-directory"] = "tests"
    task_step(w, "typecheck")["shell"] = "bash"


def step_timeout(w: Workflow) -> None:
    task_step(w, "lint")["timeout-minutes"] = 15


def matrix_axis_and_exclude(w: Workflow) -> None:
    matrix = w["jobs"]["test"]["strategy"]["matrix"]
    matrix["flavor"] = ["plain", "extra", "other"]
    matrix["exclude"] = [{"flavor": "other"}]


def matrix_include_extends(w: Workflow) -> None:
    w["jobs"]["test"]["strategy"]["matrix"]["include"] = [{"label": "fast"}]
    w["jobs"]["test"]["strategy"]["max-parallel"] = 1


def matrix_continue_on_error_expression(w: Workflow) -> None:
    matrix = w["jobs"]["test"]["strategy"]["matrix"]
    matrix["experimental"] = [True, False]
    task_step(w, "test")["continue-on-error"] = "${{ matrix.experimental }}"


def missing_artifact_fails(w: Workflow) -> None:
    steps(w, "lint").append(
        {
            "uses": UPLOAD,
            "if": "always()",
            "with": {"name": "nothing", "path": "no-such-dir/", "if-no-files-found": "error"},
        }
    )


def missing_artifact_warns(w: Workflow) -> None:
    steps(w, "typecheck").append(
        {"uses": UPLOAD, "with": {"name": "nothing", "path": "no-such-dir/"}}
    )


def artifact_only_on_failure(w: Workflow) -> None:
    steps(w, "lint").append(
        {
            "uses": UPLOAD,
            "if": "failure()",
            "with": {"name": "x", "path": "no-such-dir/", "if-no-files-found": "error"},
        }
    )


def labels_and_metadata(w: Workflow) -> None:
    w["name"] = "Renamed CI"
    w["run-name"] = "A run"
    w["jobs"]["lint"]["name"] = "Lint everything"
    task_step(w, "lint")["name"] = "Run the lint task"
    task_step(w, "lint")["id"] = "lint-task"
    w["jobs"]["test"]["concurrency"] = {"group": "tests", "cancel-in-progress": False}
    w["jobs"]["typecheck"]["permissions"] = {"contents": "read", "checks": "write"}


def other_linux_runners(w: Workflow) -> None:
    w["jobs"]["lint"]["runs-on"] = "ubuntu-22.04"
    w["jobs"]["typecheck"]["runs-on"] = ["ubuntu-latest"]


def needs_chain(w: Workflow) -> None:
    w["jobs"]["test"]["needs"] = ["lint"]
    w["jobs"]["typecheck"]["needs"] = "lint"


def condition_on_refs(w: Workflow) -> None:
    w["jobs"]["lint"]["if"] = "github.event_name == 'pull_request' && contains(github.ref, 'pull')"
    w["jobs"]["typecheck"]["if"] = "startsWith(github.ref, 'refs/tags/')"


def job_level_shell(w: Workflow) -> None:
    w["jobs"]["lint"]["defaults"] = {"run": {"shell": "bash"}}


def job_level_directory(w: Workflow) -> None:
    w["jobs"]["test"]["defaults"] = {"run": {"working-directory": "."}}


def job_env_github_sets(w: Workflow) -> None:
    w["jobs"]["typecheck"]["env"] = {"CI": "true"}


def wrapped_condition(w: Workflow) -> None:
    w["jobs"]["lint"]["if"] = "${{ github.event_name == 'pull_request' }}"


def not_cancelled(w: Workflow) -> None:
    w["jobs"]["typecheck"]["if"] = "!cancelled()"


def explicit_success(w: Workflow) -> None:
    w["jobs"]["docker"]["if"] = "success()"


def workflow_permissions_and_concurrency(w: Workflow) -> None:
    w["permissions"] = {"contents": "read"}
    w["concurrency"] = {"group": "ci-${{ github.ref }}", "cancel-in-progress": True}


def setup_step_names(w: Workflow) -> None:
    for index, step in enumerate(steps(w, "lint")[:-1]):
        step["name"] = f"Set up {index}"


def typecheck_needs_lint_if_success(w: Workflow) -> None:
    w["jobs"]["typecheck"]["needs"] = ["lint"]
    w["jobs"]["typecheck"]["if"] = "success()"


def refuse(job: str, key: str, value: Any) -> Edit:
    """An edit setting a job key parity refuses."""
    return lambda w: w["jobs"][job].__setitem__(key, value)


def refuse_step(job: str, key: str, value: Any) -> Edit:
    """An edit setting a key of the job's task step that parity refuses."""
    return lambda w: task_step(w, job).__setitem__(key, value)


def foreign_setup_action(w: Workflow) -> None:
    steps(w, "lint").insert(2, {"uses": f"actions/setup-python@{SHA}"})


def pre_commit_job(w: Workflow) -> None:
    """The README's hooks job (its pin), one hook by id: GitHub applies `defaults.run` to run
    steps only, so where this shares a batch with a run default, the hooks still run at the
    root."""
    lint = w["jobs"]["lint"]
    setup = [copy.deepcopy(step) for step in steps(w, "lint") if "uses" in step][:2]
    w["jobs"]["hooks"] = {
        "needs": ["lint"],
        "runs-on": lint["runs-on"],
        "permissions": {"contents": "read"},
        "steps": [*setup, {"uses": PRE_COMMIT, "with": {"extra_args": "ruff-format --all-files"}}],
    }
    w["jobs"]["publish"]["needs"].append("hooks")


def unpinned_checkout(w: Workflow) -> None:
    steps(w, "typecheck")[0]["uses"] = "actions/checkout@v5"


def pull_request_filters_met(w: Workflow) -> None:
    """on.pull_request filters the local pull request (into main, new commits) satisfies."""
    w["on"]["pull_request"] = {
        "types": ["opened", "synchronize", "reopened"],
        "branches": ["main", "releases/**"],
    }


def push_paths_docs_only(w: Workflow) -> None:
    w["on"]["push"]["paths"] = ["docs/**"]


@dataclass(frozen=True)
class Agrees:
    """act and `invoke ci` must agree on a run with this edit, made with the others of `run`.

    Edits to different jobs share one act run, which keeps the slow tier's time bounded.
    """

    run: str


@dataclass(frozen=True)
class Refused:
    """Parity refuses the edit; `invoke ci` reports `job` failed with parity's line."""

    job: str


# The one table: every workflow edit, and what must hold for it.
EDITS: dict[str, tuple[Edit, Agrees | Refused]] = {
    "lint-only-on-push": (lint_runs_only_on_push, Agrees("conditions")),
    "pull-request-filters-met": (pull_request_filters_met, Agrees("conditions")),
    "typecheck-always-after-test": (typecheck_always_after_test, Agrees("conditions")),
    "docker-if-success": (explicit_success, Agrees("conditions")),
    "permissions-and-concurrency": (workflow_permissions_and_concurrency, Agrees("conditions")),
    "step-continue-on-error": (task_step_continues_on_error, Agrees("continue-on-error")),
    "step-timeout": (step_timeout, Agrees("continue-on-error")),
    "labels-and-metadata": (labels_and_metadata, Agrees("continue-on-error")),
    "setup-step-names": (setup_step_names, Agrees("continue-on-error")),
    "workflow-env-and-defaults": (workflow_env_and_run_defaults, Agrees("defaults")),
    "step-working-directory": (step_working_directory, Agrees("defaults")),
    "job-shell": (job_level_shell, Agrees("defaults")),
    "job-working-directory": (job_level_directory, Agrees("defaults")),
    "pre-commit-action-job": (pre_commit_job, Agrees("defaults")),
    "matrix-axis-and-exclude": (matrix_axis_and_exclude, Agrees("matrix-exclude")),
    "other-linux-runners": (other_linux_runners, Agrees("matrix-exclude")),
    "job-env-github-sets": (job_env_github_sets, Agrees("matrix-exclude")),
    "matrix-include": (matrix_include_extends, Agrees("matrix-include")),
    "needs-chain": (needs_chain, Agrees("matrix-include")),
    "wrapped-condition": (wrapped_condition, Agrees("matrix-include")),
    "matrix-continue-on-error": (matrix_continue_on_error_expression, Agrees("matrix-expr")),
    "missing-artifact-fails": (missing_artifact_fails, Agrees("matrix-expr")),
    "not-cancelled": (not_cancelled, Agrees("matrix-expr")),
    "missing-artifact-warns": (missing_artifact_warns, Agrees("artifacts")),
    "artifact-only-on-failure": (artifact_only_on_failure, Agrees("artifacts")),
    "conditions-on-refs": (condition_on_refs, Agrees("artifacts")),
    "typecheck-needs-lint": (typecheck_needs_lint_if_success, Agrees("defaults")),
    "or-true": (refuse_step("lint", "run", "uv run --locked invoke lint || true"), Refused("lint")),
    "services": (refuse("test", "services", {"db": {"image": "x"}}), Refused("test")),
    "container": (refuse("typecheck", "container", "debian:12"), Refused("typecheck")),
    "pwsh": (refuse_step("lint", "shell", "pwsh"), Refused("lint")),
    # Found by this test: act skipped the step and passed the job, which ran nothing.
    "task-step-if": (
        refuse_step("typecheck", "if", "github.event_name == 'push'"),
        Refused("typecheck"),
    ),
    "windows-runner": (refuse("lint", "runs-on", "windows-2022"), Refused("lint")),
    "snapshot": (refuse("typecheck", "snapshot", "an-image"), Refused("typecheck")),
    "unknown-job-key": (refuse("lint", "fast", "yes"), Refused("lint")),
    "background-step": (refuse_step("lint", "background", "true"), Refused("lint")),
    "absolute-directory": (
        refuse_step("typecheck", "working-directory", "/srv"),
        Refused("typecheck"),
    ),
    "hash-files-condition": (
        refuse_step("lint", "if", "hashFiles('uv.lock') != ''"),
        Refused("lint"),
    ),
    # GitHub reads a job outside `needs:` as null, so this `if:` would be quietly false there.
    "if-on-a-job-not-needed": (
        refuse("typecheck", "if", "needs.lint.result == 'success'"),
        Refused("typecheck"),
    ),
    "foreign-setup-action": (foreign_setup_action, Refused("lint")),
    "unpinned-action": (unpinned_checkout, Refused("typecheck")),
}
# The act runs: each batch of agreeing edits, plus the clean workflow for both events.
VARIANTS: dict[str, tuple[Edit, ...]] = {"clean": (), "clean-push": ()}
for _edit, _expect in EDITS.values():
    if isinstance(_expect, Agrees):
        VARIANTS[_expect.run] = (*VARIANTS.get(_expect.run, ()), _edit)
EVENTS = dict.fromkeys(VARIANTS, "pull_request") | {"clean-push": "push"}
REFUSED = {
    name: (edit, expect.job)
    for name, (edit, expect) in EDITS.items()
    if isinstance(expect, Refused)
}


def test_the_table_holds_thirty_edits_and_few_act_runs() -> None:
    assert len(EDITS) >= 30
    assert len(VARIANTS) <= 10


@pytest.fixture(scope="module")
def broken_service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default service, committed, whose own tests fail (so the image jobs are skipped).

    docker waits for test here, as a team may make it (the template's starts beside test):
    both runners then skip the image jobs, and the needs a team adds are compared too.
    """
    project = copy_project(tmp_path_factory.mktemp("differential") / "service")
    ci = project / ".github/workflows/ci.yml"
    text = ci.read_text(encoding="utf-8")
    docker_needs = "  docker:\n    needs: [lint, typecheck]\n"
    assert docker_needs in text
    ci.write_text(
        text.replace(docker_needs, "  docker:\n    needs: [lint, typecheck, test]\n"),
        encoding="utf-8",
    )
    break_the_tests(project)
    git_commit(project, "Tests that fail")
    run(["uv", "sync", "--locked"], project)
    return project


def variant(source: Path, destination: Path, edits: tuple[Edit, ...]) -> Path:
    """A committed copy of the service with the edits made to its ci.yml, comments kept."""
    shutil.copytree(source, destination, symlinks=True)
    path = destination / ".github/workflows/ci.yml"
    yaml = YAML()  # round-trip: comments (zizmor's ignores among them) survive the edit
    yaml.width = 4096
    workflow = yaml.load(path.read_text(encoding="utf-8"))
    for edit in edits:
        edit(workflow)
    with path.open("w", encoding="utf-8") as stream:
        yaml.dump(workflow, stream)
    git_commit(destination, "A workflow edit")
    return destination


def invoke_ci(project: Path, event: str, *args: str) -> dict[str, Any]:
    invoke = str(project / ".venv/bin/invoke")
    argv = [invoke, "ci", "--json", "--event", event, *args]
    result = run(argv, project, check=False, timeout=1800)
    document: dict[str, Any] = json.loads(result.stdout)
    assert document["exit_code"] == result.returncode
    return document


def compare(ours: dict[str, Any], act: ActRun) -> list[str]:
    """Every disagreement between the two runs, one line each."""
    problems = []
    act_entries = {
        (
            job.job_id,
            json.dumps(
                {
                    k: str(v) if not isinstance(v, bool) else str(v).lower()
                    for k, v in job.matrix.items()
                },
                sort_keys=True,
            ),
        ): job
        for job in act.jobs
    }
    ours_keys = set()
    for entry in ours["entries"]:
        key = (entry["job"], json.dumps(entry["matrix"], sort_keys=True))
        ours_keys.add(key)
        theirs = act_entries.get(key)
        if theirs is None:
            problems.append(f"{key}: act ran no such entry")
            continue
        if AS_ACT[entry["result"]] is not theirs.result:
            problems.append(f"{key}: invoke ci {entry['result']}, act {theirs.result.value}")
        if entry["result"] in {"passed", "failed", "failed-allowed"}:
            commands = [(c.strip(), code) for c, code in theirs.commands]
            if not commands or commands[0][0] != entry["command"]:
                problems.append(f"{key}: invoke ci ran {entry['command']!r}, act {commands}")
            elif commands[0][1] is not None and commands[0][1] != entry["exit_code"]:
                problems.append(
                    f"{key}: exit code {entry['exit_code']} here, {commands[0][1]} under act"
                )
    problems += [f"{key}: only act ran it" for key in set(act_entries) - ours_keys]
    if ours["exit_code"] != act.exit_code:
        problems.append(f"exit code: invoke ci {ours['exit_code']}, act {act.exit_code}")
    return problems


@pytest.mark.parametrize("name", list(VARIANTS))
def test_act_and_invoke_ci_agree(broken_service: Path, tmp_path: Path, name: str) -> None:
    project = variant(broken_service, tmp_path / "service", VARIANTS[name])
    invoke = str(project / ".venv/bin/invoke")
    parity = run([invoke, "parity"], project, check=False)
    assert parity.returncode == 0, f"parity refused the {name} edits:\n{parity.stderr}"
    event = EVENTS[name]
    ours = invoke_ci(project, event)
    act = run_act(project, event=event, timeout=900)
    problems = compare(ours, act)
    assert not problems, "\n".join([*problems, json.dumps(ours, indent=1), act.summary()])
    results = {entry["result"] for entry in ours["entries"]}
    assert "failed" in results or "failed-allowed" in results, "the broken tests must show"


@pytest.mark.parametrize("name", list(REFUSED))
def test_a_refused_edit_is_a_failed_job_never_a_pass(
    broken_service: Path, tmp_path: Path, name: str
) -> None:
    edit, job = REFUSED[name]
    project = variant(broken_service, tmp_path / "service", (edit,))
    invoke = str(project / ".venv/bin/invoke")
    parity = run([invoke, "parity"], project, check=False)
    assert parity.returncode == 1
    # The refused job never runs, so selecting it alone costs nothing and decides the same.
    ours = invoke_ci(project, "pull_request", "--only", job)
    entry = next(e for e in ours["entries"] if e["job"] == job)
    assert entry["result"] == "failed", entry
    assert entry["reason"] in parity.stderr, (entry, parity.stderr)
    assert ours["exit_code"] == 1


def test_where_act_is_wrong_branch_and_path_filters_follow_github(
    broken_service: Path, tmp_path: Path
) -> None:
    """act runs every job for any event named under `on:`: it evaluates no branch or path
    filter (act_runner.ACT_SELF_HOSTED_IGNORES; nektos/act pkg/model/planner.go PlanEvent
    matches event names only), so here `invoke ci` is held to GitHub's documentation instead
    (workflow-syntax-for-github-actions.md): `on.pull_request.branches` filters "the base
    (target) branch", and a `paths` filter runs the workflow only "if at least one path
    matches". A run GitHub would not make is reported not-triggered, never run or passed.
    """
    edits = (pull_request_filters_met, push_paths_docs_only)
    project = variant(broken_service, tmp_path / "service", edits)
    run(["git", "branch", "release"], project)
    invoke = str(project / ".venv/bin/invoke")
    expected = {
        ("pull_request", "release"): (
            "on.pull_request.branches: the base branch `release` matches none of "
            "['main', 'releases/**']"
        ),
        # The last commit (the workflow edit) changed only .github/workflows/ci.yml.
        ("push", "main"): "on.push.paths: no changed file matches docs/**",
    }
    for (event, base), rule in expected.items():
        argv = [invoke, "ci", "--json", "--event", event, "--base", base]
        result = run(argv, project, check=False, timeout=600)
        document = json.loads(result.stdout)
        assert result.returncode == 0, result.stderr
        assert document["workflows"] == [
            {"workflow": ".github/workflows/ci.yml", "verdict": "not-triggered", "rule": rule}
        ]
        assert {entry["result"] for entry in document["entries"]} == {"not-triggered"}
