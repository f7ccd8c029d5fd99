"""`invoke release X.Y.Z`: cut a template release from a clean tree.

A release is a commit and an annotated tag `vX.Y.Z`. copier reads the tags: `copier copy`
takes the newest release, `copier update` moves a service to it, and `.copier-answers.yml`
records the tag as `_commit`. Before tagging, CHANGELOG.md's "Unreleased" section becomes the
release's section, `[project] version` in pyproject.toml follows the tag, and every
`_migrations` entry added since the last release is checked to run for services that update
to this one.

Tags do not always travel with a repository (a clone of a mirror, a push without `--tags`),
so the release commit is the record: its subject is `Release vX.Y.Z`, and its CHANGELOG.md and
pyproject.toml name the same version. `restore_release_tags` recreates any missing tag from it.
"""

import datetime as dt
import os
import re
import subprocess
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from devtasks.jobs import run
from invoke.context import Context
from invoke.exceptions import Exit

CHANGELOG = Path("CHANGELOG.md")
COPIER_YML = Path("copier.yml")
PYPROJECT = Path("pyproject.toml")
SEMVER = re.compile(r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
UNRELEASED = "## [Unreleased]"
SECTION = re.compile(r"^## \[", re.MULTILINE)
ENTRY = re.compile(r"^\s*- \S", re.MULTILINE)
PROJECT_VERSION = re.compile(r'^(version = ")[^"]*(")$', re.MULTILINE)
CHANGELOG_RELEASE = re.compile(r"^## \[(\d+\.\d+\.\d+)\]", re.MULTILINE)
# The release commit's subject is the record a lost tag is recovered from.
RELEASE_SUBJECT = "Release {tag}"
RELEASE_SUBJECT_LINE = re.compile(r"^Release (v(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*))$")
TAG_MESSAGE = "shipshape {tag}"


class ReleaseError(Exception):
    """The release cannot be cut; the message says why and what to do."""


def parse_version(text: str) -> str:
    """`X.Y.Z` from `X.Y.Z` or `vX.Y.Z`; anything else is refused."""
    match = SEMVER.match(text.strip())
    if match is None:
        message = f"{text!r} is not a release version: use MAJOR.MINOR.PATCH, such as 0.2.0"
        raise ReleaseError(message)
    return ".".join(match.groups())


def order(version: str) -> tuple[int, int, int]:
    """A release version as numbers, to compare releases."""
    major, minor, patch = (int(part) for part in parse_version(version).split("."))
    return major, minor, patch


def release_tags(tags: Iterable[str]) -> list[str]:
    """The tags that name releases (`vX.Y.Z`), oldest first."""
    return sorted((tag for tag in tags if tag.startswith("v") and SEMVER.match(tag)), key=order)


def check_newer(version: str, tags: Iterable[str]) -> str | None:
    """The newest earlier release tag; refuse a version that is not newer than it."""
    released = release_tags(tags)
    if f"v{version}" in released:
        message = f"v{version} is released already"
        raise ReleaseError(message)
    if released and order(version) < order(released[-1]):
        message = f"{version} is older than the newest release, {released[-1]}"
        raise ReleaseError(message)
    return released[-1] if released else None


def cut_changelog(text: str, version: str, date: str) -> str:
    """CHANGELOG.md with its Unreleased entries moved under `## [version] - date`."""
    start = text.find(f"{UNRELEASED}\n")
    if start < 0:
        message = f"{CHANGELOG} has no `{UNRELEASED}` section to release"
        raise ReleaseError(message)
    if re.search(rf"^## \[{re.escape(version)}\]", text, re.MULTILINE):
        message = f"{CHANGELOG} has a section for {version} already"
        raise ReleaseError(message)
    body_start = start + len(UNRELEASED) + 1
    following = SECTION.search(text, body_start)
    body_end = following.start() if following else len(text)
    body = text[body_start:body_end]
    if not ENTRY.search(body):
        message = f"{CHANGELOG}: nothing under `{UNRELEASED}`; say what {version} changes first"
        raise ReleaseError(message)
    released = f"{UNRELEASED}\n\n## [{version}] - {date}\n{body.rstrip()}\n"
    rest = text[body_end:]
    return text[:start] + released + ("\n" + rest if rest else "")


def migrations(copier_yml: str) -> list[Mapping[str, Any]]:
    """The `_migrations` entries of a copier.yml."""
    config = yaml.safe_load(copier_yml) or {}
    return [entry for entry in config.get("_migrations", []) if isinstance(entry, dict)]


def check_migrations(current: str, previous: str | None, version: str, last: str | None) -> None:
    """Migrations added since the last release must run for updates to this one.

    copier runs an entry with version V when a service updates from below V to V or above:
    one newer than this release would not run yet, and one at or below the last release
    would never run for services already on it.
    """
    known = migrations(previous) if previous is not None else []
    for entry in migrations(current):
        if "version" not in entry or entry in known:
            continue
        declared = order(str(entry["version"]))
        if declared > order(version):
            message = f"{COPIER_YML}: a migration for {entry['version']} is newer than {version}"
            raise ReleaseError(message)
        if last is not None and declared <= order(last):
            message = (
                f"{COPIER_YML}: the migration for {entry['version']} was added after {last}, "
                f"so services on {last} would never run it: give it version v{version}"
            )
            raise ReleaseError(message)


def set_project_version(pyproject: str, version: str) -> str:
    """pyproject.toml with `[project] version` set to the release."""
    project_start = pyproject.index("[project]\n")
    match = PROJECT_VERSION.search(pyproject, project_start)
    if match is None:
        message = f'{PYPROJECT}: no `version = "..."` line in [project]'
        raise ReleaseError(message)
    updated = pyproject[: match.start()] + f'version = "{version}"' + pyproject[match.end() :]
    if tomllib.loads(updated)["project"].get("version") != version:
        message = f"{PYPROJECT}: the first `version = ...` after [project] is not the project's"
        raise ReleaseError(message)
    return updated


def git(c: Context, *argv: str) -> str:
    """Run git quietly and return its output."""
    return run(c, "git", *argv, hide=True).strip()


def prepare(c: Context, version_text: str, date: str | None) -> tuple[str, str, str]:
    """Check that the release can be cut; the version, new CHANGELOG.md and pyproject.toml."""
    version = parse_version(version_text)
    if git(c, "status", "--porcelain"):
        message = "the working tree has uncommitted changes: a release is cut from a commit"
        raise ReleaseError(message)
    last = check_newer(version, git(c, "tag", "--list", "v*").split())
    previous = git(c, "show", f"{last}:{COPIER_YML}") if last else None
    check_migrations(COPIER_YML.read_text(encoding="utf-8"), previous, version, last)
    day = date or dt.datetime.now(tz=dt.UTC).date().isoformat()
    changelog = cut_changelog(CHANGELOG.read_text(encoding="utf-8"), version, day)
    pyproject = set_project_version(PYPROJECT.read_text(encoding="utf-8"), version)
    return version, changelog, pyproject


def release(c: Context, version_text: str, date: str | None = None) -> str:
    """Cut the release: changelog, project version, commit and tag. Returns the tag."""
    try:
        version, changelog, pyproject = prepare(c, version_text, date)
    except ReleaseError as error:
        message = f"release: {error}"
        raise Exit(message, code=1) from None
    CHANGELOG.write_text(changelog, encoding="utf-8")
    PYPROJECT.write_text(pyproject, encoding="utf-8")
    # The lock records the project's version. Re-locking keeps every pin, but it reads the
    # index: a machine that installed from the lock has wheels cached, not index pages.
    run(c, "uv", "lock", "--quiet")
    tag = f"v{version}"
    git(c, "add", str(CHANGELOG), str(PYPROJECT), "uv.lock")
    git(c, "commit", "--quiet", "--message", RELEASE_SUBJECT.format(tag=tag))
    git(c, "tag", "--annotate", tag, "--message", TAG_MESSAGE.format(tag=tag))
    print(f"release: tagged {tag}; publish it with `git push origin HEAD {tag}`")
    return tag


def changelog_releases(changelog: str) -> list[str]:
    """The versions CHANGELOG.md has a release section for, as written (`X.Y.Z`)."""
    return CHANGELOG_RELEASE.findall(changelog)


@dataclass(frozen=True)
class ReleaseRecord:
    """A release commit `invoke release` made: the tag it names, and the commit."""

    tag: str
    commit: str


def git_in(repo: Path, *argv: str, env: Mapping[str, str] | None = None) -> str:
    """Run git in `repo` and return its output; a failure is a ReleaseError with git's words."""
    done = subprocess.run(
        ["git", "-C", str(repo), *argv],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if done.returncode != 0:
        message = f"`git {' '.join(argv)}` failed in {repo}: {done.stderr.strip()}"
        raise ReleaseError(message)
    return done.stdout.strip()


def check_record(repo: Path, record: ReleaseRecord) -> None:
    """A release commit must release what its subject names: changelog section and version."""
    version = record.tag.removeprefix("v")
    where = f"commit {record.commit[:12]} ({RELEASE_SUBJECT.format(tag=record.tag)})"
    changelog = git_in(repo, "show", f"{record.commit}:{CHANGELOG}")
    if version not in changelog_releases(changelog):
        message = f"{where}: its {CHANGELOG} has no `## [{version}]` section, so it is no release"
        raise ReleaseError(message)
    pyproject = tomllib.loads(git_in(repo, "show", f"{record.commit}:{PYPROJECT}"))
    if pyproject.get("project", {}).get("version") != version:
        message = f"{where}: its {PYPROJECT} does not say version {version}, so it is no release"
        raise ReleaseError(message)


def release_records(repo: Path) -> list[ReleaseRecord]:
    """The release commits in HEAD's history, oldest first, each checked against its files."""
    log = git_in(
        repo,
        "log",
        "--reverse",
        "--format=%H %s",
        "--extended-regexp",
        "--grep=^Release v[0-9]+[.][0-9]+[.][0-9]+$",
        "HEAD",
    )
    records: dict[str, ReleaseRecord] = {}
    for line in log.splitlines():
        commit, subject = line.split(" ", 1)
        match = RELEASE_SUBJECT_LINE.match(subject)
        if match is None:  # the grep matched a later line of the message, not the subject
            continue
        record = ReleaseRecord(tag=match.group(1), commit=commit)
        if record.tag in records:
            message = (
                f"commits {records[record.tag].commit[:12]} and {commit[:12]} both say "
                f"`{subject}`: one release, one commit"
            )
            raise ReleaseError(message)
        check_record(repo, record)
        records[record.tag] = record
    return list(records.values())


def restore_release_tags(repo: Path) -> list[str]:
    """Recreate every missing release tag from its release commit; the tags made.

    The tag is annotated as `invoke release` makes it, with the release commit's committer
    and date as its tagger, so a restored tag is the same wherever it is restored. A tag that
    exists but points elsewhere than its release commit is an error, never moved.
    """
    existing = set(git_in(repo, "tag", "--list", "v*").split())
    made = []
    for record in release_records(repo):
        if record.tag in existing:
            tagged = git_in(repo, "rev-parse", f"{record.tag}^{{commit}}")
            if tagged != record.commit:
                message = (
                    f"tag {record.tag} points at {tagged[:12]}, but its release commit is "
                    f"{record.commit[:12]}"
                )
                raise ReleaseError(message)
            continue
        name, email, date = git_in(
            repo, "log", "-1", "--format=%cn%x00%ce%x00%cI", record.commit
        ).split("\0")
        tagger = {"GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
        message = TAG_MESSAGE.format(tag=record.tag)
        git_in(
            repo,
            "tag",
            "--annotate",
            record.tag,
            record.commit,
            "--message",
            message,
            env={**tagger, "GIT_COMMITTER_DATE": date},
        )
        made.append(record.tag)
    return made
