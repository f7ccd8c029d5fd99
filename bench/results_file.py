"""Write one benchmark's section of bench/results.md, leaving the other sections alone."""

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results.md"
HEADER = "# Benchmarks\n\nFigures written by the scripts in `bench/`; rerun them to refresh.\n"


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section between `<!-- bench:name -->` markers."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else HEADER
    section = f"<!-- bench:{name} -->\n{body.strip()}\n<!-- /bench:{name} -->"
    pattern = re.compile(
        rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.DOTALL
    )
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text, encoding="utf-8")


def verdict(ok: bool | None) -> str:  # noqa: FBT001 - a table cell
    """How a figure compares with its goal, if it has one."""
    if ok is None:
        return ""
    return "met" if ok else "**missed**"
