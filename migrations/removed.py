"""Copier migration: a file the template removed stays in a service that changed it.

When a release no longer renders a file, copier deletes it from the service on update,
whether or not the service changed it (`_remove_old_files` in copier's `_main.py` removes
every path the old rendering has and the new one lacks, after applying the service's diff;
the service's changes to it go with it, visible only as a deleted file). This migration runs
after copier and decides per file, comparing the service's committed version with what the
old release rendered:

- unchanged by the service: removed (copier normally did so already);
- changed by the service: put back as the service had it, with a line saying why the
  template dropped it and what to do, so the changes are not lost in the update's diff. The
  checks then name it until the team has moved its changes and deleted the file (a workflow
  on push besides ci.yml fails `invoke parity`, a file in the sealed devtasks/ fails the seal);
- not rendered by the old release: the service's own file, never touched.

Running it twice changes nothing more.

Usage (from copier.yml): removed.py --from <version> --file <path> <what to do> [--file ...]
"""

import argparse
import sys
from pathlib import Path

from service import committed, read, rendering, say


def migrate(version_from: str, files: list[tuple[str, str]]) -> list[str]:
    """Keep or remove each file the template dropped; the lines saying what was done."""
    ours = {path: committed(path) for path, _ in files}
    if all(text is None for text in ours.values()):
        return []
    lines = []
    with rendering(version_from) as old:
        base = {path: read(old, path) for path, _ in files}
    for path, advice in files:
        target = Path(path)
        if ours[path] is None or base[path] is None:
            continue  # the service had deleted it, or it was never the template's
        if ours[path] == base[path]:
            if target.is_file():
                target.unlink()
                lines.append(f"{path}: removed, the template no longer has it")
            continue
        if not target.is_file() or target.read_text(encoding="utf-8") != ours[path]:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(ours[path] or "", encoding="utf-8")
        lines.append(f"{path}: kept with your changes, though the template removed it: {advice}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments copier.yml passes and decide each file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="version_from", required=True, help="template version")
    parser.add_argument(
        "--file",
        dest="files",
        nargs=2,
        action="append",
        required=True,
        metavar=("PATH", "ADVICE"),
        help="a path the template removed, and what a team that changed it should do",
    )
    args = parser.parse_args(argv)
    files = [(str(path), str(advice)) for path, advice in args.files]
    for line in migrate(args.version_from, files):
        say(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
