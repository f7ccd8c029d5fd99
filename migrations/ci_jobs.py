"""Copier migration: the service's own CI jobs survive the template's new ones in ci.yml.

After v0.1.0 the template added jobs to ci.yml, `publish` at its end where teams add theirs,
and made ci.yml run for `v*` tags (publishing moved there from release.yml). copier merges a
file line by line, so a job the team appended meets the template's appended job in one
conflict that interleaves the two jobs' lines, and the team's job, written like v0.1.0's,
keeps a uv cache that zizmor now refuses in a workflow that runs for tags. After copier has
merged, this

1. merges ci.yml again job by job when copier's merge left a conflict in it: the part before
   the jobs and every job present in the old release, the service or the new release are
   merged three ways on their own (a conflict stays inline, within its job), the template's
   jobs keep the template's order and each of the service's own follows the job it followed;
2. marks the uv cache of each job of the service's own (`enable-cache: true` without a
   comment) with zizmor's ignore comment, as the template marks its testing jobs', saying
   why, when the new ci.yml runs for tags;
3. adds each job of the service's own that runs on every event (it has no `if:`) to the
   `needs:` of `publish`, when the old release had no `publish` in ci.yml: the team could not
   have listed it there, and the image must not be pushed before the team's job passed. A job
   with an `if:` is left for parity to name, since needing a job that is skipped on a push
   would skip the publish too.

A ci.yml that merged cleanly and has no cache to mark is left untouched, so running this
twice changes nothing more.

Usage (from copier.yml): ci_jobs.py --from <version> --to <version>
"""

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from service import (
    committed,
    conflict_size,
    has_conflict_markers,
    mark_resolved,
    merge_text,
    read,
    rendering,
    say,
)

CI = ".github/workflows/ci.yml"
JOBS_KEY = re.compile(r"^jobs:[ \t]*(#.*)?$")
JOB_KEY = re.compile(r"^  ([A-Za-z_][A-Za-z0-9_-]*):[ \t]*(#.*)?$")
JOB_COMMENT = re.compile(r"^  +#")
UNMARKED_CACHE = re.compile(r"^(\s+enable-cache:[ \t]*true)[ \t]*$", re.MULTILINE)
NEEDS_LIST = re.compile(r"^(    needs:[ \t]*\[)([^\]\n]*)(\][ \t]*(#.*)?)$", re.MULTILINE)
PUBLISH = "publish"
CACHE_NOTE = (
    " # zizmor: ignore[cache-poisoning] kept on update (ci.yml runs for tags now);"
    " drop it if this job publishes"
)


@dataclass(frozen=True)
class Jobs:
    """A workflow's text cut at its jobs: what comes before, each job's lines, what follows."""

    head: str
    jobs: dict[str, str]  # id -> the job's lines and the comments above it, in file order
    tail: str


def job_ids(text: str) -> list[str] | None:
    """The workflow's job ids in file order, as YAML reads them; None if it cannot."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    jobs = document.get("jobs") if isinstance(document, dict) else None
    return [str(name) for name in jobs] if isinstance(jobs, dict) else None


def split(text: str) -> Jobs | None:
    """Cut a workflow (without conflict markers) at its jobs; None unless YAML finds the same.

    A job starts at its two-space-indented key, with the comments just above it; a workflow
    laid out otherwise (another indentation, quoted ids) is left to copier's merge.
    """
    lines = text.splitlines(keepends=True)
    top = next((i for i, line in enumerate(lines) if JOBS_KEY.match(line)), None)
    if top is None:
        return None
    end = next(
        (i for i in range(top + 1, len(lines)) if lines[i][:1] not in {"", " ", "\n", "#"}),
        len(lines),
    )
    starts: list[tuple[int, str]] = []
    for index in range(top + 1, end):
        key = JOB_KEY.match(lines[index])
        if key:
            first = index
            while first > top + 1 and JOB_COMMENT.match(lines[first - 1]):
                first -= 1
            starts.append((first, key.group(1)))
    if job_ids(text) != [name for _, name in starts]:
        return None
    if not starts:
        return Jobs("".join(lines[:end]), {}, "".join(lines[end:]))
    bounds = [first for first, _ in starts] + [end]
    jobs = {
        name: trimmed("".join(lines[first : bounds[number + 1]]))
        for number, (first, name) in enumerate(starts)
    }
    return Jobs("".join(lines[: starts[0][0]]), jobs, "".join(lines[end:]))


def trimmed(block: str) -> str:
    """A job's lines without the blank lines that separate it from the next job."""
    return block.rstrip("\n") + "\n" if block.strip() else ""


def join(head: str, jobs: Iterable[str], tail: str) -> str:
    """A workflow's text from its parts: jobs separated by one blank line."""
    body = "\n".join(job for job in jobs if job)
    separator = "\n" if tail and body else ""
    return head + body + separator + tail


def job_order(ours: Sequence[str], theirs: Sequence[str]) -> list[str]:
    """The template's jobs in its order; each of the service's others after the job it followed."""
    order = list(theirs)
    for position, name in enumerate(ours):
        if name in order:
            continue
        before = next((n for n in reversed(ours[:position]) if n in order), None)
        order.insert(order.index(before) + 1 if before is not None else 0, name)
    return order


def merge_jobs(base: Jobs, ours: Jobs, theirs: Jobs) -> tuple[str, int]:
    """The workflow merged job by job: its text and the conflicts left in it."""
    head, conflicts = merge_text(base.head, ours.head, theirs.head)
    tail, tail_conflicts = merge_text(base.tail, ours.tail, theirs.tail)
    jobs = []
    for name in job_order(list(ours.jobs), list(theirs.jobs)):
        merged, count = merge_text(
            base.jobs.get(name, ""), ours.jobs.get(name, ""), theirs.jobs.get(name, "")
        )
        jobs.append(merged)
        conflicts += count
    return join(head, jobs, tail), conflicts + tail_conflicts


def mark_caches(text: str, own: Iterable[str]) -> tuple[str, list[str]]:
    """Mark the uv caches of the service's own jobs for zizmor: the text and the jobs marked."""
    parts = split(text)
    if parts is None:
        return text, []
    marked = []
    for name in own:
        job = parts.jobs.get(name, "")
        if UNMARKED_CACHE.search(job):
            text = text.replace(job, UNMARKED_CACHE.sub(lambda m: m.group(1) + CACHE_NOTE, job), 1)
            marked.append(name)
    return text, marked


def jobs_of(text: str) -> dict[str, dict[str, object]]:
    """The workflow's jobs as YAML reads them (each a mapping); empty if it cannot."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    jobs = document.get("jobs") if isinstance(document, dict) else None
    if not isinstance(jobs, dict):
        return {}
    return {str(name): job for name, job in jobs.items() if isinstance(job, dict)}


def needed(jobs: dict[str, dict[str, object]], name: str) -> set[str]:
    """The jobs `name` needs, directly or through the jobs it needs."""
    found: set[str] = set()
    wanted = [name]
    while wanted:
        needs = jobs.get(wanted.pop(), {}).get("needs", [])
        listed = [needs] if isinstance(needs, str) else needs if isinstance(needs, list) else []
        for other in listed:
            if isinstance(other, str) and other not in found:
                found.add(other)
                wanted.append(other)
    return found


def unwaited(text: str) -> list[str]:
    """The jobs without an `if:` that `publish` neither needs nor is needed by, in file order."""
    jobs = jobs_of(text)
    if PUBLISH not in jobs:
        return []
    waits = needed(jobs, PUBLISH)
    return [
        name
        for name, job in jobs.items()
        if name != PUBLISH
        and "if" not in job
        and name not in waits
        and PUBLISH not in needed(jobs, name)
    ]


def wait_for_own(text: str, own: Iterable[str]) -> tuple[str, list[str]]:
    """Add the service's own unconditional jobs to publish's `needs:`: the text and those added."""
    parts = split(text)
    missing = unwaited(text)
    added = [name for name in own if name in missing]
    listed = NEEDS_LIST.search(parts.jobs.get(PUBLISH, "")) if parts is not None else None
    if parts is None or listed is None or not added:
        return text, []
    job = parts.jobs[PUBLISH]
    names = ", ".join(name for name in [listed.group(2).strip(), *added] if name)
    needs = listed.group(1) + names + listed.group(3)
    new_job = job[: listed.start()] + needs + job[listed.end() :]
    return text.replace(job, new_job, 1), added


def remerge(original: str, base: Jobs, ours: Jobs, theirs: Jobs) -> tuple[str, list[str]]:
    """ci.yml merged job by job when that leaves less conflict than copier: text and lines."""
    if not has_conflict_markers(original):
        return original, []
    merged, conflicts = merge_jobs(base, ours, theirs)
    # Only a smaller conflict than copier's (fewer, or as many over fewer lines) is kept,
    # and a merge without conflicts must read as a workflow again.
    readable = conflicts > 0 or job_ids(merged) is not None
    if not readable or conflict_size(merged) >= conflict_size(original):
        return original, []
    if conflicts:
        return merged, [f"{CI}: merged job by job, {conflicts} conflict(s) left"]
    return merged, [f"{CI}: merged job by job, your jobs and the template's side by side"]


def migrate(version_from: str, version_to: str) -> list[str]:
    """Re-merge and mark ci.yml in place; the lines saying what changed (none: untouched)."""
    path = Path(CI)
    ours_text = committed(CI)
    if ours_text is None or not path.is_file():
        return []
    original = path.read_text(encoding="utf-8")
    clean = not has_conflict_markers(original)
    if clean and not UNMARKED_CACHE.search(original) and not unwaited(original):
        return []
    with rendering(version_from) as old, rendering(version_to) as new:
        base_text, theirs_text = read(old, CI) or "", read(new, CI) or ""
    ours, base, theirs = split(ours_text), split(base_text), split(theirs_text)
    if ours is None or base is None or theirs is None:
        return []
    text, lines = remerge(original, base, ours, theirs)
    own = [name for name in ours.jobs if name not in base.jobs and name not in theirs.jobs]
    if "ignore[cache-poisoning]" in theirs_text and not has_conflict_markers(text):
        text, marked = mark_caches(text, own)
        if marked:
            lines.append(
                f"{CI}: the uv cache of your job(s) {', '.join(marked)} is kept, marked for "
                "zizmor (ci.yml runs for v* tags too now): drop it if a job publishes"
            )
    if PUBLISH in theirs.jobs and PUBLISH not in base.jobs and not has_conflict_markers(text):
        text, added = wait_for_own(text, own)
        if added:
            lines.append(
                f"{CI}: publish waits for your job(s) {', '.join(added)} now (its `needs:`), "
                "so nothing is pushed before they pass"
            )
    if text != original:
        path.write_text(text, encoding="utf-8")
        mark_resolved(CI)
    return lines


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments copier.yml passes and migrate ci.yml."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="version_from", required=True, help="template version")
    parser.add_argument("--to", dest="version_to", required=True, help="template version")
    args = parser.parse_args(argv)
    for line in migrate(args.version_from, args.version_to):
        say(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
