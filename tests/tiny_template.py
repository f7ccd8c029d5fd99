"""Tiny two-release templates for migration tests: render the first release, update to the next."""

from pathlib import Path

import copier

from helpers import git_commit, run


def render_v1(template: Path, destination: Path) -> Path:
    """A service rendered from the template's `v1` tag and committed."""
    copier.run_copy(str(template), destination, vcs_ref="v1", defaults=True, quiet=True)
    run(["git", "init", "--quiet", "--initial-branch=main"], destination)
    git_commit(destination, "Render v1")
    return destination


def update(service: Path) -> None:
    """Commit the service's edits, then `copier update` it (inline conflicts, migrations run)."""
    git_commit(service, "Edits")
    copier.run_update(
        service,
        defaults=True,
        overwrite=True,
        unsafe=True,
        skip_answered=True,
        conflict="inline",
        quiet=True,
    )
