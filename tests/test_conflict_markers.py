"""How `invoke template-update` and the lint job find conflicts: fast, on tiny repositories.

The service's `devtasks/update.py` reads git's unmerged index and scans files for markers in
Python (`git grep -x` does not exist in git 2.39, and its exit 129 once read as "no
conflicts"). Markers are built here from pieces, so this file holds none at a line start.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from invoke.exceptions import Exit

from helpers import ROOT, git_commit, run

sys.path.insert(0, str(ROOT / "template"))
from devtasks.jobs import update

OURS = "<" * 7 + " before updating"
BASE = "=" * 7
THEIRS = ">" * 7 + " after updating"


def conflict(ours: str, theirs: str) -> str:
    """An inline conflict as copier writes it."""
    return f"{OURS}\n{ours}\n{BASE}\n{theirs}\n{THEIRS}\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    run(["git", "init", "--quiet", "--initial-branch=main"], tmp_path)
    (tmp_path / ".gitignore").write_text("ignored/\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("# A service\n", encoding="utf-8")
    git_commit(tmp_path, "Initial")
    return tmp_path


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_markers_in_tracked_and_new_files_are_found_ignored_files_are_not(repo: Path) -> None:
    write(repo, "compose.yaml", "services:\n" + conflict("  a: 1", "  a: 2"))
    git_commit(repo, "A committed conflict")
    write(repo, "src/new.py", "x = 1\n" + conflict("y = 1", "y = 2"))
    write(repo, "ignored/cache.txt", conflict("a", "b"))

    assert update.conflict_markers(repo) == [
        update.Conflict("compose.yaml", 2),
        update.Conflict("src/new.py", 2),
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param(conflict("a", "b"), 1, id="copier's labels"),
        pytest.param("x\n" + "<" * 7 + " HEAD\na\n" + BASE + "\nb\n>>>>>>> main\n", 2, id="git"),
        pytest.param("x\ny\n" + ">" * 7 + "\n", 3, id="bare closing marker"),
        pytest.param("x\r\n" + OURS + "\r\na\r\n", 2, id="CRLF"),
        pytest.param("Title\n" + BASE + "\n\ntext\n", None, id="setext heading"),
        pytest.param("see `" + OURS + "` in the docs\n", None, id="marker mid-line"),
        pytest.param("<" * 8 + " not a marker\n", None, id="eight signs"),
        pytest.param("", None, id="empty"),
    ],
)
def test_a_marker_is_a_line_that_opens_or_closes_a_conflict(
    tmp_path: Path, text: str, line: int | None
) -> None:
    path = tmp_path / "file"
    path.write_bytes(text.encode())
    assert update.first_marker_line(path) == line


def test_binary_files_and_symlinks_are_not_read(repo: Path) -> None:
    (repo / "image.bin").write_bytes(b"\x89PNG\0\n" + conflict("a", "b").encode())
    write(repo, "conflicted.txt", conflict("a", "b"))
    (repo / "link.txt").symlink_to("conflicted.txt")

    assert update.conflict_markers(repo) == [update.Conflict("conflicted.txt", 1)]


def test_outside_git_every_file_is_read_but_virtualenvs_and_caches(tmp_path: Path) -> None:
    # The ci image has the project's files and its .venv, but no .git.
    write(tmp_path, "Dockerfile", "FROM python\n" + conflict("RUN a", "RUN b"))
    write(tmp_path, ".venv/pyvenv.cfg", "home = /usr\n")
    write(tmp_path, ".venv/lib/site.py", conflict("a", "b"))
    write(tmp_path, ".mypy_cache/CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n")
    write(tmp_path, ".mypy_cache/x.json", conflict("a", "b"))
    write(tmp_path, "docs/notes.md", conflict("a", "b"))

    assert update.conflict_markers(tmp_path) == [
        update.Conflict("Dockerfile", 2),
        update.Conflict("docs/notes.md", 1),
    ]


def merge_conflict(repo: Path, name: str) -> None:
    """Two branches change the same line of `name`; merge them, leaving git's conflict."""
    write(repo, name, "value = 0\n")
    git_commit(repo, "base")
    run(["git", "switch", "--quiet", "--create", "other"], repo)
    write(repo, name, "value = 1\n")
    git_commit(repo, "theirs")
    run(["git", "switch", "--quiet", "main"], repo)
    write(repo, name, "value = 2\n")
    git_commit(repo, "ours")
    merged = subprocess.run(
        ["git", "merge", "--quiet", "other"], cwd=repo, capture_output=True, check=False
    )
    assert merged.returncode == 1, merged


def test_git_unmerged_files_count_even_without_markers(repo: Path) -> None:
    merge_conflict(repo, "settings.toml")
    assert update.find_conflicts(repo) == [update.Conflict("settings.toml", 1)]

    # Markers deleted, but not `git add`ed: git still records the file as unmerged.
    write(repo, "settings.toml", "value = 3\n")

    assert update.conflict_markers(repo) == []
    assert update.find_conflicts(repo) == [update.Conflict("settings.toml", None)]


def test_check_no_conflict_markers_fails_with_one_line_per_file(repo: Path) -> None:
    write(repo, "pyproject.toml", '[project]\nname = "x"\n' + conflict("a = 1", "a = 2"))
    write(repo, "uv.lock", "version = 1\n" + conflict("a = 1", "a = 2"))
    write(repo, ".gitignore", "ignored/\n" + conflict("dist/", "build/"))
    write(repo, "src/app.py", conflict("x = 1", "x = 2") + conflict("y = 1", "y = 2"))

    with pytest.raises(Exit) as failure:
        update.check_no_conflict_markers(repo)

    assert failure.value.code == 1
    lines = str(failure.value.message).splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [
        ".gitignore:2",
        "pyproject.toml:3",
        "src/app.py:1",
        "uv.lock:2",
    ]
    assert all("unresolved conflict" in line for line in lines)
    assert "run `uv lock`" in lines[1]
    assert "git checkout HEAD -- uv.lock" in lines[3]


def test_a_monorepo_folder_counts_the_files_rendered_at_the_root(repo: Path) -> None:
    """The workflows and the answers file are the template's too, at the repository root."""
    write(repo, "backend/pyproject.toml", '[tool.shipshape]\nworkspace = ".."\n')
    write(repo, "frontend/notes.md", conflict("theirs", "ours"))  # not the template's
    update.check_no_conflict_markers(repo / "backend")
    write(repo, ".github/workflows/ci.yml", "name: CI\n" + conflict("on: push", "on: [push]"))
    write(repo, ".copier-answers.yml", conflict("_commit: v1", "_commit: v2"))
    with pytest.raises(Exit) as failure:
        update.check_no_conflict_markers(repo / "backend")
    lines = str(failure.value.message).splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [
        ".github/workflows/ci.yml:2",
        ".copier-answers.yml:1",
    ]


def test_check_no_conflict_markers_passes_a_clean_tree(repo: Path) -> None:
    write(repo, "docs/heading.md", "Title\n" + BASE + "\n")
    update.check_no_conflict_markers(repo)


# Lines a file can hold: no line breaks, no NUL, and no lone surrogates (UTF-8 cannot encode
# them, so no file has them).
LINE_CHARACTERS = st.characters(blacklist_categories=["Cs"], blacklist_characters="\n\r\0")
TEXT_LINES = st.lists(st.text(alphabet=LINE_CHARACTERS, max_size=40), max_size=30)


@given(lines=TEXT_LINES, position=st.integers(min_value=0), marker=st.sampled_from([OURS, THEIRS]))
def test_the_first_marker_is_found_wherever_it_is(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], position: int, marker: str
) -> None:
    clean = [line for line in lines if not line.startswith(("<" * 7, ">" * 7))]
    at = position % (len(clean) + 1)
    path = tmp_path_factory.mktemp("marker") / "file"
    path.write_bytes("\n".join([*clean[:at], marker, *clean[at:]]).encode())

    assert update.first_marker_line(path) == at + 1


def conflicts(count: int) -> list[update.Conflict]:
    return [update.Conflict(f"src/package/module_number_{n:03}.py", 1) for n in range(count)]


def test_the_pull_request_title_lists_every_conflicted_file_that_fits() -> None:
    title = update.pull_request_title("v0.1.0", "v0.2.0", conflicts(2))
    assert title == (
        "Update from the template: v0.1.0 to v0.2.0 (conflicts in "
        "src/package/module_number_000.py, src/package/module_number_001.py)"
    )
    long = update.pull_request_title("v0.1.0", "v0.2.0", conflicts(40))
    assert len(long) <= update.TITLE_LIMIT
    shown = long.count("module_number_")
    assert long.endswith(f" and {40 - shown} more)")
    assert update.pull_request_title("v0.1.0", "v0.2.0", []) == (
        "Update from the template: v0.1.0 to v0.2.0"
    )


def test_the_pull_request_body_lists_every_conflicted_file() -> None:
    found = [update.Conflict("Dockerfile", 12), update.Conflict("pyproject.toml", 40)]
    body = update.pull_request_body("v0.1.0", "v0.2.0", found, update.CiResult.NOT_RUN)

    assert "- `invoke ci`: not run: resolve the conflicts first" in body.splitlines()
    assert "  - `Dockerfile` (line 12)" in body.splitlines()
    assert "  - `pyproject.toml` (line 40)" in body.splitlines()
    assert "`uv lock`" in body
