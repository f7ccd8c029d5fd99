"""team_tasks.py: the team's own tasks join tasks.py's collection; without the file, none do."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from devtasks.jobs import ci_spec, team
from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

TEAM_MODULE = '''"""Mine."""

from invoke.context import Context
from invoke.tasks import task

from devtasks.jobs import ci_task


@ci_task()
def audit(c: Context) -> None:
    """Audit."""


@task(name="hello-world")
def hello(c: Context) -> None:
    """Hello."""
'''


@task
def lint(_: Context) -> None:
    """The template's lint."""


@pytest.fixture
def module_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory on sys.path for a module of the test's own, forgotten afterwards."""
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [name for name in sys.modules if name.startswith("team_tasks_")]:
        del sys.modules[name]


def test_every_task_of_the_team_module_joins_the_collection(module_dir: Path) -> None:
    (module_dir / "team_tasks_joined.py").write_text(TEAM_MODULE, encoding="utf-8")
    ns = team.add_team_tasks(Collection(lint), "team_tasks_joined")
    assert sorted(ns.task_names) == ["audit", "hello-world", "lint"]
    spec = ci_spec(ns["audit"])
    assert spec is not None
    assert spec.workflow == "ci"
    assert team.task_file(ns["audit"]) == "team_tasks_joined.py"


def test_without_the_module_the_collection_is_the_template_s(module_dir: Path) -> None:
    assert not (module_dir / "team_tasks_gone.py").exists()
    ns = team.add_team_tasks(Collection(lint), "team_tasks_gone")
    assert list(ns.task_names) == ["lint"]


def test_a_team_task_named_like_the_template_s_is_one_line(module_dir: Path) -> None:
    clash = '"""Mine."""\n\nfrom invoke.tasks import task\n\n\n@task\ndef lint(c):\n    """L."""\n'
    (module_dir / "team_tasks_clash.py").write_text(clash, encoding="utf-8")
    with pytest.raises(Exit) as refused:
        team.add_team_tasks(Collection(lint), "team_tasks_clash")
    assert refused.value.message == (
        "team_tasks_clash.py: task `lint` has the name of one of tasks.py's (the template's): "
        "rename yours"
    )


def test_a_dependency_the_team_module_lacks_is_one_line(module_dir: Path) -> None:
    lacking = '"""Mine."""\n\nimport not_installed_anywhere  # noqa: F401\n'
    (module_dir / "team_tasks_lacking.py").write_text(lacking, encoding="utf-8")
    with pytest.raises(Exit) as refused:
        team.add_team_tasks(Collection(lint), "team_tasks_lacking")
    assert refused.value.message == (
        "team_tasks_lacking.py imports not_installed_anywhere, which is not installed: `uv add` it"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("def broken(:\n", "team_tasks_bad.py:1: invalid syntax: fix it, or delete the file"),
        (
            'raise RuntimeError("no\\nconfig")\n',
            "team_tasks_bad.py raised RuntimeError on import (no config): fix it",
        ),
    ],
)
def test_a_team_module_that_does_not_import_is_one_line(
    module_dir: Path, body: str, message: str
) -> None:
    (module_dir / "team_tasks_bad.py").write_text(body, encoding="utf-8")
    with pytest.raises(Exit) as refused:
        team.add_team_tasks(Collection(lint), "team_tasks_bad")
    assert refused.value.message == message
