"""Throwaway copies of this repository, for tests that make commits and tags of their own.

Also how those tests run `invoke template-update` in a service rendered from a copy, with a
fake GitHub CLI that records how it was called.

A copy has the real history and every real release tagged, plus the working tree committed on
top, so tests exercise the template as it is now (like `copy_project`, which renders
uncommitted changes too) and never tag the real repository. Release tags do not always travel
with a repository, so a copy recreates the missing ones from their release commits
(`releasing.restore_release_tags`), and `release_tags()` counts those too.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import ROOT, copier_config, git_commit, run

# The template repo's own release module, and the template's devtasks it imports.
sys.path.insert(0, str(ROOT / "template"))
sys.path.insert(0, str(ROOT))
import releasing

RELEASE_TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")


def release_tags(repo: Path = ROOT) -> list[str]:
    """The repository's releases `vX.Y.Z`, oldest first: its tags and its release commits.

    A release whose tag is missing still counts, recovered from its release commit; copies
    made by `clone_with_worktree` have the tag.
    """
    tags = run(["git", "tag", "--list", "v*"], repo).stdout.split()
    recorded = [record.tag for record in releasing.release_records(repo)]
    return sorted({t for t in [*tags, *recorded] if RELEASE_TAG.match(t)}, key=version_numbers)


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
    """Clone this repository (history and tags, lost ones restored) and commit the working tree."""
    run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(destination)], ROOT)
    releasing.restore_release_tags(destination)
    listed = run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT
    ).stdout
    for name in filter(None, listed.split("\0")):
        source, target = ROOT / name, destination / name
        if source.is_symlink():  # monorepo/'s links into template/, kept links
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)
            target.symlink_to(source.readlink())
        elif source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        elif target.exists():  # deleted in the working tree, not yet committed
            target.unlink()
    git_commit(destination, "The working tree under test")
    return destination


PULL_REQUEST_URL = "https://github.com/example-org/my-service/pull/7"
FAKE_GH = f"""#!/bin/sh
# Stands in for the GitHub CLI: records its arguments and prints a pull request's address.
printf '%s\\n' "$@" > "$GH_ARGUMENTS"
echo "{PULL_REQUEST_URL}"
"""


def template_update(
    service: Path, *flags: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the service's `invoke template-update` as a team would; its exit code is the test's."""
    argv = ["uv", "run", "--locked", "invoke", "template-update", *flags]
    return run(argv, service, env=env, check=False, timeout=1800)


def task_lines(output: str) -> list[str]:
    """The lines `invoke template-update` itself wrote, not copier's, uv's or git's."""
    return [line for line in output.splitlines() if line.startswith("template-update:")]


def pull_request_setup(service: Path, work: Path) -> dict[str, str]:
    """A bare `origin` with the service's main branch, and a fake `gh`: the environment to use.

    The fake records its arguments in `work/gh-arguments`, one per line.
    """
    origin = work / "origin.git"
    run(["git", "init", "--quiet", "--bare", str(origin)], work)
    run(["git", "remote", "add", "origin", str(origin)], service)
    run(["git", "push", "--quiet", "origin", "main"], service)
    bin_dir = work / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH, encoding="utf-8")
    (bin_dir / "gh").chmod(0o755)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "GH_TOKEN": "not-a-real-token",
        "GH_ARGUMENTS": str(work / "gh-arguments"),
        "GITHUB_ACTIONS": "true",
    }


def gh_arguments(env: dict[str, str]) -> list[str]:
    """The arguments the fake `gh` was last called with."""
    return Path(env["GH_ARGUMENTS"]).read_text(encoding="utf-8").splitlines()
