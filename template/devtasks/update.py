"""`invoke template-update`: bring the template's newest release into this service.

copier merges the template's changes with the service's own, file by file (a three-way merge;
where both changed the same lines, the conflict is marked inline), the lock is regenerated
rather than merged, and `invoke ci` proves the result. With `--pull-request` (the scheduled
workflow uses it) the result goes to a branch and a pull request.
"""

import base64
import os
from pathlib import Path

import yaml
from invoke.context import Context
from invoke.exceptions import Exit

from .jobs import require_tool, run

ANSWERS_FILE = Path(".copier-answers.yml")
# copier's label for the service's side of an inline conflict; a line that is exactly this
# marks a conflict to resolve.
CONFLICT_MARKER = "<<<<<<< before updating"
COPIER_UPDATE = (
    "copier",
    "update",
    "--trust",  # the template's migrations and lock regeneration run commands
    "--skip-answered",
    "--defaults",
    "--conflict",
    "inline",
)
BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
TOKEN_VARIABLE = "GH_TOKEN"  # noqa: S105 - the name of a variable, not a secret


def fail(reason: str) -> Exit:
    """A one-line refusal or failure of the task."""
    return Exit(f"template-update: {reason}", code=1)


def git(c: Context, *argv: str, env: dict[str, str] | None = None) -> str:
    """Run git quietly and return its output; a failure is a one-line error."""
    return run(c, "git", *argv, env=env, hide=True).strip()


def check_clean_repository(c: Context) -> None:
    """Refuse, with the reason, unless this is a git work tree without uncommitted changes."""
    require_tool("git", "install git")
    inside = c.run("git rev-parse --is-inside-work-tree", warn=True, hide=True, pty=False)
    if inside is None or not inside.ok:
        message = "not a git repository; copier merges updates with git: `git init` and commit"
        raise fail(message)
    changes = git(c, "status", "--porcelain").splitlines()
    if changes:
        message = (
            f"{len(changes)} uncommitted change(s) in the working tree; commit or stash "
            "them first, so the update is a change of its own"
        )
        raise fail(message)


def template_version() -> str:
    """The template release this service was last rendered from."""
    answers = yaml.safe_load(ANSWERS_FILE.read_text(encoding="utf-8")) or {}
    return str(answers.get("_commit", "unknown"))


def conflicted_files(c: Context) -> list[str]:
    """Files, tracked or new, holding a conflict copier marked inline."""
    found = c.run(
        f"git grep --untracked -l -x -F '{CONFLICT_MARKER}'", warn=True, hide=True, pty=False
    )
    return found.stdout.split() if found is not None and found.ok else []


def rejected_hunks(c: Context) -> list[str]:
    """`.rej` files: what copier could not merge when conflicts are not inline."""
    return git(c, "ls-files", "--others", "--exclude-standard", "--", "*.rej").split()


def push_env() -> dict[str, str]:
    """Configuration that lets git push to GitHub with GH_TOKEN, kept out of the command line.

    The checkout does not persist its credentials, so the token reaches git only here, as
    the header actions/checkout would set.
    """
    token = os.environ.get(TOKEN_VARIABLE, "")
    if not token:
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.https://github.com/.extraheader",
        "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
    }


def pull_request_body(before: str, after: str, conflicts: list[str], ci: str) -> str:
    """What the pull request says about the update."""
    lines = [
        f"Updates this service from the template's {before} to {after} (`invoke template-update`).",
        "",
        f"- `invoke ci`: {ci}",
    ]
    if conflicts:
        lines.append(f"- conflicts to resolve (search for `{CONFLICT_MARKER}`):")
        lines += [f"  - `{path}`" for path in conflicts]
    else:
        lines.append("- conflicts: none")
    lines += ["", "The template's CHANGELOG.md says what changed and why."]
    return "\n".join(lines)


def check_pull_request_tools() -> None:
    """Refuse `--pull-request` up front, before anything changes, when it could not finish."""
    require_tool("gh", "install the GitHub CLI (preinstalled on GitHub's runners)")
    if not os.environ.get(TOKEN_VARIABLE):
        message = f"--pull-request needs {TOKEN_VARIABLE}, a token that may push and open PRs"
        raise fail(message)


def branch_exists(c: Context, branch: str) -> bool:
    """Whether the remote has the branch already (its pull request was opened earlier)."""
    return bool(git(c, "ls-remote", "--heads", "origin", branch, env=push_env()))


def commit_identity() -> dict[str, str] | None:
    """On GitHub Actions, the bot commits; git's identity variables outrank any config."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return None
    return {
        f"GIT_{role}_{part}": value
        for role in ("AUTHOR", "COMMITTER")
        for part, value in (("NAME", BOT_NAME), ("EMAIL", BOT_EMAIL))
    }


def open_pull_request(c: Context, branch: str, title: str, body: str, *, draft: bool) -> None:
    """Commit the update to its branch, push it and open a pull request for it."""
    base = git(c, "rev-parse", "--abbrev-ref", "HEAD")
    git(c, "switch", "--create", branch)
    git(c, "add", "--all")
    git(c, "commit", "--quiet", "--message", title, env=commit_identity())
    git(c, "push", "--quiet", "origin", branch, env=push_env())
    pr = ["gh", "pr", "create", "--base", base, "--head", branch, "--title", title]
    url = run(c, *pr, *(["--draft"] if draft else []), "--body", body, hide=True).strip()
    print(f"template-update: opened {url}")


def update(c: Context, *, vcs_ref: str = "", pull_request: bool = False) -> None:
    """Update from the template, re-lock, run `invoke ci`, optionally open a pull request."""
    check_clean_repository(c)
    if pull_request:
        check_pull_request_tools()
    before = template_version()
    run(c, *COPIER_UPDATE, *(["--vcs-ref", vcs_ref] if vcs_ref else []))
    after = template_version()
    if not git(c, "status", "--porcelain"):
        print(f"template-update: already up to date with the template ({after})")
        return
    rejected = rejected_hunks(c)
    if rejected:
        message = f"copier left rejected changes in {', '.join(rejected)}: merge them by hand"
        raise fail(message)
    branch = f"template-update/{after}"
    if pull_request and branch_exists(c, branch):
        print(f"template-update: branch {branch} exists already; its pull request stays open")
        return
    conflicts = conflicted_files(c)
    ci = "not run: resolve the conflicts first"
    if not conflicts:
        # The template locks after merging; lock again for releases that did not.
        run(c, "uv", "lock", "--quiet")
        passed = c.run("uv run --locked invoke ci", warn=True, pty=False)
        ci = "passed" if passed is not None and passed.ok else "failed"
    if pull_request:
        title = f"Update from the template: {before} to {after}"
        body = pull_request_body(before, after, conflicts, ci)
        open_pull_request(c, branch, title, body, draft=bool(conflicts) or ci != "passed")
    if conflicts:
        message = (
            f"updated {before} -> {after}; resolve the conflicts in {', '.join(conflicts)} "
            f"(lines from `{CONFLICT_MARKER}`), then run `uv run --locked invoke ci`"
        )
        raise fail(message)
    if ci != "passed":
        message = f"updated {before} -> {after}, but `invoke ci` failed: fix it, then commit"
        raise fail(message)
    if not pull_request:
        print(f"template-update: updated {before} -> {after}, `invoke ci` passed: review, commit")
