r"""GitHub's filter patterns for branches, tags and paths ("Filter pattern cheat sheet").

`*` matches anything but `/`; `**` anything at all (and `**/` zero or more whole folders, so
`docs/**/*.md` matches `docs/README.md`); `?` and `+` make the preceding character optional
or repeatable; `[...]` is one character of a set or range; `\\` escapes; a leading `!`
negates, and the last pattern that matches a name decides.
"""

import functools
import re
from collections.abc import Sequence


class PatternError(ValueError):
    """A filter pattern GitHub would not accept (an unclosed `[`, a bad range)."""


def _bracket(pattern: str, start: int) -> tuple[str, int]:
    """The character class starting at `pattern[start] == "["`, and the index after it."""
    end = pattern.find("]", start + 1)
    if end == start + 1 or end < 0:
        message = f"`{pattern}`: `[` is not closed by `]`"
        raise PatternError(message)
    body = pattern[start + 1 : end]
    parts = []
    index = 0
    while index < len(body):
        if index + 2 < len(body) and body[index + 1] == "-":
            low, high = body[index], body[index + 2]
            if not any(a <= low <= high <= b for a, b in (("a", "z"), ("A", "Z"), ("0", "9"))):
                message = f"`{pattern}`: range {low}-{high} is not within a-z, A-Z or 0-9"
                raise PatternError(message)
            parts.append(f"{re.escape(low)}-{re.escape(high)}")
            index += 3
        else:
            parts.append(re.escape(body[index]))
            index += 1
    return "[" + "".join(parts) + "]", end + 1


@functools.cache
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """One pattern (without its leading `!`) as a regular expression matching whole names."""
    atoms: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            index += 2
            # `**/` after a folder boundary also matches no folder at all.
            at_boundary = index == len("**") or pattern[index - 3] == "/"
            if at_boundary and pattern.startswith("/", index):
                atoms.append("(?:.*/)?")
                index += 1
            else:
                atoms.append(".*")
            continue
        if char == "*":
            atoms.append("[^/]*")
        elif char in "?+":
            if not atoms or atoms[-1][-1:] in {"?", "+", "*"}:
                message = f"`{pattern}`: `{char}` follows nothing it could repeat"
                raise PatternError(message)
            atoms[-1] = f"(?:{atoms[-1]}){char}"
        elif char == "[":
            atom, index = _bracket(pattern, index)
            atoms.append(atom)
            continue
        elif char == "\\" and index + 1 < len(pattern):
            index += 1
            atoms.append(re.escape(pattern[index]))
        else:
            atoms.append(re.escape(char))
        index += 1
    return re.compile("".join(atoms), re.DOTALL)


def check(patterns: Sequence[str]) -> list[str]:
    """Why each pattern GitHub would refuse is refused (empty when all are valid)."""
    problems = []
    for pattern in patterns:
        try:
            compile_pattern(pattern.removeprefix("!"))
        except PatternError as error:
            problems.append(str(error))
    return problems


def last_match(patterns: Sequence[str], name: str) -> str | None:
    """The pattern that decides `name`: the last one matching it (`!` ones included)."""
    decided = None
    for pattern in patterns:
        if compile_pattern(pattern.removeprefix("!")).fullmatch(name):
            decided = pattern
    return decided


def included(patterns: Sequence[str], name: str) -> bool:
    """Whether `name` is matched: by a positive pattern that no later `!` pattern negates."""
    decided = last_match(patterns, name)
    return decided is not None and not decided.startswith("!")
