"""The files a local event changed, as GitHub would compare them for `paths` filters.

A pull request: the merge base of its base branch and HEAD, to HEAD (GitHub's three-dot
diff). A push: the commits since the branch's upstream, or since the default branch when
it has none; a push of the default branch itself compares with its previous commit, as
GitHub compares a push with the commit before it. Uncommitted changes are always listed,
and counted only when asked: GitHub never sees them.
"""

from dataclasses import dataclass
from pathlib import Path

from devtasks.machine import git_lines


@dataclass(frozen=True)
class Changes:
    """What the event compares, the committed files it changed, and what is not committed."""

    compared: str
    committed: tuple[str, ...]
    uncommitted: tuple[str, ...]
    # Why the files could not be compared (no such base branch): a paths filter then stops
    # the run with this line rather than deciding on no files.
    problem: str = ""

    def counted(self, *, include_uncommitted: bool) -> tuple[str, ...]:
        """The changed files the `paths` filters see."""
        if not include_uncommitted:
            return self.committed
        return tuple(sorted({*self.committed, *self.uncommitted}))


def _commit(root: Path, ref: str) -> str | None:
    found = git_lines(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    return found[0].strip() if found else None


def _base_commit(root: Path, base: str) -> str | None:
    """The base branch's commit: the local branch, else the remote-tracking one."""
    return _commit(root, base) or _commit(root, f"origin/{base}")


def _diff(root: Path, start: str) -> tuple[str, ...]:
    return tuple(git_lines(root, "diff", "--name-only", "--no-renames", "-z", start, "HEAD") or ())


def _uncommitted(root: Path) -> tuple[str, ...]:
    tracked = git_lines(root, "diff", "--name-only", "--no-renames", "-z", "HEAD") or []
    untracked = git_lines(root, "ls-files", "--others", "--exclude-standard", "-z") or []
    return tuple(sorted({*tracked, *untracked}))


def _last_commit(root: Path) -> tuple[str, tuple[str, ...]]:
    """The files HEAD changed against its parent (all of them for a first commit)."""
    listed = git_lines(
        root,
        "diff-tree",
        "--no-commit-id",
        "--name-only",
        "--no-renames",
        "-r",
        "-z",
        "--root",
        "HEAD",
    )
    return "HEAD^..HEAD", tuple(listed or ())


def changed_files(root: Path, event: str, base: str) -> Changes:
    """The files `event` changed; outside git, none (and a paths filter then matches nothing)."""
    head = _commit(root, "HEAD")
    if head is None:
        return Changes("nothing: not a git repository with a commit", (), ())
    uncommitted = _uncommitted(root)
    if event == "pull_request":
        base_commit = _base_commit(root, base)
        if base_commit is None:
            problem = f"ci: --base {base}: no such branch (nor origin/{base}); fetch it or name one"
            return Changes("nothing", (), uncommitted, problem)
        merge_base = git_lines(root, "merge-base", base_commit, "HEAD")
        if not merge_base:
            return Changes(
                "nothing", (), uncommitted, f"ci: --base {base} shares no history with HEAD"
            )
        return Changes(f"{base}...HEAD", _diff(root, merge_base[0].strip()), uncommitted)
    if event != "push":
        return Changes("nothing: only push and pull_request compare files", (), uncommitted)
    return _pushed(root, head, base, uncommitted)


def _pushed(root: Path, head: str, base: str, uncommitted: tuple[str, ...]) -> Changes:
    """A push: since the upstream, else since the default branch, else HEAD's own commit."""
    upstream = git_lines(root, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}")
    since = upstream[0].strip() if upstream else base
    since_commit = _base_commit(root, since)
    start = git_lines(root, "merge-base", since_commit, "HEAD") if since_commit else None
    if not start or start[0].strip() == head:
        compared, committed = _last_commit(root)
        return Changes(compared, committed, uncommitted)
    return Changes(f"{since}...HEAD", _diff(root, start[0].strip()), uncommitted)
