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
import sys
from pathlib import Path

from service import committed, merge_file, read, rendering, say


def old_rendering(path: str, version: str) -> str | None:
    """What the template at `version` rendered at `path` with this service's answers."""
    with rendering(version) as old:
        return read(old, path)


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
    conflicts = merge_file(target, base, theirs)
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
    say(carry_over(args.old, args.new, args.version_from))
    return 0


if __name__ == "__main__":
    sys.exit(main())
