"""Copier migration: carry a service's edits of a file the template renamed to its new path.

copier runs this in the service after an update has rendered the new template (`_stage ==
'after'`). By then copier has removed the old path (the new template no longer has it) and
written the template's new version to the new path; the service's own version of the old
path is still in git `HEAD`. A three-way merge, whose base is the old template's rendering of
the old path, puts the service's edits into the new file. Where both sides changed the same
lines, the conflict is marked inline with copier's own labels.

Usage (from copier.yml): rename.py --from <version> <old path> <new path>
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import copier
import yaml

ANSWERS_FILE = Path(".copier-answers.yml")
# The labels copier's own inline conflicts carry, so one search finds them all.
LABELS = ("before updating", "last update", "after updating")
# git merge-file exits with the number of conflicts, capped here; anything above is an error.
MAX_CONFLICTS = 127


def committed(path: str) -> str | None:
    """The service's version of the file in git HEAD, or None if it has none."""
    shown = subprocess.run(
        ["git", "show", f"HEAD:{path}"], capture_output=True, text=True, check=False
    )
    return shown.stdout if shown.returncode == 0 else None


def old_rendering(path: str, version: str) -> str | None:
    """What the template at `version` rendered at `path` with this service's answers."""
    answers = yaml.safe_load(ANSWERS_FILE.read_text(encoding="utf-8"))
    data = {key: value for key, value in answers.items() if not key.startswith("_")}
    with tempfile.TemporaryDirectory(prefix="shipshape-base-") as base:
        copier.run_copy(
            answers["_src_path"],
            base,
            data=data,
            vcs_ref=version,
            defaults=True,
            skip_tasks=True,
            quiet=True,
            unsafe=True,
        )
        rendered = Path(base, path)
        return rendered.read_text(encoding="utf-8") if rendered.is_file() else None


def merge(target: Path, base: str, theirs: str) -> int:
    """Merge the template's change (base -> theirs) into `target`; return the conflict count."""
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


def carry_over(old: str, new: str, version_from: str) -> str:
    """Move the service's version of `old` to `new`, merged with the template's changes."""
    target = Path(new)
    ours = committed(old)
    Path(old).unlink(missing_ok=True)
    if ours is None:
        # The service had deleted the file: it stays deleted under its new name too.
        target.unlink(missing_ok=True)
        return f"{old} was deleted in this service, so {new} is not added"
    base = old_rendering(old, version_from)
    if base == ours:
        return f"{old} is now {new} (no edits of yours to carry over)"
    theirs = target.read_text(encoding="utf-8") if target.is_file() else None
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(ours, encoding="utf-8")
    if base is None or theirs is None:
        return f"{old} is now {new}, with your version of it"
    conflicts = merge(target, base, theirs)
    if conflicts:
        return f"{old} is now {new}: your edits carried over, {conflicts} conflict(s) marked inline"
    return f"{old} is now {new}: your edits carried over"


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments copier.yml passes and carry the edits over."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="version_from", required=True, help="template version")
    parser.add_argument("old", help="path the old template rendered the file at")
    parser.add_argument("new", help="path the new template renders it at")
    args = parser.parse_args(argv)
    print(f"migration: {carry_over(args.old, args.new, args.version_from)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
