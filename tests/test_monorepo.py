"""A service in a folder of a larger repository (`service_dir`), beside a frontend.

The service renders under `backend/`, the workflows and the answers file at the repository
root; its jobs run in `backend/` (`defaults.run.working-directory`), ci.yml only for changes
there (`paths:`). Held here: the layout; that the service's own checks pass from the folder
and from the root alike; that a change to each side runs only that side's jobs, under
`invoke ci` and under act; and that `copier update` (`invoke template-update`) updates it.
"""

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from devtasks.jobs import update
from invoke.exceptions import Exit

from act_runner import Result, run_act
from helpers import copy_project, git_commit, git_init, run
from template_repo import (
    clone_with_worktree,
    next_release,
    task_lines,
    template_update,
    version_numbers,
)

SERVICE = "backend"
FRONTEND_PAGE = "<h1>Shop</h1>\n"
# What a later release changes: a formatted line at the end of a file the service runs.
LATER = "\n\n# A later release.\n"
SERVICE_PATHS = [
    f"{SERVICE}/**",
    ".github/workflows/ci.yml",
    ".github/workflows/template-update.yml",
    ".github/dependabot.yml",
]

# A team's own workflow for both sides: a job says which side changed (`invoke changes`'
# code, from the team's tasks), and each side's job runs only when its side did.
SIDES_WORKFLOW = ".github/workflows/sides.yml"
SIDES_TASKS = '''"""The team's own tasks: which side a change touches, and each side's check."""

from pathlib import Path

from invoke.context import Context

from devtasks.jobs import ci_task
from devtasks.jobs.changes import change_outputs
from devtasks.jobs.outputs import set_outputs

HERE = Path(__file__).resolve().parent


@ci_task(workflow="sides")
def sides(_: Context) -> None:
    """Which side of the repository the change touches: one output per side."""
    set_outputs(change_outputs(HERE))


@ci_task(workflow="sides")
def frontend(c: Context) -> None:
    """The frontend's check, from the repository root's frontend/ folder."""
    c.run("test -s ../frontend/index.html")


@ci_task(workflow="sides")
def backend(c: Context) -> None:
    """The backend's quick check."""
    c.run("ruff check --quiet .")
'''
SIDES_GROUPS = f"""
[tool.shipshape.changes]
backend = ["{SERVICE}/**"]
frontend = ["frontend/**"]
"""
# The frontend team's workflow: plain commands, no invoke task. Not the service's.
FRONTEND_WORKFLOW = """name: Frontend
on:
  pull_request:
    paths: ["frontend/**"]
permissions: {}
jobs:
  build:
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    steps:
      - uses: actions/checkout@v5 # unpinned: zizmor's finding is the frontend team's
      - run: test -s frontend/index.html
"""


SIDES = """name: Sides

on:
  pull_request:

permissions: {}

defaults:
  run:
    working-directory: backend

jobs:
  sides:
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    permissions:
      contents: read
    outputs:
      backend: ${{ steps.task.outputs.backend }}
      frontend: ${{ steps.task.outputs.frontend }}
    steps:
      - uses: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0
        with:
          persist-credentials: false
          fetch-depth: 0
      - uses: astral-sh/setup-uv@85856786d1ce8acfbcc2f13a5f3fbd6b938f9f41 # v7.1.2
        with:
          version: "UV_VERSION"
          enable-cache: false
      - id: task
        run: uv run --locked invoke sides

"""
# One job per side, run only when the `sides` job says its side changed.
SIDE_JOB = """
  {side}:
    needs: sides
    if: needs.sides.outputs.{side} == 'true'
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0
        with:
          persist-credentials: false
      - uses: astral-sh/setup-uv@85856786d1ce8acfbcc2f13a5f3fbd6b938f9f41 # v7.1.2
        with:
          version: "UV_VERSION"
          enable-cache: false
      - run: uv run --locked invoke {side}
"""


def monorepo(root: Path, template: Path | None = None, vcs_ref: str = "HEAD") -> Path:
    """A repository with a frontend folder, committed, then the service copied into it."""
    (root / "frontend").mkdir(parents=True)
    (root / "frontend" / "index.html").write_text(FRONTEND_PAGE, encoding="utf-8")
    git_init(root)
    where = {"template": template} if template is not None else {}
    copy_project(root, git=False, vcs_ref=vcs_ref, service_dir=SERVICE, **where)
    git_commit(root, "The backend, from shipshape")
    return root


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return monorepo(tmp_path_factory.mktemp("monorepo") / "shop")


def workflow(root: Path, name: str = "ci.yml") -> dict[Any, Any]:
    parsed: dict[Any, Any] = yaml.safe_load(
        (root / ".github" / "workflows" / name).read_text(encoding="utf-8")
    )
    return parsed


def test_the_service_renders_into_its_folder_and_the_workflows_at_the_root(
    rendered: Path,
) -> None:
    service = rendered / SERVICE
    for name in ("pyproject.toml", "uv.lock", "tasks.py", "Dockerfile", "src/my_service"):
        assert (service / name).exists(), name
    assert sorted(p.name for p in (rendered / ".github" / "workflows").iterdir()) == [
        "ci.yml",
        "template-update.yml",
    ]
    assert not (service / ".github").exists()
    assert not (service / ".copier-answers.yml").exists()
    answers = yaml.safe_load((rendered / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["service_dir"] == SERVICE
    assert (rendered / "frontend" / "index.html").read_text(encoding="utf-8") == FRONTEND_PAGE
    assert not (rendered / "src").exists()
    assert not (rendered / "pyproject.toml").exists()
    table = tomllib.loads((service / "pyproject.toml").read_text(encoding="utf-8"))
    assert table["tool"]["shipshape"]["workspace"] == ".."
    assert table["tool"]["shipshape"]["other-workflows"] == []
    dependabot = yaml.safe_load((rendered / ".github/dependabot.yml").read_text("utf-8"))
    directories = {u["package-ecosystem"]: u["directory"] for u in dependabot["updates"]}
    assert directories == {
        "uv": f"/{SERVICE}",
        "github-actions": "/",
        "docker": f"/{SERVICE}",
        "docker-compose": f"/{SERVICE}",
    }


def test_the_workflows_run_in_the_folder_with_paths_from_the_root(rendered: Path) -> None:
    ci = workflow(rendered)
    on = ci[True]  # YAML 1.1 reads the key `on` as true
    assert on["pull_request"]["paths"] == SERVICE_PATHS
    assert on["push"]["paths"] == SERVICE_PATHS
    assert ci["defaults"] == {"run": {"working-directory": SERVICE}}
    assert workflow(rendered, "template-update.yml")["defaults"] == ci["defaults"]
    for job_id, job in ci["jobs"].items():
        for step in job["steps"]:
            given = step.get("with", {})
            for key in ("path", "sarif_file", "cache-dependency-glob"):
                if key in given:
                    assert given[key].startswith(f"{SERVICE}/"), (job_id, step)


def test_a_service_of_its_own_keeps_its_layout(default_project: Path) -> None:
    ci = workflow(default_project)
    assert "defaults" not in ci
    assert "paths" not in (ci[True]["pull_request"] or {})
    assert "workspace" not in (default_project / "pyproject.toml").read_text(encoding="utf-8")
    assert (default_project / ".github" / "workflows" / "ci.yml").is_file()
    assert (default_project / ".copier-answers.yml").is_file()


# The README's command for running the service's tasks from the repository root.
FROM_THE_ROOT = ["uv", "run", "--project", SERVICE, "--locked", "invoke", "-r", SERVICE]


def dry_run(project: Path, *argv: str, from_root: bool = False) -> dict[str, Any]:
    """`invoke ci --dry-run --json`, run in the service's folder or from the root."""
    prefix = FROM_THE_ROOT if from_root else ["uv", "run", "--locked", "invoke"]
    cwd = project if from_root else project / SERVICE
    result = run([*prefix, "ci", "--dry-run", "--json", *argv], cwd, timeout=600)
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@pytest.mark.slow
def test_checks_pass_in_the_folder_and_from_the_root_alike(tmp_path: Path) -> None:
    project = monorepo(tmp_path / "shop")
    service = project / SERVICE
    run(["uv", "sync", "--quiet", "--locked"], service, timeout=900)
    run(["uv", "run", "--locked", "invoke", "parity"], service)
    run([*FROM_THE_ROOT, "parity"], project)
    # The last commit added the backend: a push of it runs ci.yml, as on GitHub.
    here = dry_run(project, "--event", "push")
    there = dry_run(project, "--event", "push", from_root=True)
    assert here == there
    assert here["workflows"][0]["verdict"] == "triggered"
    for entry in here["entries"]:
        assert entry["cwd"] == str(service), entry
    argv = ["ci", "--json", "--event", "push", "--only", "lint", "--only", "typecheck"]
    ran = run(["uv", "run", "--locked", "invoke", *argv, "--only", "test"], service, check=False)
    assert ran.returncode == 0, ran.stderr[-3000:]
    results = {entry["job"]: entry["result"] for entry in json.loads(ran.stdout)["entries"]}
    assert {results[job] for job in ("lint", "typecheck", "test")} == {"passed"}, results
    # The test job's reports are where its upload step (a path from the root) looks.
    assert list((service / "reports").glob("junit-*.xml")), sorted(service.iterdir())


def side_runs(project: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Each job's result in sides.yml: from `invoke ci`, and from act."""
    argv = ["uv", "run", "--locked", "invoke", "ci", "-w", "sides", "--json"]
    ours = json.loads(run(argv, project / SERVICE, check=False, timeout=600).stdout)
    theirs = run_act(project, workflow=SIDES_WORKFLOW)
    assert theirs.exit_code == 0, theirs.summary()
    act = {
        job.job_id: "passed" if job.result is Result.PASSED else job.result.name.lower()
        for job in theirs.jobs
    }
    return {entry["job"]: entry["result"] for entry in ours["entries"]}, act


@pytest.mark.slow
def test_a_change_to_each_side_runs_only_that_sides_jobs(tmp_path: Path) -> None:
    project = monorepo(tmp_path / "shop")
    service = project / SERVICE
    (service / "team_tasks.py").write_text(SIDES_TASKS, encoding="utf-8")
    with (service / "pyproject.toml").open("a", encoding="utf-8") as pyproject:
        pyproject.write(SIDES_GROUPS)
    ci = (project / ".github/workflows/ci.yml").read_text(encoding="utf-8")
    uv_version = yaml.safe_load(ci)["jobs"]["lint"]["steps"][1]["with"]["version"]
    jobs = "".join(SIDE_JOB.format(side=side) for side in ("frontend", "backend"))
    sides = (SIDES + jobs).replace("UV_VERSION", uv_version)
    (project / SIDES_WORKFLOW).write_text(sides, encoding="utf-8")
    (project / ".github/workflows/frontend.yml").write_text(FRONTEND_WORKFLOW, "utf-8")
    run(["uv", "sync", "--quiet", "--locked"], service, timeout=900)
    # The frontend's workflow is refused until the service leaves it to its owners.
    refused = run(["uv", "run", "--locked", "invoke", "parity"], service, check=False)
    assert refused.returncode == 1
    assert ".github/workflows/frontend.yml" in refused.stderr, refused.stderr
    assert "[tool.shipshape] other-workflows" in refused.stderr, refused.stderr
    pyproject_text = (service / "pyproject.toml").read_text(encoding="utf-8")
    (service / "pyproject.toml").write_text(
        pyproject_text.replace("other-workflows = []", 'other-workflows = ["frontend.yml"]'),
        encoding="utf-8",
    )
    # Lint, zizmor included, audits the service's GitHub files only.
    run(["uv", "run", "--locked", "invoke", "lint"], service)
    git_commit(project, "Both sides' jobs")

    expected = {
        "frontend": {"sides": "passed", "frontend": "passed", "backend": "skipped"},
        SERVICE: {"sides": "passed", "frontend": "skipped", "backend": "passed"},
    }
    for side, results in expected.items():
        run(["git", "checkout", "--quiet", "-b", f"change-{side}", "main"], project)
        changed = project / side / ("index.html" if side == "frontend" else "README.md")
        with changed.open("a", encoding="utf-8") as file:
            file.write("\nA change on this side.\n")
        git_commit(project, f"A change to {side}")
        ours, act = side_runs(project)
        assert ours == results, (side, ours)
        assert act == results, (side, act)
        verdict = dry_run(project)["workflows"][0]
        assert verdict["workflow"] == ".github/workflows/ci.yml"
        assert verdict["verdict"] == ("triggered" if side == SERVICE else "not-triggered")
        every = dry_run(project, "--all-workflows")["workflows"]
        assert [w["workflow"] for w in every] == [
            ".github/workflows/ci.yml",
            SIDES_WORKFLOW,
            ".github/workflows/template-update.yml",
        ]


@pytest.mark.slow
def test_template_update_updates_the_service_in_its_folder(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    repo = clone_with_worktree(tmp_path_factory.mktemp("monorepo-update") / "shipshape")
    release = next_release()
    run(["git", "tag", release], repo)
    project = monorepo(
        tmp_path_factory.mktemp("monorepo-service") / "shop", template=repo, vcs_ref=release
    )
    copier_answers = project / ".copier-answers.yml"
    noxfile = repo / "template" / "noxfile.py"
    noxfile.write_text(noxfile.read_text(encoding="utf-8") + LATER, "utf-8")
    git_commit(repo, "A later release")
    major, minor, patch = version_numbers(release)
    later = f"v{major}.{minor}.{patch + 1}"
    run(["git", "tag", later], repo)
    service = project / SERVICE
    run(["uv", "sync", "--quiet", "--locked"], service, timeout=900)
    result = template_update(service)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert (service / "noxfile.py").read_text(encoding="utf-8").endswith(LATER)
    answers = yaml.safe_load(copier_answers.read_text(encoding="utf-8"))
    assert answers["_commit"] == later
    assert not (service / ".copier-answers.yml").exists()
    assert not (service / ".github").exists()
    assert task_lines(result.stdout)[-1].endswith("`invoke ci` passed: review, commit")
    # The update's files changed ci.yml's side: `invoke ci` ran its jobs, not "not triggered".
    assert "not-triggered" not in result.stdout, result.stdout[-3000:]


def test_conflicts_in_a_monorepo_are_named_from_the_root_and_locked_in_the_folder(
    capsys: pytest.CaptureFixture[str],
) -> None:
    conflicts = [update.Conflict(f"{SERVICE}/pyproject.toml", 12)]
    with pytest.raises(Exit) as raised:
        update.conclude(
            "v1.0.0",
            "v1.1.0",
            conflicts,
            update.CiResult.NOT_RUN,
            pull_request=False,
            folder=SERVICE,
        )
    assert raised.value.message == (
        f"template-update: updated v1.0.0 -> v1.1.0 with conflicts in {SERVICE}/pyproject.toml "
        "(paths from the repository root): resolve them here, then run `uv lock` and "
        f"`uv run --locked invoke ci` in {SERVICE}/, and commit"
    )
    assert f"{SERVICE}/pyproject.toml" in capsys.readouterr().err
