"""Step outputs from a task: written to `$GITHUB_OUTPUT` in the runner's format.

The same call on GitHub and under `invoke ci` (which gives each task step such a file, as
the runner does); run by hand, where there is no file, the outputs are printed instead.
A value goes in the heredoc form with a random delimiter, as @actions/core writes it, so
multi-line values and values holding `=` or `<<` arrive unchanged.
"""

import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path

from invoke.exceptions import Exit

from devtasks.local.file_commands import OUTPUT_VARIABLE

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def output_lines(outputs: Mapping[str, str], delimiter: str | None = None) -> str:
    """The text appended to `$GITHUB_OUTPUT` for these outputs."""
    text = []
    for name, value in outputs.items():
        if not NAME.match(name):
            message = f"output name {name!r} must be letters, digits, '_' or '-'"
            raise Exit(message, code=1)
        marker = delimiter or f"ghadelimiter_{uuid.uuid4()}"
        if marker in name or marker in value.split("\n"):
            message = f"output {name!r}: its value holds the delimiter {marker!r}"
            raise Exit(message, code=1)
        text.append(f"{name}<<{marker}\n{value}\n{marker}\n")
    return "".join(text)


def set_outputs(outputs: Mapping[str, str]) -> None:
    """Write the task's step outputs where the runner (or `invoke ci`) reads them."""
    target = os.environ.get(OUTPUT_VARIABLE, "")
    if not target:
        for name, value in outputs.items():
            print(f"output {name}={value}")
        return
    with Path(target).open("a", encoding="utf-8") as file:
        file.write(output_lines(outputs))
