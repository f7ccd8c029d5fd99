"""`invoke changes`: one true/false output per `[tool.shipshape.changes]` group, from git.

Fast tier: a small git repository with a pull request branch; the task's body runs as the
job would run it, with `GITHUB_EVENT_NAME`/`GITHUB_BASE_REF` as the runner (and `invoke ci`)
set them, and its outputs are read back from `$GITHUB_OUTPUT` by the runner's parser.
"""

import subprocess
from pathlib import Path

import pytest
from devtasks.jobs import ci_spec
from devtasks.jobs.changes import change_outputs, changes
from devtasks.local.file_commands import parse_outputs
from invoke.context import Context
from invoke.exceptions import Exit

PYPROJECT = """[project]
name = "x"

[tool.shipshape.changes]
backend = ["src/**", "uv.lock"]
docs = ["docs/**", "*.md", "!CHANGELOG.md"]
"""


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def commit(root: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    git(root, "add", "--all")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", message)


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    git(tmp_path, "init", "-q", "--initial-branch=main")
    commit(tmp_path, {"pyproject.toml": PYPROJECT, "src/app.py": "", "README.md": ""}, "first")
    git(tmp_path, "checkout", "-q", "-b", "feature")
    monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request")
    monkeypatch.setenv("GITHUB_BASE_REF", "main")
    return tmp_path


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"docs/guide.md": "x"}, {"backend": "false", "docs": "true"}),
        ({"src/app.py": "print()"}, {"backend": "true", "docs": "false"}),
        ({"CHANGELOG.md": "x"}, {"backend": "false", "docs": "false"}),  # negated
        ({"uv.lock": "x", "README.md": "x"}, {"backend": "true", "docs": "true"}),
    ],
)
def test_a_pull_request_sets_each_group_from_the_files_it_changed(
    repository: Path, files: dict[str, str], expected: dict[str, str]
) -> None:
    commit(repository, files, "change")
    assert change_outputs(repository) == expected


def test_the_task_writes_its_outputs_where_the_runner_reads_them(
    repository: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    commit(repository, {"docs/guide.md": "x"}, "docs only")
    output = tmp_path_factory.mktemp("runner") / "output"
    output.write_text("", encoding="utf-8")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setattr("devtasks.jobs.changes.ROOT", repository)
    assert ci_spec(changes) is not None  # a job may call it
    changes.body(Context())
    assert parse_outputs(output.read_text(encoding="utf-8")) == {
        "backend": "false",
        "docs": "true",
    }


def test_without_groups_the_task_says_what_to_add(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    with pytest.raises(Exit, match=r"names no groups; add one"):
        change_outputs(tmp_path)
