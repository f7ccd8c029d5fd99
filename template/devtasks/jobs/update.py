"""`invoke template-update`: bring the template's newest release into this service.

`copier check-update` says first whether there is a newer release; when there is none, the
task stops there. Otherwise copier merges the template's changes with the service's own, file
by file (a three-way merge; where both changed the same lines, the conflict is marked inline),
the lock is regenerated rather than merged, and `invoke ci` proves the result. A conflict is
never hidden: the task names every conflicted file and fails. With `--pull-request` (the
scheduled workflow uses it) the result goes to a branch and a pull request, a draft that lists
the conflicted files when there are any.
"""

import base64
import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import yaml
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.runners import Result

from devtasks import config
from devtasks.machine import git_lines, require_tool, run

ANSWERS_FILE = Path(".copier-answers.yml")
# A template location copier fetches rather than reads from disk: a URL, gh:/gl:, scp-style git.
REMOTE_SOURCE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|gh:|gl:|[\w.-]+@[\w.-]+:)")
COPIER_FILES = ("copier.yml", "copier.yaml")
SOURCE_LINE = re.compile(r"^_src_path:.*$", re.MULTILINE)
# copier's labels for the two sides of an inline conflict.
OURS_MARKER = "<<<<<<< before updating"
THEIRS_MARKER = ">>>>>>> after updating"
# A line that opens or closes any merge's conflict, copier's or git's: seven `<` or `>`,
# alone or before a label. A lone `=======` is no evidence: it underlines Markdown headings.
MARKER_LINE = re.compile(rb"^(?:<{7}|>{7})(?: |$)")
# git's own test for a binary file: a NUL byte within the first 8000 bytes.
BINARY_PROBE = 8000
# Outside a git work tree (the ci image has no .git), directories that are not the project's
# own files: virtualenvs mark themselves with pyvenv.cfg, caches with CACHEDIR.TAG.
NOT_PROJECT_DIRECTORY_MARKS = ("pyvenv.cfg", "CACHEDIR.TAG")
# What to do about a conflict, for files where "resolve it" is not the whole answer.
ADVICE = {
    "pyproject.toml": "resolve it, then run `uv lock`: the lock must follow pyproject.toml",
    "uv.lock": "never merge the lock: take one side whole (`git checkout HEAD -- uv.lock`), "
    "then run `uv lock`",
}
COPIER_CHECK_UPDATE = ("copier", "check-update", "--output-format", "json")
COPIER_UPDATE = (
    "copier",
    "update",
    "--trust",  # the template's migrations and lock regeneration run commands
    "--skip-answered",
    "--defaults",
    "--conflict",
    "inline",
)
WORKFLOWS = ".github/workflows/"
TITLE_LIMIT = 256  # characters: GitHub refuses a longer pull request title
BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
TOKEN_VARIABLE = "GH_TOKEN"  # noqa: S105 - the name of a variable, not a secret
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


class CiResult(Enum):
    """What `invoke ci` said about the updated service."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_RUN = "not run: resolve the conflicts first"


@dataclass(frozen=True, order=True)
class Conflict:
    """A file a merge left unresolved, and the line of its first conflict marker if any."""

    path: str
    line: int | None = None

    def describe(self) -> str:
        """One line: where the conflict is and what to do about it."""
        if self.line is None:
            return f"{self.path}: unmerged in git's index; resolve it, then `git add` it"
        advice = ADVICE.get(self.path, "resolve it")
        return f"{self.path}:{self.line}: unresolved conflict; {advice}"


@dataclass(frozen=True)
class UpdateCheck:
    """`copier check-update`'s answer: whether the template has a newer release."""

    available: bool
    current: str
    latest: str


def fail(reason: str) -> Exit:
    """A one-line refusal or failure of the task."""
    return Exit(f"template-update: {reason}", code=1)


def git(c: Context, *argv: str, env: dict[str, str] | None = None) -> str:
    """Run git quietly and return its output; a failure is a one-line error."""
    return run(c, "git", *argv, env=env, hide=True).strip()


def walked_files(root: Path) -> Iterator[str]:
    """Every file under `root` but git's own, virtualenvs' and caches', relative to it."""
    for directory, subdirectories, names in os.walk(root):
        here = Path(directory)
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if name != ".git"
            and not any((here / name / mark).exists() for mark in NOT_PROJECT_DIRECTORY_MARKS)
        )
        yield from ((here / name).relative_to(root).as_posix() for name in sorted(names))


def project_files(root: Path) -> list[str]:
    """The files a conflict can hide in: tracked and untracked, not ignored (git's view)."""
    listed = git_lines(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return sorted(set(listed) if listed is not None else set(walked_files(root)))


def first_marker_line(path: Path) -> int | None:
    """The line number of the file's first conflict marker, if it is a text file with one."""
    if path.is_symlink() or not path.is_file():
        return None
    content = path.read_bytes()
    if b"\0" in content[:BINARY_PROBE]:
        return None
    return next(
        (number for number, line in enumerate(content.splitlines(), 1) if MARKER_LINE.match(line)),
        None,
    )


def conflict_markers(root: Path) -> list[Conflict]:
    """Files holding a conflict marker, read in Python (no grep flag differs by git version)."""
    found = [(name, first_marker_line(root / name)) for name in project_files(root)]
    return [Conflict(name, line) for name, line in found if line is not None]


def unmerged_paths(root: Path) -> list[str]:
    """Files git's index records as unmerged (copier records its conflicts there too)."""
    entries = git_lines(root, "ls-files", "-z", "--unmerged") or []
    # Each entry is "<mode> <object> <stage>\t<path>", one per stage of the file.
    return sorted({entry.split("\t", 1)[1] for entry in entries if "\t" in entry})


def find_conflicts(root: Path) -> list[Conflict]:
    """Every conflicted file: those with markers, and those git's index calls unmerged."""
    marked = conflict_markers(root)
    seen = {conflict.path for conflict in marked}
    unmarked = [Conflict(path) for path in unmerged_paths(root) if path not in seen]
    return sorted([*marked, *unmarked])


def rendered_at_the_root(workspace: Path) -> list[Conflict]:
    """Markers in what the template renders at a monorepo's root: .github/, the answers."""
    names = [f".github/{name}" for name in project_files(workspace / ".github")]
    found = [(name, first_marker_line(workspace / name)) for name in [*names, ANSWERS_FILE.name]]
    return [Conflict(name, line) for name, line in found if line is not None]


def check_no_conflict_markers(root: Path) -> None:
    """Fail, one line per file, while any file under `root` holds a conflict marker.

    For a service in a monorepo folder, the files the template renders at the repository
    root count too, once pyproject.toml (which says where that root is) has none.
    """
    found = conflict_markers(root)
    if not found and (root / config.PYPROJECT).is_file():
        workspace = config.load(root).checkout(root)
        found = rendered_at_the_root(workspace) if workspace != root.resolve() else []
    if found:
        raise Exit("\n".join(conflict.describe() for conflict in found), code=1)


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


def answers(root: Path = Path()) -> dict[str, object]:
    """`.copier-answers.yml`, parsed: the one reader of it here."""
    path = root / ANSWERS_FILE
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        message = f"no {ANSWERS_FILE}: this directory was not made by `copier copy` of a template"
        raise fail(message) from None
    except yaml.YAMLError as error:
        message = f"{ANSWERS_FILE} is not YAML ({str(error).splitlines()[0]}); fix or restore it"
        raise fail(message) from None
    return loaded if isinstance(loaded, dict) else {}


def template_version() -> str:
    """The template release this service was last rendered from."""
    return str(answers().get("_commit", "unknown"))


def template_source() -> str:
    """Where the template is, as `.copier-answers.yml` records it (`_src_path`)."""
    return str(answers().get("_src_path") or "")


def template_commit() -> str:
    """The template commit (`_commit`) the service was last rendered from; "" if none."""
    return str(answers().get("_commit") or "")


def local_source(source: str) -> Path | None:
    """The directory a local template location names (relative: to the service), or None."""
    if not source or REMOTE_SOURCE.match(source):
        return None
    return Path(source.removeprefix("file://")).expanduser()


def source_problem(source: str, release: str) -> str | None:
    """Why `source` does not lead to the template at `release`, or None when it does.

    A remote location is copier's to reach: its failure is `copier check-update`'s one line.
    """
    if not source:
        return f"{ANSWERS_FILE} records no template location (_src_path)"
    where = local_source(source)
    if where is None:
        return None
    if not any((where / name).is_file() for name in COPIER_FILES):
        seen_from = "" if where.is_absolute() else ", relative to this service"
        return f"the template location {source!r} (_src_path) holds no copier.yml{seen_from}"
    found = subprocess.run(
        ["git", "-C", str(where), "rev-parse", "--verify", "--quiet", f"{release}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if release and found.returncode != 0:
        return f"the template at {source} has no commit {release}, which this service was made from"
    return None


def check_template_source(source: str, release: str) -> None:
    """Refuse in one line, naming the fix, when `_src_path` does not lead to the template."""
    problem = source_problem(source, release)
    if problem is not None:
        message = (
            f"{problem}: run `invoke template-update --src <the template's absolute path or git "
            f"URL>` once (it records it), or write it as _src_path in {ANSWERS_FILE} and commit"
        )
        raise fail(message)


def record_source(c: Context, source: str) -> None:
    """Write `--src` into `.copier-answers.yml` as `_src_path`, absolute, and commit that alone.

    copier reads the location from the committed answers both times it renders (the release
    the service has, and the new one), and refuses a tree with uncommitted changes.
    """
    where = local_source(source)
    recorded = str(where.resolve()) if where is not None else source
    problem = source_problem(recorded, template_commit())
    if problem is not None:
        message = f"--src {source}: {problem.replace(' (_src_path)', '')}"
        raise fail(message)
    text = ANSWERS_FILE.read_text(encoding="utf-8")
    line = f"_src_path: {json.dumps(recorded)}"  # a JSON string is a YAML scalar, quoted
    changed, count = SOURCE_LINE.subn(lambda _: line, text, count=1)
    ANSWERS_FILE.write_text(changed if count else f"{text.rstrip()}\n{line}\n", encoding="utf-8")
    if template_source() != recorded:
        message = f"could not record {recorded} in {ANSWERS_FILE}; set _src_path there by hand"
        raise fail(message)
    if not git(c, "status", "--porcelain", "--", str(ANSWERS_FILE)):
        return
    git(c, "add", "--", str(ANSWERS_FILE))
    title = f"Record the template's location for updates: {recorded}"
    git(c, "commit", "--quiet", "--no-verify", "--message", title, env=commit_identity())
    print(f"template-update: recorded the template at {recorded} in {ANSWERS_FILE} (committed)")


def last_line(text: str) -> str:
    """The last non-empty line of a command's output, without colours."""
    lines = [line.strip() for line in ANSI_ESCAPE.sub("", text).splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _failed(result: Result | None, what: str) -> Exit:
    """`what` failed: its exit code and the last line it wrote to stderr, in one line."""
    exited = result.exited if result is not None else "unknown"
    reason = last_line(result.stderr) if result is not None else ""
    return fail(f"`{what}` failed (exit code {exited}): {reason or 'no message'}")


def check_for_update(c: Context) -> UpdateCheck:
    """Ask `copier check-update` (JSON output) whether the template has a newer release."""
    require_tool(COPIER_CHECK_UPDATE[0])
    result = c.run(shlex.join(COPIER_CHECK_UPDATE), warn=True, hide=True, pty=False)
    if result is None or not result.ok:
        raise _failed(result, "copier check-update")
    try:
        answer = json.loads(last_line(result.stdout))
        return UpdateCheck(
            available=bool(answer["update_available"]),
            current=str(answer["current_version"]),
            latest=str(answer["latest_version"]),
        )
    except (json.JSONDecodeError, KeyError, TypeError):
        message = f"`copier check-update` printed no answer to read: {last_line(result.stdout)!r}"
        raise fail(message) from None


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


def pull_request_title(before: str, after: str, conflicts: Sequence[Conflict]) -> str:
    """The pull request's title: the releases, and every conflicted file that fits."""
    title = f"Update from the template: {before} to {after}"
    if not conflicts:
        return title
    shown = [conflict.path for conflict in conflicts]
    while True:
        rest = len(conflicts) - len(shown)
        names = ", ".join(shown) + (f" and {rest} more" if shown and rest else "")
        candidate = f"{title} (conflicts in {names or f'{rest} files'})"
        if len(candidate) <= TITLE_LIMIT or not shown:
            return candidate
        shown.pop()


def pull_request_body(before: str, after: str, conflicts: Sequence[Conflict], ci: CiResult) -> str:
    """What the pull request says about the update."""
    lines = [
        f"Updates this service from the template's {before} to {after} (`invoke template-update`).",
        "",
        f"- `invoke ci`: {ci.value}",
    ]
    if not conflicts:
        lines.append("- conflicts: none")
    else:
        count = len(conflicts)
        lines.append(f"- conflicts to resolve, committed here with their markers ({count}):")
        lines += [
            f"  - `{conflict.path}`" + (f" (line {conflict.line})" if conflict.line else "")
            for conflict in conflicts
        ]
        lines += [
            "",
            (
                "This pull request stays a draft until they are resolved. On its branch, keep "
                f"what each side needs (the service's lines follow `{OURS_MARKER}`, the "
                f"template's precede `{THEIRS_MARKER}`) and delete the markers, then run "
                "`uv lock` (the lock must follow the merged `pyproject.toml`) and "
                "`uv run --locked invoke ci`; commit, push and mark the pull request ready. "
                "The `lint` job fails while a marker remains."
            ),
        ]
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


def push(c: Context, base: str, branch: str) -> None:
    """Push the update's branch; a refusal says why when the token is the likely cause."""
    command = shlex.join(["git", "push", "--quiet", "origin", branch])
    pushed = c.run(command, env=push_env(), warn=True, hide=True, pty=False)
    if pushed is not None and pushed.ok:
        return
    reason = last_line(pushed.stderr) if pushed is not None else ""
    workflows = git(c, "diff", "--name-only", base, "HEAD", "--", WORKFLOWS).split()
    message = f"`git push` of {branch} failed: {reason or 'no message'}"
    if workflows:
        message += (
            f"; the update changes {', '.join(workflows)}, which GitHub lets only a token "
            "with the workflows permission push (GITHUB_TOKEN never has it): give the "
            "workflow a GitHub App token, as .github/workflows/template-update.yml describes"
        )
    raise fail(message)


def open_pull_request(c: Context, branch: str, title: str, body: str, *, draft: bool) -> None:
    """Commit the update to its branch, push it and open a pull request for it."""
    base = git(c, "rev-parse", "--abbrev-ref", "HEAD")
    git(c, "switch", "--create", branch)
    git(c, "add", "--all")
    # A draft may hold conflict markers on purpose; a hook that refuses them must not stop it.
    git(c, "commit", "--quiet", "--no-verify", "--message", title, env=commit_identity())
    push(c, base, branch)
    pr = ["gh", "pr", "create", "--base", base, "--head", branch, "--title", title]
    url = run(c, *pr, *(["--draft"] if draft else []), "--body", body, hide=True).strip()
    print(f"template-update: opened {url}")


def report_conflicts(conflicts: Sequence[Conflict]) -> None:
    """Name every conflicted file on its own line, with what to do about it."""
    for conflict in conflicts:
        print(f"template-update: {conflict.describe()}", file=sys.stderr)


def merge_from_template(c: Context, vcs_ref: str) -> str | None:
    """Run copier's update; the release merged in, or None when nothing changed."""
    argv = [*COPIER_UPDATE, *(["--vcs-ref", vcs_ref] if vcs_ref else [])]
    require_tool(argv[0])
    # copier's own words go to stderr: shown as they are when it merged, and when it failed
    # only their last line (a bad --vcs-ref is a 70-line traceback ending in the cause).
    result = c.run(shlex.join(argv), warn=True, hide="stderr", pty=False)
    if result is None or not result.ok:
        raise _failed(result, "copier update")
    sys.stderr.write(result.stderr)
    after = template_version()
    if not git(c, "status", "--porcelain"):
        print(f"template-update: already up to date with the template ({after})")
        return None
    rejected = rejected_hunks(c)
    if rejected:
        message = f"copier left rejected changes in {', '.join(rejected)}: merge them by hand"
        raise fail(message)
    return after


def lock_and_test(c: Context, service: Path) -> CiResult:
    """Lock the merged pyproject.toml and run `invoke ci` on the result, in the service."""
    with contextlib.chdir(service):
        # The template locks after merging; lock again for releases that did not.
        run(c, "uv", "lock", "--quiet")
        # The merge is not committed yet: path filters count it, as they will once it is.
        passed = c.run("uv run --locked invoke ci --include-uncommitted", warn=True, pty=False)
    return CiResult.PASSED if passed is not None and passed.ok else CiResult.FAILED


def conclude(  # noqa: PLR0913 - the update's outcome, and where the service is
    before: str,
    after: str,
    conflicts: Sequence[Conflict],
    ci: CiResult,
    *,
    pull_request: bool,
    folder: str = ".",
) -> None:
    """Say how the update went; fail while anything is left to do.

    `folder`: the service's, from the repository root the conflicts' paths start at.
    """
    if conflicts:
        report_conflicts(conflicts)
        names = ", ".join(conflict.path for conflict in conflicts)
        where = "on the pull request's branch" if pull_request else "here"
        in_folder = ""
        if folder != ".":
            names += " (paths from the repository root)"
            in_folder = f" in {folder}/"
        message = (
            f"updated {before} -> {after} with conflicts in {names}: resolve them {where}, "
            f"then run `uv lock` and `uv run --locked invoke ci`{in_folder}, and commit"
        )
        raise fail(message)
    if ci != CiResult.PASSED:
        message = f"updated {before} -> {after}, but `invoke ci` failed: fix it, then commit"
        raise fail(message)
    if not pull_request:
        print(f"template-update: updated {before} -> {after}, `invoke ci` passed: review, commit")


def update(c: Context, *, vcs_ref: str = "", pull_request: bool = False, src: str = "") -> None:
    """Update from the template, re-lock, run `invoke ci`, optionally open a pull request.

    copier updates the repository the service is checked out in (`[tool.shipshape]
    workspace`), where the answers file is: the service itself, or a monorepo's root.
    """
    service = Path.cwd()
    with contextlib.chdir(config.load(service).checkout(service)):
        update_checkout(c, service, vcs_ref=vcs_ref, pull_request=pull_request, src=src)


def update_checkout(
    c: Context, service: Path, *, vcs_ref: str, pull_request: bool, src: str
) -> None:
    """`update` in the repository's root, for the service in the folder `service`."""
    check_clean_repository(c)
    if pull_request:
        check_pull_request_tools()
    before = template_version()
    if src:
        record_source(c, src)
    check_template_source(template_source(), template_commit())
    if not vcs_ref and not check_for_update(c).available:
        print(f"template-update: up to date with the template's newest release ({before})")
        return
    after = merge_from_template(c, vcs_ref)
    if after is None:
        return
    branch = f"template-update/{after}"
    if pull_request and branch_exists(c, branch):
        print(f"template-update: branch {branch} exists already; its pull request stays open")
        return
    # Before anything reads pyproject.toml or uv.lock: markers make them unreadable TOML.
    conflicts = find_conflicts(Path())
    ci = CiResult.NOT_RUN if conflicts else lock_and_test(c, service)
    if pull_request:
        title = pull_request_title(before, after, conflicts)
        body = pull_request_body(before, after, conflicts, ci)
        open_pull_request(c, branch, title, body, draft=bool(conflicts) or ci != CiResult.PASSED)
    folder = Path(os.path.relpath(service, Path.cwd())).as_posix()
    conclude(before, after, conflicts, ci, pull_request=pull_request, folder=folder)
