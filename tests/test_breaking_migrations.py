"""The migrations of the release after v0.1.0, on a tiny template and on their own.

The tiny template's v1 has what v0.1.0 had (tasks declared with `@task` and `@ci_job` or
`@reads_env`, the task list on one line, a ci.yml that runs for pushes and pull requests,
release.yml, devtasks/workflow.py); v2 has what the next release has (`@ci_task`, one task
a line, a `publish` job at the end of a ci.yml that runs for tags too, neither removed
file). Its `_migrations` are the very v0.1.1 entries of shipshape's copier.yml.
"""

import ast
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import ROOT, copier_config, git_commit, run
from tiny_template import render_v1, update

sys.path.insert(0, str(ROOT / "migrations"))
import ci_jobs
import ci_tasks
import move_team_tasks
import removed

MIGRATION_VERSION = "v0.1.1"
SCRIPTS = ("ci_jobs.py", "ci_tasks.py", "move_team_tasks.py", "removed.py", "service.py")
LINE_LENGTH = 100

# --- the tiny template ---------------------------------------------------------------------

V1_TASKS = '''"""Tasks."""

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from devtasks.jobs import ci_job, reads_env, run


@task
@ci_job()
def lint(c: Context) -> None:
    """Lint."""
    run(c, "ruff", "check", ".")


@task
@reads_env("GH_TOKEN")
def template_update(c: Context) -> None:
    """Update."""
    run(c, "copier", "update")


ns = Collection(
    lint, template_update
)
'''
V2_TASKS = '''"""Tasks."""

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from devtasks.jobs import ci_task, run


@ci_task()
def lint(c: Context) -> None:
    """Lint."""
    run(c, "ruff", "check", ".")


@ci_task()
def publish(c: Context) -> None:
    """Publish."""
    run(c, "docker", "push")


@task
def format_code(c: Context) -> None:
    """Format."""
    run(c, "ruff", "format", ".")


@ci_task(workflow="template-update", env=("GH_TOKEN",))
def template_update(c: Context) -> None:
    """Update."""
    run(c, "copier", "update")


ns = Collection(
    lint,
    publish,
    format_code,
    template_update,
)
'''
V1_CI = """name: CI
on:
  push:
    branches: [main]
  pull_request:

jobs:
  lint:
    runs-on: ubuntu-24.04
    steps:
      - uses: astral-sh/setup-uv@v7
        with:
          enable-cache: true
      - run: uv run --locked invoke lint
"""
V2_CI = """name: CI
on:
  push:
    branches: [main]
    tags: ["v*"]
  pull_request:

jobs:
  lint:
    runs-on: ubuntu-24.04
    steps:
      - uses: astral-sh/setup-uv@v7
        with:
          enable-cache: true # zizmor: ignore[cache-poisoning] a testing job
      - run: uv run --locked invoke lint

  # Publishes, last.
  publish:
    runs-on: ubuntu-24.04
    steps:
      - uses: astral-sh/setup-uv@v7
        with:
          enable-cache: false
      - run: uv run --locked invoke publish
"""
RELEASE = """name: Release
on:
  push:
    tags: ["v*"]
jobs:
  docker:
    runs-on: ubuntu-24.04
    timeout-minutes: 30
    steps:
      - run: uv run --locked invoke docker
"""
WORKFLOW_PY = '"""Reads the workflows."""\n'
TEMPLATE_UPDATE = """name: Template update
on:
  schedule:
    - cron: "0 6 * * 1"
jobs:
  template-update:
    runs-on: ubuntu-24.04
    steps:
      - run: uv run --locked invoke template-update
"""

# --- what a team adds, the v0.1.0 way ------------------------------------------------------

TEAM_TASKS = '''

@task(help={"greeting": "What to say"})
@ci_job(env=("SMOKE_GREETING",))
def smoke(c: Context, greeting: str = "") -> None:
    """Smoke-test."""
    run(c, "echo", greeting)


@reads_env("NIGHTLY_TOKEN")
@task(name="nightly-report")
def nightly(c: Context) -> None:
    """Report every night."""
    run(c, "echo", "report")
'''
TEAM_JOB = """
  smoke:
    runs-on: ubuntu-24.04
    steps:
      - uses: astral-sh/setup-uv@v7
        with:
          enable-cache: true
      - run: uv run --locked invoke smoke
        env:
          SMOKE_GREETING: hello
"""
TEAM_WORKFLOW = """name: Nightly
on:
  schedule:
    - cron: "0 2 * * *"
jobs:
  report:
    runs-on: ubuntu-24.04
    steps:
      - run: uv run --locked invoke nightly-report
        env:
          NIGHTLY_TOKEN: ${{ secrets.NIGHTLY_TOKEN }}
"""
MIGRATED_TEAM_TASKS = '''

@ci_task(env=("SMOKE_GREETING",), help={"greeting": "What to say"})
def smoke(c: Context, greeting: str = "") -> None:
    """Smoke-test."""
    run(c, "echo", greeting)


@ci_task(workflow="nightly", env=("NIGHTLY_TOKEN",), name="nightly-report")
def nightly(c: Context) -> None:
    """Report every night."""
    run(c, "echo", "report")
'''
# team_tasks.py as the migration starts it when v2 renders none: a docstring, then what the
# moved tasks import, in tasks.py's own order and groups.
TEAM_MODULE_HEAD = '''"""The team's own invoke tasks: this file is yours."""

from invoke.context import Context

from devtasks.jobs import ci_task, run
'''
MARKED_TEAM_JOB = TEAM_JOB.replace("enable-cache: true", "enable-cache: true" + ci_jobs.CACHE_NOTE)


def v0_1_1_migrations() -> list[dict[str, Any]]:
    """shipshape's own `_migrations` entries for the release after v0.1.0, for version v2."""
    entries = [
        entry
        for entry in copier_config()["_migrations"]
        if str(entry.get("version")) == MIGRATION_VERSION
    ]
    assert entries, f"copier.yml has no {MIGRATION_VERSION} migrations"
    return [{**entry, "version": "v2"} for entry in entries]


def write_release(template: Path, files: dict[str, str | None]) -> None:
    """Write (text) or delete (None) the template's files."""
    for name, text in files.items():
        path = template / name
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v1 with the old forms, v2 with the new ones and the v0.1.1 migrations."""
    repo = tmp_path_factory.mktemp("tiny") / "template-repo"
    (repo / "migrations").mkdir(parents=True)
    for script in SCRIPTS:
        shutil.copy(ROOT / "migrations" / script, repo / "migrations" / script)
    settings_yml = {"_subdirectory": "template", "_templates_suffix": ".jinja"}
    question = {"name": {"type": "str", "default": "demo"}}
    (repo / "copier.yml").write_text(yaml.safe_dump({**settings_yml, **question}))
    template_dir = repo / "template"
    write_release(
        template_dir,
        {
            "{{_copier_conf.answers_file}}.jinja": "{{ _copier_answers|to_nice_yaml }}",
            "tasks.py": V1_TASKS,
            ".github/workflows/ci.yml": V1_CI,
            ".github/workflows/release.yml": RELEASE,
            ".github/workflows/template-update.yml": TEMPLATE_UPDATE,
            "devtasks/workflow.py": WORKFLOW_PY,
        },
    )
    run(["git", "init", "--quiet", "--initial-branch=main"], repo)
    git_commit(repo, "v1")
    run(["git", "tag", "v1"], repo)
    config = {**settings_yml, "_migrations": v0_1_1_migrations(), **question}
    (repo / "copier.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    write_release(
        template_dir,
        {
            "tasks.py": V2_TASKS,
            ".github/workflows/ci.yml": V2_CI,
            ".github/workflows/release.yml": None,
            "devtasks/workflow.py": None,
        },
    )
    git_commit(repo, "v2: @ci_task, publish in ci.yml")
    run(["git", "tag", "v2"], repo)
    return repo


def add_team_task_and_job(service: Path) -> None:
    """A task with its ci.yml job and a task a workflow of the team's calls, the v0.1.0 way."""
    tasks = service / "tasks.py"
    text = tasks.read_text(encoding="utf-8")
    text = text.replace("\n\nns = Collection(", TEAM_TASKS + "\n\nns = Collection(")
    listed = "    lint, template_update"
    text = text.replace(f"{listed}\n", f"{listed}, smoke, nightly\n")
    tasks.write_text(text, encoding="utf-8")
    ci = service / ".github" / "workflows" / "ci.yml"
    ci.write_text(ci.read_text(encoding="utf-8") + TEAM_JOB, encoding="utf-8")
    (service / ".github" / "workflows" / "nightly.yml").write_text(TEAM_WORKFLOW)


def unmerged(service: Path) -> str:
    return run(["git", "ls-files", "--unmerged"], service).stdout


def test_a_team_task_and_job_added_the_old_way_carry_over(template: Path, tmp_path: Path) -> None:
    service = render_v1(template, tmp_path / "service")
    add_team_task_and_job(service)

    update(service)

    # tasks.py is the template's again; the team's tasks are in its own team_tasks.py.
    assert (service / "tasks.py").read_text() == V2_TASKS
    assert (service / "team_tasks.py").read_text() == TEAM_MODULE_HEAD + MIGRATED_TEAM_TASKS
    lint, publish = V2_CI.split("\n  # Publishes, last.\n")
    expected_ci = lint + MARKED_TEAM_JOB + "\n  # Publishes, last.\n" + publish
    assert (service / ".github" / "workflows" / "ci.yml").read_text() == expected_ci
    assert not (service / ".github" / "workflows" / "release.yml").exists()
    assert not (service / "devtasks" / "workflow.py").exists()
    assert unmerged(service) == "", "a resolved conflict is still recorded in git's index"


def test_changed_files_the_template_removed_are_kept_and_named(
    template: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    service = render_v1(template, tmp_path / "service")
    release = service / ".github" / "workflows" / "release.yml"
    changed_release = RELEASE.replace("timeout-minutes: 30", "timeout-minutes: 45")
    release.write_text(changed_release, encoding="utf-8")
    changed_workflow = WORKFLOW_PY + "TEAM_SETTING = 1\n"
    (service / "devtasks" / "workflow.py").write_text(changed_workflow, encoding="utf-8")
    capfd.readouterr()

    update(service)

    assert release.read_text() == changed_release
    assert (service / "devtasks" / "workflow.py").read_text() == changed_workflow
    lines = [line for line in capfd.readouterr().err.splitlines() if "kept with" in line]
    release_line = (
        "migration: .github/workflows/release.yml: kept with your changes, though the template "
        "removed it: publishing is the publish job of ci.yml now (`invoke publish`; the image "
        "is [tool.shipshape] image in pyproject.toml): move your changes there and delete this "
        "file; `invoke parity` fails on it until then"
    )
    workflow_line = (
        "migration: devtasks/workflow.py: kept with your changes, though the template removed "
        "it: devtasks/ is sealed now and model.py reads the workflows: ask for a "
        "[tool.shipshape] setting or put your code in tasks.py, and delete this file; `invoke "
        "parity` fails on it until then"
    )
    assert lines == [release_line, workflow_line]


def test_a_service_without_the_old_forms_is_left_as_copier_merged_it(
    template: Path, tmp_path: Path
) -> None:
    service = render_v1(template, tmp_path / "service")
    (service / "notes.txt").write_text("the team's own file\n", encoding="utf-8")

    update(service)

    assert (service / "tasks.py").read_text() == V2_TASKS
    assert (service / ".github" / "workflows" / "ci.yml").read_text() == V2_CI
    assert not (service / ".github" / "workflows" / "release.yml").exists()


def test_a_conflict_copier_marked_within_a_job_is_left_as_copier_marked_it(
    template: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    service = render_v1(template, tmp_path / "service")
    ci = service / ".github" / "workflows" / "ci.yml"
    ci.write_text(V1_CI.replace("enable-cache: true", "enable-cache: false"), encoding="utf-8")
    capfd.readouterr()

    update(service)

    conflict = (
        "<<<<<<< before updating\n          enable-cache: false\n=======\n"
        "          enable-cache: true # zizmor: ignore[cache-poisoning] a testing job\n"
        ">>>>>>> after updating\n"
    )
    assert ci.read_text() == V2_CI.replace(
        "          enable-cache: true # zizmor: ignore[cache-poisoning] a testing job\n", conflict
    )
    assert "merged job by job" not in capfd.readouterr().err
    assert ".github/workflows/ci.yml" in unmerged(service)


def test_a_service_in_a_subdirectory_of_its_repository(template: Path, tmp_path: Path) -> None:
    repository = tmp_path / "monorepo"
    service = repository / "services" / "demo"
    copier.run_copy(str(template), service, vcs_ref="v1", defaults=True, quiet=True)
    run(["git", "init", "--quiet", "--initial-branch=main"], repository)
    git_commit(repository, "Render v1 in a subdirectory")
    add_team_task_and_job(service)
    release = service / ".github" / "workflows" / "release.yml"
    release.write_text(RELEASE + "# the team's\n", encoding="utf-8")

    update(service)

    assert release.read_text() == RELEASE + "# the team's\n"
    assert '@ci_task(env=("SMOKE_GREETING",)' in (service / "team_tasks.py").read_text()
    assert unmerged(repository) == ""


def test_each_migration_run_again_changes_nothing(template: Path, tmp_path: Path) -> None:
    service = render_v1(template, tmp_path / "service")
    add_team_task_and_job(service)
    release = service / ".github" / "workflows" / "release.yml"
    release.write_text(RELEASE + "# the team's\n", encoding="utf-8")
    update(service)
    before = {p: p.read_text() for p in service.rglob("*") if p.is_file() and ".git" not in p.parts}

    for entry in v0_1_1_migrations():
        argv = [
            part.replace("{{ _copier_python }}", sys.executable)
            .replace("{{ _copier_conf.src_path }}", str(template))
            .replace("{{ _version_from }}", "v1")
            .replace("{{ _version_to }}", "v2")
            for part in entry["command"]
        ]
        run(argv, service)

    after = {p: p.read_text() for p in service.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert after == before


# --- tasks.py, decorator by decorator ------------------------------------------------------


def ruff_formatted(source: str) -> str:
    """The source as ruff formats it at the service's line length."""
    ruff = shutil.which("ruff")
    assert ruff, "ruff is a dev dependency of the template repo"
    formatted = subprocess.run(
        [ruff, "format", "--line-length", str(LINE_LENGTH), "--stdin-filename", "tasks.py", "-"],
        input=source,
        capture_output=True,
        text=True,
        check=True,
    )
    return formatted.stdout


def rewritten(source: str) -> tuple[str, ci_tasks.Rewrite]:
    result = ci_tasks.Rewrite()
    return ci_tasks.rewrite_decorators(source, LINE_LENGTH, result), result


@pytest.fixture
def workflows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A service directory whose ci.yml calls smoke, smoke-test and clean, nightly.yml nightly."""
    directory = tmp_path / ".github" / "workflows"
    directory.mkdir(parents=True)
    calls = {"ci": ["smoke", "smoke-test", "clean"], "nightly": ["nightly", "both"]}
    calls["ci"].append("both")
    for workflow, tasks in calls.items():
        steps = "".join(f"      - run: uv run --locked invoke {task}\n" for task in tasks)
        (directory / f"{workflow}.yml").write_text(f"jobs:\n  a:\n    steps:\n{steps}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


LONG_HELP = '"greeting": "What to say to the people who read this job\'s log, every single time"'
DECORATORS = [
    pytest.param("smoke", "@task\n@ci_job()\n", "@ci_task()\n", id="bare-task-then-ci-job"),
    pytest.param("smoke", "@ci_job()\n@task\n", "@ci_task()\n", id="ci-job-then-task"),
    pytest.param("smoke", "@task()\n@ci_job\n", "@ci_task()\n", id="no-parentheses-on-ci-job"),
    pytest.param(
        "smoke",
        '@task(help={"greeting": "What to say"})\n@ci_job(env=("SMOKE_GREETING",))\n',
        '@ci_task(env=("SMOKE_GREETING",), help={"greeting": "What to say"})\n',
        id="help-and-env",
    ),
    pytest.param(
        "smoke",
        '@ci_job(env=["A", "B"])\n@task(name="smoke-test", help={"x": "y"})\n',
        '@ci_task(env=("A", "B"), name="smoke-test", help={"x": "y"})\n',
        id="name-and-list-env",
    ),
    pytest.param(
        "smoke",
        "@task(clean)\n@ci_job(env=NAMES)\n",
        "@ci_task(env=NAMES, pre=[clean])\n",
        id="pre-task-and-env-by-name",
    ),
    pytest.param(
        "smoke",
        '@task\n@ci_job(env=("A",))\n@reads_env("B", *MORE)\n',
        '@ci_task(env=("A", "B", *MORE))\n',
        id="ci-job-and-reads-env",
    ),
    pytest.param(
        "nightly",
        '@reads_env("NIGHTLY_TOKEN")\n@task\n',
        '@ci_task(workflow="nightly", env=("NIGHTLY_TOKEN",))\n',
        id="reads-env-of-another-workflow",
    ),
    pytest.param(
        "unscheduled", '@task\n@reads_env("X")\n', "@task\n", id="reads-env-no-workflow-calls"
    ),
    pytest.param(
        "smoke",
        "@task(\n    help={\n        " + LONG_HELP + ',\n    }\n)\n@ci_job(env=("SMOKE",))\n',
        '@ci_task(\n    env=("SMOKE",),\n    help={\n        ' + LONG_HELP + ",\n    },\n)\n",
        id="too-long-for-one-line",
    ),
    pytest.param(
        "smoke",
        "@task\n# why this one is a job\n@traced\n@ci_job()\n",
        "@ci_task()\n# why this one is a job\n@traced\n",
        id="other-decorators-and-comments-kept",
    ),
]


@pytest.mark.parametrize(("function", "old", "new"), DECORATORS)
def test_old_decorators_become_one_ci_task(
    function: str, old: str, new: str, workflows: Path
) -> None:
    del workflows
    body = f'def {function}(c: Context) -> None:\n    run(c, "x")\n'
    source = f"x = 1\n\n\n{old}{body}"

    text, result = rewritten(source)

    assert text == f"x = 1\n\n\n{new}{body}"
    assert result.tasks == [function]
    assert rewritten(text)[0] == text, "a second run changed it again"
    assert ruff_formatted(text) == text


def test_a_task_called_from_two_workflows_is_named(workflows: Path) -> None:
    del workflows
    text, result = rewritten('@task\n@reads_env("T")\ndef both(c: Context) -> None: ...\n')

    assert text == '@ci_task(env=("T",))\ndef both(c: Context) -> None: ...\n'
    note = (
        "tasks.py: `both` is called by jobs of ci, nightly; a @ci_task belongs to one workflow "
        "(ci here), so `invoke parity` names the others"
    )
    assert result.notes == [note]


def test_an_old_decorator_without_task_is_left_and_named(workflows: Path) -> None:
    del workflows
    source = "@ci_job()\ndef helper() -> None: ...\n"

    text, result = rewritten(source)

    assert text == source
    assert result.notes == [
        "tasks.py: `helper` has @ci_job but no @task: rewrite it by hand as a @ci_task (or a @task)"
    ]


names = st.sampled_from(["A", "SMOKE_URL", "GH_TOKEN", "images.PUBLISH_ENV", "*EXTRA"])
task_options = st.lists(
    st.sampled_from(['help={"x": "y"}', 'name="smoke-test"', "iterable=['x']", "optional=['y']"]),
    unique=True,
    max_size=3,
)


@settings(max_examples=60, deadline=None)
@given(
    ci_job_env=st.none() | st.lists(names, max_size=3),
    read_env=st.none() | st.lists(names, max_size=3),
    options=task_options,
    task_first=st.booleans(),
)
def test_any_old_declaration_keeps_its_options_and_variables(
    ci_job_env: list[str] | None,
    read_env: list[str] | None,
    options: list[str],
    task_first: bool,  # noqa: FBT001 - a drawn value
) -> None:
    """Whatever the mix of the old decorators, the task keeps its options and its variables."""
    if ci_job_env is None and read_env is None:
        ci_job_env = []
    task_line = f"@task({', '.join(options)})\n" if options else "@task\n"
    old = []
    if ci_job_env is not None:
        old.append(f"@ci_job(env=({''.join(f'{n}, ' for n in ci_job_env)}))\n")
    if read_env is not None:
        old.append(f"@reads_env({', '.join(read_env)})\n")
    group = [task_line, *old] if task_first else [*old, task_line]
    source = "".join(group) + "def smoke(c: Context) -> None: ...\n"

    # No workflow here calls `smoke`: @ci_job makes it one of ci.yml, @reads_env alone a @task.
    text, result = rewritten(source)

    assert result.tasks == ["smoke"]
    decorator = ast.parse(text).body[0]
    assert isinstance(decorator, ast.FunctionDef)
    (call,) = decorator.decorator_list
    if ci_job_env is None:
        assert ast.unparse(call).startswith("task")
        return
    assert isinstance(call, ast.Call)
    assert ast.unparse(call.func) == "ci_task"
    keywords = {keyword.arg: ast.unparse(keyword.value) for keyword in call.keywords}
    declared = [*ci_job_env, *(read_env or [])]
    if declared:
        env = ast.parse(keywords.pop("env"), mode="eval").body
        assert isinstance(env, ast.Tuple)
        assert [ast.unparse(element) for element in env.elts] == declared
    for option in options:
        key, value = option.split("=", 1)
        assert ast.unparse(ast.parse(value, mode="eval")) == keywords.pop(key)
    assert keywords == {}
    assert rewritten(text)[0] == text


IMPORTS = [
    pytest.param(
        "from devtasks.jobs import ci_job, lint_python_and_github, reads_env, require_python,"
        " run\n",
        "from devtasks.jobs import ci_task, lint_python_and_github, require_python, run\n",
        id="v0.1.0",
    ),
    pytest.param(
        "from devtasks.jobs import ci_job, ci_task, run\n",
        "from devtasks.jobs import ci_task, run\n",
        id="ci-task-imported-already",
    ),
    pytest.param(
        "from devtasks.jobs import (\n    REPORTS,\n    ci_job,\n    lint_python_and_github,\n"
        "    reads_env,\n    require_python,\n    require_tool,\n    run,\n)\n",
        "from devtasks.jobs import (\n    REPORTS,\n    ci_task,\n    lint_python_and_github,\n"
        "    require_python,\n    require_tool,\n    run,\n)\n",
        id="wrapped",
    ),
]


@pytest.mark.parametrize(("old", "new"), IMPORTS)
def test_the_jobs_import_loses_the_old_names(old: str, new: str) -> None:
    body = "\n\n@ci_task()\ndef lint(c: Context) -> None: ...\n"

    assert ci_tasks.fix_imports(old + body, LINE_LENGTH) == new + body
    assert ruff_formatted(new + body) == new + body


def test_an_import_without_the_old_names_is_untouched() -> None:
    source = "from devtasks.jobs import run\n\n\n@task\ndef lint(c: Context) -> None: ...\n"

    assert ci_tasks.fix_imports(source, LINE_LENGTH) == source


# Conflict markers are built, not written out: the lint job fails on a line that starts with one.
OURS = "<" * 7 + " before updating"
THEIRS = ">" * 7 + " after updating"
CONFLICTED_LIST = f"""ns = Collection(
{OURS}
    lint, typecheck, docker, parity, smoke
=======
    lint,
    typecheck,
    security,
    docker,
    publish,
    parity,
{THEIRS}
)
"""

CONFLICTED_STATEMENTS = f'''{OURS}
@task
def smoke(c: Context) -> None:
    """Smoke."""


ns = Collection(lint, docker, smoke)
=======
ns = Collection(
    lint,
    publish,
)
{THEIRS}
'''


@pytest.mark.parametrize(
    ("conflicted", "base", "expected", "kept"),
    [
        pytest.param(
            CONFLICTED_LIST,
            ["lint", "typecheck", "docker", "compose_config", "parity"],
            "ns = Collection(\n    lint,\n    typecheck,\n    security,\n    docker,\n"
            "    publish,\n    parity,\n    smoke,\n)\n",
            ["smoke"],
            id="inside-the-call",
        ),
        pytest.param(
            CONFLICTED_STATEMENTS,
            ["lint", "docker"],
            '@task\ndef smoke(c: Context) -> None:\n    """Smoke."""\n\n\n'
            "ns = Collection(\n    lint,\n    publish,\n    smoke,\n)\n",
            ["smoke"],
            id="whole-statements-the-team-s-task-kept",
        ),
        pytest.param(
            CONFLICTED_LIST.replace("docker, parity", "parity"),
            ["lint", "typecheck", "docker", "parity"],
            "ns = Collection(\n    lint,\n    typecheck,\n    security,\n    publish,\n"
            "    parity,\n    smoke,\n)\n",
            ["smoke"],
            id="a-task-the-team-removed-stays-removed",
        ),
    ],
)
def test_a_conflict_over_the_task_list_merges_both_lists(
    conflicted: str, base: list[str], expected: str, kept: list[str]
) -> None:
    text, names = ci_tasks.resolve_task_list("x = 1\n" + conflicted, base)

    assert text == "x = 1\n" + expected
    assert names == kept


def test_other_conflicts_are_left_alone() -> None:
    conflicted = (
        "def lint() -> None:\n<<<<<<< before updating\n    run('a')\n=======\n    run('b')\n"
        ">>>>>>> after updating\n"
    )

    assert ci_tasks.resolve_task_list(conflicted, []) == (conflicted, [])


# --- ci.yml, job by job --------------------------------------------------------------------


def test_the_rendered_ci_workflow_splits_into_its_jobs_and_back(default_project: Path) -> None:
    text = (default_project / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")

    parts = ci_jobs.split(text)

    assert parts is not None
    jobs = yaml.safe_load(text)["jobs"]
    assert list(parts.jobs) == list(jobs)
    assert ci_jobs.join(parts.head, parts.jobs.values(), parts.tail) == text
    for name, block in parts.jobs.items():
        assert yaml.safe_load(block) == {name: jobs[name]}


@pytest.mark.parametrize(
    "workflow",
    [
        pytest.param("jobs:\n    lint:\n      runs-on: x\n", id="indented-by-four"),
        pytest.param('jobs:\n  "lint":\n    runs-on: x\n', id="quoted-id"),
        pytest.param("jobs:\n  lint: {runs-on: x}\n  <<: *more\n", id="unreadable"),
    ],
)
def test_a_workflow_laid_out_otherwise_is_left_to_copier(workflow: str) -> None:
    assert ci_jobs.split(workflow) is None


def test_jobs_keep_the_template_s_order_and_the_team_s_place() -> None:
    order = ci_jobs.job_order(["lint", "smoke", "test", "nightly"], ["lint", "test", "publish"])

    assert order == ["lint", "smoke", "test", "nightly", "publish"]


def test_a_conflict_within_one_job_stays_in_that_job() -> None:
    base = ci_jobs.split("jobs:\n  a:\n    timeout-minutes: 5\n")
    ours = ci_jobs.split("jobs:\n  a:\n    timeout-minutes: 6\n\n  mine:\n    x: 1\n")
    theirs = ci_jobs.split("jobs:\n  a:\n    timeout-minutes: 7\n\n  b:\n    y: 2\n")
    assert base
    assert ours
    assert theirs

    text, conflicts = ci_jobs.merge_jobs(base, ours, theirs)

    assert conflicts == 1
    assert text == (
        "jobs:\n  a:\n<<<<<<< before updating\n    timeout-minutes: 6\n=======\n"
        "    timeout-minutes: 7\n>>>>>>> after updating\n\n  mine:\n    x: 1\n\n  b:\n    y: 2\n"
    )


def test_only_the_team_s_unmarked_caches_are_marked() -> None:
    other = TEAM_JOB.replace("smoke", "other").replace("cache: true", "cache: true # ours")
    text = V2_CI + TEAM_JOB + other

    marked, jobs = ci_jobs.mark_caches(text, ["smoke", "other"])

    assert jobs == ["smoke"]
    assert marked == V2_CI + MARKED_TEAM_JOB + text.split(TEAM_JOB, 1)[1]


PUBLISHING = (
    "jobs:\n  lint:\n    runs-on: x\n\n"
    "  publish:\n    needs: [lint] # after every job\n    if: github.event_name == 'push'\n\n"
    "  deploy:\n    needs: publish\n\n"
)


def test_publish_waits_for_the_team_s_unconditional_jobs_only() -> None:
    text = PUBLISHING + "  smoke:\n    runs-on: x\n\n  nightly:\n    if: false\n"

    waiting, added = ci_jobs.wait_for_own(text, ["smoke", "nightly", "deploy"])

    assert added == ["smoke"]
    assert "    needs: [lint, smoke] # after every job\n" in waiting
    assert ci_jobs.unwaited(waiting) == []
    assert yaml.safe_load(waiting)["jobs"]["publish"]["needs"] == ["lint", "smoke"]
    assert ci_jobs.wait_for_own(waiting, ["smoke"]) == (waiting, [])


@pytest.mark.parametrize(
    "needs",
    [
        pytest.param("needs:\n      - lint\n", id="block-list"),
        pytest.param("needs: lint\n", id="one-name"),
    ],
)
def test_a_publish_needs_written_otherwise_is_left_for_parity_to_name(needs: str) -> None:
    text = PUBLISHING.replace("needs: [lint] # after every job\n", needs) + "  smoke:\n    a: 1\n"

    assert ci_jobs.unwaited(text) == ["smoke"]
    assert ci_jobs.wait_for_own(text, ["smoke"]) == (text, [])


def test_a_job_publish_already_waits_for_through_another_is_not_added() -> None:
    text = PUBLISHING.replace("  lint:\n", "  lint:\n    needs: smoke\n") + "  smoke:\n    a: 1\n"

    assert ci_jobs.unwaited(text) == []
    assert ci_jobs.wait_for_own(text, ["smoke"]) == (text, [])


# --- removed files -------------------------------------------------------------------------


def test_a_file_the_old_release_never_rendered_is_the_service_s_own(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = render_v1(template, tmp_path / "service")
    own = service / "devtasks" / "extra.py"
    own.write_text("TEAM = 1\n", encoding="utf-8")
    git_commit(service, "The team's own file")
    monkeypatch.chdir(service)

    lines = removed.migrate("v1", [("devtasks/extra.py", "unused advice")])

    assert lines == []
    assert own.read_text() == "TEAM = 1\n"


# --- tasks.py's own tasks move to team_tasks.py --------------------------------------------

TEMPLATE_TASKS = '''"""Tasks."""

import os
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context

from devtasks.jobs import ci_task, run

ROOT = Path(__file__).resolve().parent
os.chdir(ROOT)


@ci_task()
def lint(c: Context) -> None:
    """Lint."""
    run(c, "ruff", "check", ".")


ns = Collection(
    lint,
)
'''
TEAM_ADDITIONS = '''

GREETING = "hello"


def greeting_for(name: str) -> str:
    """A helper only the team's task uses."""
    return f"{GREETING}, {name}"


# The team's smoke job.
@ci_task(env=("SMOKE_NAME",))
def smoke(c: Context) -> None:
    """Greet from the team's own job."""
    run(c, "echo", greeting_for(os.environ["SMOKE_NAME"]), str(json.dumps(ROOT.name)))
'''
HEAD = '"""The team\'s own tasks."""\n'


def with_team_additions(template: str = TEMPLATE_TASKS) -> str:
    """The template's tasks.py with the team's task, helpers and import added, as teams add."""
    text = template.replace("import os\n", "import json\nimport os\n", 1)
    text = text.replace("\n\nns = Collection(", TEAM_ADDITIONS + "\n\nns = Collection(", 1)
    return text.replace("    lint,\n)", "    lint,\n    smoke,\n)", 1)


def ruff_problems(source: str, name: str) -> str:
    """What ruff's isort, pyflakes and pycodestyle rules say about a file ("" when nothing)."""
    ruff = shutil.which("ruff")
    assert ruff, "ruff is a dev dependency of the template repo"
    first_party = "lint.isort.known-first-party = ['devtasks', 'tasks']"
    argv = [ruff, "check", "--isolated", "--select", "I,F,E", "--config", first_party]
    argv += ["--line-length", str(LINE_LENGTH), "--stdin-filename", name, "-"]
    checked = subprocess.run(argv, input=source, capture_output=True, text=True, check=False)
    return "" if checked.returncode == 0 else checked.stdout


def test_the_team_s_task_helpers_and_imports_move_and_tasks_py_is_the_template_s() -> None:
    tasks, team, lines = move_team_tasks.move(
        with_team_additions(), TEMPLATE_TASKS, HEAD, LINE_LENGTH
    )

    assert tasks == TEMPLATE_TASKS
    assert team == (
        HEAD
        + "\nimport json\nimport os\n\nfrom invoke.context import Context\n\n"
        + "from devtasks.jobs import ci_task, run\nfrom tasks import ROOT\n"
        + TEAM_ADDITIONS.removeprefix("\n")
    )
    assert lines == [
        "tasks.py: smoke moved to team_tasks.py, which is yours: updates never touch it"
    ]
    assert ruff_problems(team, "team_tasks.py") == ""
    assert ruff_formatted(team) == team


def test_a_helper_tasks_py_still_uses_stays_with_a_line() -> None:
    source = with_team_additions().replace(
        '    run(c, "ruff", "check", ".")\n', '    run(c, "ruff", "check", greeting_for("."))\n'
    )

    tasks, team, lines = move_team_tasks.move(source, TEMPLATE_TASKS, HEAD, LINE_LENGTH)

    assert "def greeting_for(" in tasks
    assert "GREETING = " in tasks
    assert "def smoke(" in team
    assert "from tasks import ROOT, greeting_for\n" in team
    assert lines[0] == (
        "tasks.py: `GREETING` stays: code of tasks.py uses it; move both to team_tasks.py by hand"
    )
    assert ruff_problems(tasks, "tasks.py") == ""
    assert ruff_problems(team, "team_tasks.py") == ""


def test_a_team_module_with_tasks_of_its_own_keeps_them_and_gains_the_moved_ones() -> None:
    existing = (
        HEAD + "\nfrom invoke.context import Context\nfrom invoke.tasks import task\n\n\n"
        "@task\ndef hello(c: Context) -> None:\n"
        '    """Say hello."""\n    c.run("echo hello")\n'
    )

    _, team, _ = move_team_tasks.move(with_team_additions(), TEMPLATE_TASKS, existing, 100)

    assert team.startswith(existing.split("\n\n\n@task")[0])
    assert team.count("from invoke.context import Context") == 1
    assert "def hello(" in team
    assert team.endswith(TEAM_ADDITIONS.rstrip("\n").split("\n\n\n", 1)[1] + "\n")
    assert ruff_problems(team, "team_tasks.py").count("I001") <= 1  # `invoke format` sorts it


def test_nothing_moves_without_a_task_of_the_team_s_or_into_a_clash() -> None:
    untouched = move_team_tasks.move(TEMPLATE_TASKS, TEMPLATE_TASKS, HEAD, LINE_LENGTH)
    assert untouched == (TEMPLATE_TASKS, HEAD, [])
    clash = HEAD + "\n\ndef smoke() -> None:\n    pass\n"
    source = with_team_additions()
    tasks, team, lines = move_team_tasks.move(source, TEMPLATE_TASKS, clash, LINE_LENGTH)
    assert (tasks, team) == (source, clash)
    assert lines == ["tasks.py: team_tasks.py defines smoke too: nothing moved"]
