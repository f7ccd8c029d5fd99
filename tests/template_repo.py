"""Throwaway copies of this repository, for tests that make commits and tags of their own.

A copy has the real history and release tags, plus the working tree committed on top, so
tests exercise the template as it is now (like `copy_project`, which renders uncommitted
changes too) and never tag the real repository.
"""

import re
import shutil
from pathlib import Path

from helpers import ROOT, copier_config, git_commit, run

RELEASE_TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")


def release_tags(repo: Path = ROOT) -> list[str]:
    """The repository's release tags `vX.Y.Z`, oldest first."""
    tags = run(["git", "tag", "--list", "v*"], repo).stdout.split()
    return sorted((t for t in tags if RELEASE_TAG.match(t)), key=version_numbers)


def version_numbers(tag: str) -> tuple[int, int, int]:
    """(major, minor, patch) of `vX.Y.Z` or `X.Y.Z`."""
    match = RELEASE_TAG.match(tag if tag.startswith("v") else f"v{tag}")
    if match is None:
        message = f"{tag!r} is not a release version"
        raise AssertionError(message)
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def migration_versions() -> list[str]:
    """The versions of copier.yml's `_migrations` entries that have one."""
    entries = copier_config().get("_migrations", [])
    return [str(entry["version"]) for entry in entries if "version" in entry]


def next_release() -> str:
    """A release tag newer than every real release and every migration: the working tree's."""
    newest = max(
        [version_numbers(tag) for tag in [*release_tags(), *migration_versions()]],
        default=(0, 0, 0),
    )
    return f"v{newest[0]}.{newest[1]}.{newest[2] + 1}"


def clone_with_worktree(destination: Path) -> Path:
    """Clone this repository (history and tags) and commit the working tree on top."""
    run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(destination)], ROOT)
    listed = run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT
    ).stdout
    for name in filter(None, listed.split("\0")):
        source, target = ROOT / name, destination / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        elif target.exists():  # deleted in the working tree, not yet committed
            target.unlink()
    git_commit(destination, "The working tree under test")
    return destination
