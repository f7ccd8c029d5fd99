"""What the migrations share: the service being updated, renderings of a release, merges.

Every migration runs in the service's root after copier has merged (`_stage == 'after'`):
the merged files are on disk, the service's own versions are still in git `HEAD`.
"""

import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import copier
import yaml

ANSWERS_FILE = Path(".copier-answers.yml")
# The labels copier's own inline conflicts carry, so one search finds them all.
LABELS = ("before updating", "last update", "after updating")
# git merge-file exits with the number of conflicts, capped here; anything above is an error.
MAX_CONFLICTS = 127
# A line that opens, separates or closes an inline conflict (git's and copier's forms).
CONFLICT_MARKER = re.compile(r"^(<{7}|\|{7}|={7}|>{7})( |$)", re.MULTILINE)


def say(message: str) -> None:
    """One line for the person running the update, on stderr as copier's own lines are."""
    print(f"migration: {message}", file=sys.stderr)


def answers() -> dict[str, Any]:
    """The service's answers file, as copier has just written it."""
    loaded: dict[str, Any] = yaml.safe_load(ANSWERS_FILE.read_text(encoding="utf-8"))
    return loaded


def committed(path: str) -> str | None:
    """The service's version of the file in git HEAD, or None if it has none."""
    # `./`: relative to the service, which may be a subdirectory of its repository.
    shown = subprocess.run(
        ["git", "show", f"HEAD:./{path}"], capture_output=True, text=True, check=False
    )
    return shown.stdout if shown.returncode == 0 else None


@contextmanager
def rendering(version: str) -> Iterator[Path]:
    """A directory holding what the template at `version` renders with this service's answers."""
    recorded = answers()
    data = {key: value for key, value in recorded.items() if not key.startswith("_")}
    with tempfile.TemporaryDirectory(prefix="shipshape-render-") as rendered:
        copier.run_copy(
            recorded["_src_path"],
            rendered,
            data=data,
            vcs_ref=version,
            defaults=True,
            skip_tasks=True,
            quiet=True,
            unsafe=True,
        )
        yield Path(rendered)


def read(directory: Path, path: str) -> str | None:
    """A file's text under `directory`, or None if there is none."""
    file = directory / path
    return file.read_text(encoding="utf-8") if file.is_file() else None


def merge_file(target: Path, base: str, theirs: str) -> int:
    """Merge the change base -> theirs into `target` in place; return the conflict count."""
    with tempfile.TemporaryDirectory(prefix="shipshape-merge-") as scratch:
        base_file, theirs_file = Path(scratch, "base"), Path(scratch, "theirs")
        base_file.write_text(base, encoding="utf-8")
        theirs_file.write_text(theirs, encoding="utf-8")
        labels = [arg for label in LABELS for arg in ("-L", label)]
        merged = subprocess.run(
            ["git", "merge-file", *labels, str(target), str(base_file), str(theirs_file)],
            check=False,
        )
    if not 0 <= merged.returncode <= MAX_CONFLICTS:
        message = f"git merge-file failed on {target} (exit code {merged.returncode})"
        raise SystemExit(message)
    return merged.returncode


def merge_text(base: str, ours: str, theirs: str) -> tuple[str, int]:
    """Three-way merge of three texts: the result (conflicts marked inline) and their count."""
    with tempfile.TemporaryDirectory(prefix="shipshape-merge-") as scratch:
        target = Path(scratch, "ours")
        target.write_text(ours, encoding="utf-8")
        conflicts = merge_file(target, base, theirs)
        return target.read_text(encoding="utf-8"), conflicts


def conflict_size(text: str) -> tuple[int, int]:
    """How many inline conflicts a text holds, and how many lines they span."""
    conflicts = lines = 0
    inside = False
    for line in text.splitlines():
        if line.startswith("<" * 7):
            conflicts, inside = conflicts + 1, True
        elif line.startswith(">" * 7):
            inside = False
        lines += inside
    return conflicts, lines


def has_conflict_markers(text: str) -> bool:
    """Whether any line of the text opens, separates or closes a conflict."""
    return CONFLICT_MARKER.search(text) is not None


def mark_resolved(path: str) -> None:
    """Drop the unmerged index entries copier recorded for a file this migration resolved.

    copier records each inline conflict in git's index; once the file holds no marker, the
    index goes back to the service's committed version, as for every file copier merged.
    """
    text = Path(path).read_text(encoding="utf-8")
    unmerged = subprocess.run(
        ["git", "ls-files", "--unmerged", "--", path],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    if unmerged and not has_conflict_markers(text):
        # Quiet: git names the other files still unmerged on stdout while it refreshes.
        subprocess.run(["git", "reset", "--quiet", "--", path], capture_output=True, check=True)
