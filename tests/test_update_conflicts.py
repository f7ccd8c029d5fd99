"""An update never hides a conflict, whatever kind of file holds it.

A throwaway copy of this repository tags the working tree as a release, and a newer release
appends a comment line to one template-owned file of every kind (YAML, TOML, a Dockerfile,
Python, both ignore files) and adds a dependency. A service rendered at the first release
appends its own line to the same file, so the update conflicts exactly there. Run by hand,
`invoke template-update` fails naming the file and commits nothing; with `--pull-request` it
opens a draft pull request whose title and body list every conflicted file.
"""

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from invoke.exceptions import Exit

from helpers import ROOT, copy_project, git_commit, run
from template_repo import (
    clone_with_worktree,
    gh_arguments,
    next_release,
    pull_request_setup,
    task_lines,
    template_update,
    version_numbers,
)

sys.path.insert(0, str(ROOT / "template"))
from devtasks.jobs import update

pytestmark = pytest.mark.slow

# Built from pieces, so this file holds no marker at a line start.
OURS, BASE, THEIRS = "<" * 7 + " before updating", "=" * 7, ">" * 7 + " after updating"
DEPENDENCIES = "dependencies = [\n"
NEW_DEPENDENCY = '    "anyio>=4",\n'


@dataclass(frozen=True)
class Kind:
    """A kind of template-owned file, and the one file of that kind the tests conflict."""

    name: str
    path: str  # in the service
    source: str  # under template/

    @property
    def template_line(self) -> str:
        return f"# {self.name}: a line the template's newer release adds\n"

    @property
    def team_line(self) -> str:
        return f"# {self.name}: a line the team adds\n"

    @property
    def conflict(self) -> str:
        """The inline conflict the update must leave: the team's line, then the template's."""
        return f"{OURS}\n{self.team_line}{BASE}\n{self.template_line}{THEIRS}\n"


KINDS = (
    Kind("yaml", "compose.yaml", "compose.yaml.jinja"),
    Kind("toml", "pyproject.toml", "pyproject.toml.jinja"),
    Kind("dockerfile", "Dockerfile", "Dockerfile.jinja"),
    Kind("python", "noxfile.py", "noxfile.py"),
    Kind("gitignore", ".gitignore", ".gitignore"),
    Kind("dockerignore", ".dockerignore", ".dockerignore"),
)
TOML = next(kind for kind in KINDS if kind.path == "pyproject.toml")


@dataclass(frozen=True)
class Releases:
    """A copy of shipshape with the working tree released, and a newer release after it."""

    path: Path
    current: str
    newer: str


def append(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + line, encoding="utf-8")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Releases:
    repo = clone_with_worktree(tmp_path_factory.mktemp("conflicts") / "shipshape")
    current = next_release()
    run(["git", "tag", current], repo)
    for kind in KINDS:
        append(repo / "template" / kind.source, kind.template_line)
    pyproject = repo / "template" / TOML.source
    text = pyproject.read_text(encoding="utf-8")
    assert text.count(DEPENDENCIES) == 1, "pyproject.toml.jinja's dependencies moved"
    pyproject.write_text(text.replace(DEPENDENCIES, DEPENDENCIES + NEW_DEPENDENCY))
    git_commit(repo, "A newer release: a line in every kind of file, and a dependency")
    major, minor, patch = version_numbers(current)
    newer = f"v{major}.{minor}.{patch + 1}"
    run(["git", "tag", newer], repo)
    return Releases(repo, current, newer)


@pytest.fixture(scope="module")
def pristine(template: Releases, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A service rendered at the current release and committed, cloned by each test."""
    destination = tmp_path_factory.mktemp("pristine") / "service"
    return copy_project(destination, template=template.path, vcs_ref=template.current)


@pytest.fixture
def service(pristine: Path, tmp_path: Path) -> Path:
    destination = tmp_path / "service"
    run(["git", "clone", "--quiet", str(pristine), str(destination)], tmp_path)
    run(["git", "remote", "remove", "origin"], destination)
    return destination


def head(service: Path) -> str:
    return run(["git", "rev-parse", "HEAD"], service).stdout.strip()


def edit_and_commit(service: Path, kinds: tuple[Kind, ...]) -> str:
    """The team's line appended to each kind's file, committed; the commit."""
    for kind in kinds:
        append(service / kind.path, kind.team_line)
    git_commit(service, "The team's edits")
    return head(service)


def assert_named_by_hand(
    template: Releases, result: subprocess.CompletedProcess[str], kind: Kind
) -> None:
    """Exit 1; one task line names the file and its conflict, the last one says what to do."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    lines = task_lines(result.stderr)
    assert lines[-1] == (
        f"template-update: updated {template.current} -> {template.newer} with conflicts in "
        f"{kind.path}: resolve them here, then run `uv lock` and `uv run --locked invoke ci`, "
        "and commit"
    ), output
    named = [line for line in lines if "unresolved conflict" in line]
    assert len(named) == 1, output
    assert named[0].startswith(f"template-update: {kind.path}:"), output


def assert_nothing_committed(service: Path, before: str) -> None:
    assert head(service) == before, "the update committed by hand"
    branches = run(["git", "branch", "--format=%(refname:short)"], service).stdout.split()
    assert branches == ["main"]


@pytest.mark.parametrize("kind", [k for k in KINDS if k is not TOML], ids=lambda k: k.name)
def test_a_conflict_by_hand_fails_naming_the_file_and_commits_nothing(
    template: Releases, service: Path, kind: Kind
) -> None:
    before = edit_and_commit(service, (kind,))

    result = template_update(service)

    assert_named_by_hand(template, result, kind)
    assert_nothing_committed(service, before)
    assert kind.conflict in (service / kind.path).read_text(encoding="utf-8")


def resolve_keeping_both(path: Path) -> None:
    """Resolve a file's inline conflicts by keeping both sides' lines."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if line.rstrip("\n") not in {OURS, BASE, THEIRS}]
    path.write_text("".join(kept), encoding="utf-8")


def test_a_pyproject_conflict_is_named_and_the_lock_follows_its_resolution(
    template: Releases, service: Path
) -> None:
    before = edit_and_commit(service, (TOML,))

    result = template_update(service)

    assert_named_by_hand(template, result, TOML)
    assert not any("TOML" in line for line in task_lines(result.stderr)), result.stderr
    assert_nothing_committed(service, before)
    pyproject = service / "pyproject.toml"
    assert TOML.conflict in pyproject.read_text(encoding="utf-8")
    # The lint job's check names it too, until it is resolved.
    with pytest.raises(Exit, match=r"^pyproject\.toml:\d+: unresolved conflict"):
        update.check_no_conflict_markers(service)

    resolve_keeping_both(pyproject)
    update.check_no_conflict_markers(service)
    # The merge could not lock a conflicted pyproject.toml: the lock lacks the new dependency
    # until `uv lock`, as the task said, regenerates it.
    stale = run(["uv", "lock", "--check"], service, check=False)
    assert stale.returncode != 0, "the lock already followed the unresolved pyproject.toml"
    run(["uv", "lock", "--quiet"], service)
    run(["uv", "lock", "--check"], service)
    assert NEW_DEPENDENCY.strip().strip('",') in pyproject.read_text(encoding="utf-8")


def test_conflicts_with_pull_request_open_a_draft_listing_every_file(
    template: Releases, service: Path, tmp_path: Path
) -> None:
    before = edit_and_commit(service, KINDS)
    env = pull_request_setup(service, tmp_path)
    origin = tmp_path / "origin.git"

    result = template_update(service, "--pull-request", env=env)

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    paths = sorted(kind.path for kind in KINDS)
    lines = task_lines(result.stderr)
    assert lines[-1].startswith(
        f"template-update: updated {template.current} -> {template.newer} with conflicts in "
        f"{', '.join(paths)}: resolve them on the pull request's branch"
    ), output
    gh = gh_arguments(env)
    assert "--draft" in gh
    title = gh[gh.index("--title") + 1]
    assert title == (
        f"Update from the template: {template.current} to {template.newer} "
        f"(conflicts in {', '.join(paths)})"
    )
    body = gh[gh.index("--body") + 1 :]
    listed = [line.split("`")[1] for line in body if line.startswith("  - `")]
    assert listed == paths
    assert "- `invoke ci`: not run: resolve the conflicts first" in body
    # The draft's branch carries the markers; main, here and on origin, is untouched.
    branch = f"template-update/{template.newer}"
    for kind in KINDS:
        pushed = run(["git", "show", f"{branch}:{kind.path}"], origin).stdout
        assert kind.conflict in pushed, kind.path
    assert run(["git", "rev-parse", "main"], origin).stdout.strip() == before
    assert run(["git", "rev-parse", "main"], service).stdout.strip() == before
