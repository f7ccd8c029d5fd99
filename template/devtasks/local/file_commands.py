"""`$GITHUB_OUTPUT`: the file a step writes its outputs to, read as GitHub's runner reads it.

actions/runner (src/Runner.Worker/FileCommandManager.cs): the file is read line by line
(LF); an empty line is skipped; `name=value` when `=` comes before any `<<`; `name<<DELIM`
when `<<` comes first, its value the lines up to one that is exactly DELIM, joined by LF;
anything else, an empty name or delimiter, or a missing delimiter fails the step
("Unable to process file command 'output' successfully"). A later value of a name wins.
"""

from pathlib import Path

OUTPUT_VARIABLE = "GITHUB_OUTPUT"


class FileCommandError(ValueError):
    """A `$GITHUB_OUTPUT` file the runner would refuse; the step fails with this line."""


def parse_outputs(text: str) -> dict[str, str]:
    """The outputs a step wrote, by name."""
    outputs: dict[str, str] = {}
    # Split on LF only, as the runner does on Linux; a CR stays part of the line.
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line starts no line of its own
    position = 0
    while position < len(lines):
        line = lines[position]
        position += 1
        if not line:
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if equals >= 0 and (heredoc < 0 or equals < heredoc):
            name, value = line.split("=", 1)
            if not name:
                msg = f"invalid format '{line}': the name must not be empty"
                raise FileCommandError(msg)
            outputs[name] = value
            continue
        if heredoc < 0:
            msg = f"invalid format '{line}'"
            raise FileCommandError(msg)
        name, delimiter = line.split("<<", 1)
        if not name or not delimiter:
            msg = f"invalid format '{line}': name and delimiter must not be empty"
            raise FileCommandError(msg)
        outputs[name], position = _heredoc(lines, position, delimiter)
    return outputs


def _heredoc(lines: list[str], position: int, delimiter: str) -> tuple[str, int]:
    """The value from `position` to the line that is exactly the delimiter; where it ends."""
    try:
        end = lines.index(delimiter, position)
    except ValueError:
        msg = f"invalid value: matching delimiter not found '{delimiter}'"
        raise FileCommandError(msg) from None
    return "\n".join(lines[position:end]), end + 1


def read_outputs(path: Path) -> dict[str, str]:
    """The outputs in a step's `$GITHUB_OUTPUT` file; none when the step removed it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    return parse_outputs(text)
