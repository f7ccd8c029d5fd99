"""The files a local event changed, as GitHub would compare them for `paths` filters.

A pull request: the merge base of its base branch and HEAD, to HEAD (GitHub's three-dot
diff). A push on GitHub: the push's `before` commit to HEAD (GitHub's two-dot diff of a
push), from the event payload. A push here: the commits since the branch's upstream, or since
the default branch when it has none; a push of the default branch itself compares with its
previous commit, as GitHub compares a push with the commit before it. Uncommitted changes
are always listed, and counted only when asked: GitHub never sees them.
"""

import json
import re
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


def changed_files(root: Path, event: str, base: str, *, before: str = "") -> Changes:
    """The files `event` changed; outside git, none (and a paths filter then matches nothing).

    `before` is a push's previous commit as GitHub's payload names it (`pushed_before`).
    """
    head = _commit(root, "HEAD")
    if head is None:
        return Changes("nothing: not a git repository with a commit", (), ())
    uncommitted = _uncommitted(root)
    if event == "pull_request":
        return _pulled(root, base, uncommitted)
    if event != "push":
        return Changes("nothing: only push and pull_request compare files", (), uncommitted)
    if before:
        return _since_before(root, before, uncommitted)
    return _pushed(root, head, base, uncommitted)


def _pulled(root: Path, base: str, uncommitted: tuple[str, ...]) -> Changes:
    """A pull request: from the merge base with its base branch to HEAD."""
    base_commit = _base_commit(root, base)
    if base_commit is None:
        problem = f"ci: --base {base}: no such branch (nor origin/{base}); fetch it or name one"
        return Changes("nothing", (), uncommitted, problem)
    merge_base = git_lines(root, "merge-base", base_commit, "HEAD")
    if not merge_base:
        return Changes("nothing", (), uncommitted, f"ci: --base {base} shares no history with HEAD")
    return Changes(f"{base}...HEAD", _diff(root, merge_base[0].strip()), uncommitted)


def _since_before(root: Path, before: str, uncommitted: tuple[str, ...]) -> Changes:
    """A push on GitHub: from the commit before it to HEAD, when the checkout has that commit."""
    if _commit(root, before) is None:
        problem = (
            f"the push's previous commit {before[:12]} is not in this checkout: "
            "check out with `fetch-depth: 0`"
        )
        return Changes("nothing", (), uncommitted, problem)
    return Changes(f"{before[:12]}..HEAD", _diff(root, before), uncommitted)


def pushed_before(payload_path: str | None) -> str:
    """The commit a push came after, from the runner's event payload; "" if none is named.

    A new branch's push names the zero commit, and a local run has no payload: then the
    push is compared as `invoke ci` compares one.
    """
    if not payload_path:
        return ""
    try:
        payload = json.loads(Path(payload_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    before = payload.get("before") if isinstance(payload, dict) else None
    if not isinstance(before, str) or not re.fullmatch(r"[0-9a-f]{40}", before):
        return ""
    return "" if before == "0" * 40 else before


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
