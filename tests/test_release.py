"""`invoke release`, run in throwaway clones: what it refuses, and what a release is."""

import re
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import copier
import pytest
import yaml

from helpers import ROOT, git_commit, run
from template_repo import clone_with_worktree, next_release, release_tags

sys.path.insert(0, str(ROOT / "template"))
sys.path.insert(0, str(ROOT))
import releasing

DATE = "2031-01-02"


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    return clone_with_worktree(tmp_path / "shipshape")


def note_a_change(repo: Path) -> None:
    """Commit an entry under Unreleased, as a change would: right after a release it is empty."""
    changelog = repo / "CHANGELOG.md"
    text = changelog.read_text(encoding="utf-8")
    entry = "### Fixed\n\n- A change the release test made.\n\n"
    changelog.write_text(text.replace("## [Unreleased]\n\n", f"## [Unreleased]\n\n{entry}", 1))
    git_commit(repo, "A change for the release test")


def release(repo: Path, version: str) -> tuple[int, str]:
    result = run(
        [sys.executable, "-m", "invoke", "release", version, "--date", DATE], repo, check=False
    )
    return result.returncode, result.stdout + result.stderr


def head(repo: Path) -> str:
    return run(["git", "rev-parse", "HEAD"], repo).stdout.strip()


def test_a_release_moves_unreleased_commits_and_tags(clone: Path) -> None:
    note_a_change(clone)
    tag = next_release()
    version = tag.removeprefix("v")
    unreleased = (clone / "CHANGELOG.md").read_text(encoding="utf-8")
    entries = unreleased.split("## [Unreleased]\n", 1)[1].strip()

    code, output = release(clone, version)

    assert code == 0, output
    changelog = (clone / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## [Unreleased]\n\n## [{version}] - {DATE}\n\n{entries}\n" in changelog
    pyproject = tomllib.loads((clone / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["version"] == version
    run(["uv", "lock", "--check", "--offline"], clone)
    assert run(["git", "status", "--porcelain"], clone).stdout == ""
    assert run(["git", "log", "-1", "--format=%s"], clone).stdout.strip() == f"Release {tag}"
    assert run(["git", "describe", "--tags", "--exact-match"], clone).stdout.strip() == tag
    assert run(["git", "cat-file", "-t", tag], clone).stdout.strip() == "tag"  # annotated


def test_every_release_in_the_changelog_is_tagged_or_recoverable() -> None:
    # Tests that update "from every real release" read release_tags(); none may go missing.
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    named = [f"v{version}" for version in releasing.changelog_releases(changelog)]
    assert named, "CHANGELOG.md names no release"
    missing = sorted(set(named) - set(release_tags()))
    assert missing == [], f"released in CHANGELOG.md, yet neither tagged nor recoverable: {missing}"


def tagged_commit(repo: Path, tag: str) -> str:
    return run(["git", "rev-parse", f"{tag}^{{commit}}"], repo).stdout.strip()


def test_a_lost_release_tag_is_restored_from_its_release_commit(clone: Path) -> None:
    # The copy restored the real releases' tags; each sits on its `Release vX.Y.Z` commit.
    for tag in release_tags():
        subject = run(["git", "log", "-1", "--format=%s", tag], clone).stdout.strip()
        assert subject == f"Release {tag}"
    note_a_change(clone)
    tag = next_release()
    code, output = release(clone, tag)
    assert code == 0, output
    released = head(clone)
    made = run(["git", "cat-file", "-p", tag], clone).stdout
    run(["git", "tag", "--delete", tag], clone)
    git_commit(clone, "Work after the release")

    assert releasing.restore_release_tags(clone) == [tag]

    assert tagged_commit(clone, tag) == released
    assert run(["git", "cat-file", "-t", tag], clone).stdout.strip() == "tag"  # annotated
    restored = run(["git", "cat-file", "-p", tag], clone).stdout
    # Same object, message and tag name as the one `invoke release` made (not the tagger).
    assert restored.splitlines()[:3] == made.splitlines()[:3]
    assert restored.split("\n\n", 1)[1] == made.split("\n\n", 1)[1]
    assert releasing.restore_release_tags(clone) == [], "a second restore made tags again"


def test_a_release_subject_without_its_release_is_refused(clone: Path) -> None:
    git_commit(clone, "Release v9.9.9")

    with pytest.raises(releasing.ReleaseError, match=r"has no `## \[9\.9\.9\]` section"):
        releasing.restore_release_tags(clone)


def test_a_tag_elsewhere_than_its_release_commit_is_refused(clone: Path) -> None:
    real = release_tags()[0]
    run(["git", "tag", "--delete", real], clone)
    run(["git", "tag", real, "HEAD"], clone)

    with pytest.raises(releasing.ReleaseError, match=rf"tag {real} points at"):
        releasing.restore_release_tags(clone)


def test_a_service_records_the_release_it_was_rendered_from(clone: Path, tmp_path: Path) -> None:
    note_a_change(clone)
    tag = next_release()
    code, output = release(clone, tag)
    assert code == 0, output
    # No --vcs-ref: copier takes the newest release, and the answers file names it.
    copier.run_copy(str(clone), tmp_path / "service", defaults=True, skip_tasks=True, quiet=True)
    answers = yaml.safe_load((tmp_path / "service" / ".copier-answers.yml").read_text())
    assert answers["_commit"] == tag


def dirty(repo: Path) -> str:
    (repo / "README.md").write_text("changed\n", encoding="utf-8")
    return next_release()


def already_tagged(repo: Path) -> str:
    tag = next_release()
    run(["git", "tag", tag], repo)
    return tag


def older_than_the_newest(repo: Path) -> str:
    run(["git", "tag", "v50.0.0"], repo)
    return "49.9.9"


def nothing_unreleased(repo: Path) -> str:
    changelog = repo / "CHANGELOG.md"
    text = changelog.read_text(encoding="utf-8")
    start = text.index("## [Unreleased]\n") + len("## [Unreleased]\n")
    following = re.search(r"^## \[", text[start:], re.MULTILINE)
    end = start + following.start() if following else len(text)
    changelog.write_text(text[:start] + "\n" + text[end:], encoding="utf-8")
    git_commit(repo, "Empty Unreleased section")
    return next_release()


def add_migration(repo: Path, version: str) -> None:
    copier_yml = repo / "copier.yml"
    text = copier_yml.read_text(encoding="utf-8")
    entry = f'  - version: {version}\n    command: [echo, "migrating"]\n'
    copier_yml.write_text(text.replace("_migrations:\n", f"_migrations:\n{entry}", 1))
    git_commit(repo, f"A migration for {version}")


def migration_newer_than_the_release(repo: Path) -> str:
    add_migration(repo, "v99.0.0")
    return next_release()


def migration_that_would_never_run(repo: Path) -> str:
    run(["git", "tag", "v90.0.0"], repo)
    add_migration(repo, "v0.0.1")
    return "90.1.0"


REFUSALS: dict[str, tuple[Callable[[Path], str], str]] = {
    "not semver": (lambda _: "1.2", r"'1\.2' is not a release version: use MAJOR\.MINOR\.PATCH"),
    "dirty tree": (dirty, "the working tree has uncommitted changes"),
    "tag exists": (already_tagged, r"v\d+\.\d+\.\d+ is released already"),
    "older": (older_than_the_newest, r"49\.9\.9 is older than the newest release, v50\.0\.0"),
    "no entries": (nothing_unreleased, r"nothing under `## \[Unreleased\]`"),
    "migration too new": (migration_newer_than_the_release, r"migration for v99\.0\.0 is newer"),
    "migration too old": (
        migration_that_would_never_run,
        r"migration for v0\.0\.1 was added after v90\.0\.0, so services on v90\.0\.0 would never",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_release_refuses_with_one_line_and_changes_nothing(clone: Path, case: str) -> None:
    arrange, expected = REFUSALS[case]
    version = arrange(clone)
    before = head(clone), run(["git", "status", "--porcelain"], clone).stdout
    tags = run(["git", "tag", "--list"], clone).stdout

    code, output = release(clone, version)

    assert code == 1, output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert re.search(rf"^release: .*{expected}", lines[0]), output
    assert (head(clone), run(["git", "status", "--porcelain"], clone).stdout) == before
    assert run(["git", "tag", "--list"], clone).stdout == tags
