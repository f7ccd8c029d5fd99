"""pyproject.toml and `[tool.shipshape]`: one reader, and every problem one line from every task.

The unit tests hold the model's lines; the slow tests run a rendered service's own tasks
against a broken pyproject.toml and read what the user sees.
"""

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from devtasks import config
from devtasks.checks import parity
from devtasks.local import plan
from devtasks.workflow.rules import CI_WORKFLOW
from invoke.collection import Collection
from invoke.exceptions import Exit

from helpers import run


@pytest.mark.parametrize(
    ("table", "line"),
    [
        (
            {"fast": True},
            (
                "[tool.shipshape] has unknown key(s) fast; known: changes, default-branch, "
                "image, other-workflows, post-actions, probe-env, probe-paths, "
                "probe-timeout-seconds, security, setup-actions, workspace"
            ),
        ),
        ({"workspace": "backend"}, '[tool.shipshape] workspace = "backend": must be "." or a'),
        ({"workspace": "../x"}, '[tool.shipshape] workspace = "../x": must be "." or a parent'),
        ({"workspace": "/"}, '[tool.shipshape] workspace = "/": must be "." or a parent'),
        (
            {"other-workflows": ["../ci.yml"]},
            'other-workflows entry 1 = "../ci.yml": must be a workflow file name',
        ),
        (
            {"changes": {"back end": ["src/**"]}},
            'changes = {"back end": ["src/**"]}: group \'back end\' must be an output',
        ),
        ({"changes": {"docs": []}}, "changes = {\"docs\": []}: group 'docs' names no paths"),
        ({"changes": {"docs": "docs/**"}}, 'changes docs = "docs/**": must be a list'),
        ({"default-branch": "a b"}, '[tool.shipshape] default-branch = "a b": must be a branch'),
        ({"image": "Org/Name"}, '[tool.shipshape] image = "Org/Name": must be a lower-case'),
        ({"image": 5}, "[tool.shipshape] image = 5: should be a valid string"),
        ({"probe-paths": []}, "[tool.shipshape] probe-paths = []: must be absolute URL paths"),
        ({"probe-paths": "/health"}, '[tool.shipshape] probe-paths = "/health": must be a list'),
        ({"probe-timeout-seconds": 0}, "probe-timeout-seconds = 0: should be greater than 0"),
        ({"probe-timeout-seconds": True}, "probe-timeout-seconds = true: should be a valid number"),
        ({"probe-timeout-seconds": "60"}, 'probe-timeout-seconds = "60": should be a valid number'),
        ({"probe-env": {"A B": "1"}}, 'probe-env key "A B": must be an environment variable name'),
        ({"probe-env": {"X_DRAIN_SECONDS": 1}}, "probe-env X_DRAIN_SECONDS = 1: should be a valid"),
        ({"setup-actions": ["a/b@v1"]}, "must be pinned as owner/name@<40-hex sha>, not a/b@v1"),
        ({"post-actions": {"a/b": 1}}, "[tool.shipshape] post-actions a/b = 1: should be a valid"),
        ({"security": []}, "[tool.shipshape.security]: must be a table"),
    ],
)
def test_a_bad_table_is_one_line_naming_key_value_and_what_is_allowed(
    table: dict[str, Any], line: str
) -> None:
    with pytest.raises(config.ConfigError) as raised:
        config.load_table(table)
    message = str(raised.value)
    assert message.startswith("pyproject.toml: "), message
    assert line in message
    assert "\n" not in message


def test_a_config_error_ends_a_task_like_exit() -> None:
    error = config.ConfigError("pyproject.toml: x")
    assert isinstance(error, Exit)
    assert (error.message, error.code) == ("pyproject.toml: x", 1)


def test_the_table_is_optional_and_a_timeout_may_be_whole(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    assert config.load(tmp_path) == config.Config()
    assert config.load_table({"probe-timeout-seconds": 5}).probe_timeout_seconds == 5.0


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[tool.shipshape\n", "pyproject.toml: not valid TOML: "),
        ("tool = 3\n", "pyproject.toml: `tool` must be a table"),
        ("[tool]\nshipshape = 3\n", "pyproject.toml: [tool.shipshape]: must be a table"),
    ],
)
def test_an_unreadable_file_is_one_line(tmp_path: Path, text: str, line: str) -> None:
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    with pytest.raises(config.ConfigError, match="^" + line.replace("[", r"\[")):
        config.load(tmp_path)


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match=r"^pyproject\.toml: missing at "):
        config.pyproject(tmp_path)


# --- what a user sees from each task ---------------------------------------------------------


def unknown_key(text: str) -> str:
    return text.replace("[tool.shipshape]\n", "[tool.shipshape]\nfast = true\n", 1)


def wrong_type(text: str) -> str:
    return text.replace("probe-timeout-seconds = 60", 'probe-timeout-seconds = "60"', 1)


def malformed(text: str) -> str:
    return text.replace("[tool.shipshape]\n", "[tool.shipshape\n", 1)


BREAKS: list[tuple[Callable[[str], str], str]] = [
    (unknown_key, "pyproject.toml: [tool.shipshape] has unknown key(s) fast; known: "),
    (wrong_type, 'pyproject.toml: [tool.shipshape] probe-timeout-seconds = "60": should be'),
    (malformed, "pyproject.toml: not valid TOML: "),
]
# Every task that reads pyproject.toml, with the arguments that reach the read.
TASKS = [
    ["lint"],
    ["parity"],
    ["security"],
    ["docker"],
    ["publish"],
    ["ci"],
    ["ci", "--dry-run"],
    ["ci", "--dry-run", "--json"],
]


@pytest.fixture(scope="module")
def synced_project(default_project: Path) -> Path:
    """The default service with its locked environment installed (read-only here)."""
    run(["uv", "sync", "--locked"], default_project)
    return default_project


@pytest.fixture(params=BREAKS, ids=[b.__name__ for b, _ in BREAKS])
def broken(
    request: pytest.FixtureRequest, synced_project: Path, tmp_path: Path
) -> tuple[Path, str]:
    """A copy of the service whose pyproject.toml is broken one way, and the line it gives."""
    breaks, line = request.param
    project = tmp_path / "service"
    shutil.copytree(synced_project, project, ignore=shutil.ignore_patterns(".venv", ".git"))
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    changed = breaks(text)
    assert changed != text, f"{breaks.__name__} did not change pyproject.toml"
    pyproject.write_text(changed, encoding="utf-8")
    return project, line


@pytest.mark.slow
@pytest.mark.parametrize("argv", TASKS, ids=" ".join)
def test_every_task_that_reads_the_config_ends_with_its_one_line(
    broken: tuple[Path, str], synced_project: Path, argv: list[str]
) -> None:
    project, line = broken
    # The environment's own invoke: `uv run` would refuse a malformed file before any task.
    result = run([str(synced_project / ".venv/bin/invoke"), *argv], project, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output, output
    # The line itself; parity lists it among its problems and then counts them.
    assert any(line in said for said in result.stderr.splitlines()), output


def test_a_workflow_missing_under_the_workspace_says_where_it_was_looked_for(
    tmp_path: Path,
) -> None:
    service = tmp_path / "backend"
    service.mkdir()
    (service / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.shipshape]\nworkspace = ".."\n', encoding="utf-8"
    )
    settings = config.load(service)
    where = f' under {tmp_path}, which [tool.shipshape] workspace = ".." names'
    assert parity.check(service, Collection()) == [f".github/workflows/ci.yml: missing{where}"]
    with pytest.raises(Exit) as raised:
        plan.read_workflow(settings.checkout(service), CI_WORKFLOW, settings, None)
    assert raised.value.message == f"ci: .github/workflows/ci.yml is missing{where}"
    assert config.Config().checkout_note(tmp_path) == ""
