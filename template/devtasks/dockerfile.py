"""The one reader of the Dockerfile: base image, Python and uv versions, stages and users."""

import re
from dataclasses import dataclass, replace
from pathlib import Path

DOCKERFILE = Path("Dockerfile")
# The stage every other one builds on: `FROM <python image> AS python`, a plain line that
# Dependabot can read; a mirror replaces it by name (`--build-context python=...`).
BASE_STAGE = "python"
BASE_FROM = re.compile(rf"^\s*FROM\s+(?!\$)(\S+)\s+AS\s+{BASE_STAGE}\s*$", re.IGNORECASE)
# Dockerfiles before it named the base in a build argument, which Dependabot cannot read.
BASE_ARG = re.compile(r"^\s*ARG\s+PYTHON_IMAGE=(\S+)", re.IGNORECASE)
# Any reference to an official Python image, in FROM, ARG or COPY --from, with any registry.
PYTHON_IMAGE = re.compile(r"(?:^|[\s=/])python:(3\.\d+)(?:[.\-@\s]|$)")
UV_IMAGE = re.compile(r"astral-sh/uv:(?:python3\.\d+-)?v?(\d+\.\d+\.\d+)")
STAGE_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$", re.IGNORECASE)
USER = re.compile(r"^\s*USER\s+(\S+)\s*$", re.IGNORECASE)
ARG_DEFAULT = re.compile(r"^\s*ARG\s+(\w+)=(\S+)\s*$", re.IGNORECASE)
VARIABLE = re.compile(r"\$\{?(\w+)\}?")
INSTRUCTION = re.compile(r"^\s*[A-Za-z]+\s")
ROOT_NAMES = frozenset({"root", "0"})


class DockerfileError(ValueError):
    """The Dockerfile does not say what the build needs."""


@dataclass(frozen=True)
class Stage:
    """One `FROM ... AS name` stage: what it starts from, and the last `USER` it sets."""

    name: str
    parent: str
    line: int
    # (line, user as written, user with the stage's ARG defaults filled in)
    user: tuple[int, str, str] | None = None
    # Whether it does anything beyond naming an image (`FROM python:3.13-slim AS python`).
    instructions: bool = False


@dataclass(frozen=True)
class Dockerfile:
    """What the Dockerfile names: its default base image and every version, by line."""

    base_image: str | None
    python_versions: tuple[tuple[int, str], ...]
    uv_versions: tuple[tuple[int, str], ...]
    stages: tuple[Stage, ...] = ()

    def root_stages(self) -> list[str]:
        """One line per stage that ends as root (its own `USER`, or the one it inherits).

        A stage that only names an image is skipped; one starting from an image outside this
        file, with no `USER` of its own, runs as that image's user: root, for every image the
        template starts from.
        """
        by_name = {stage.name: stage for stage in self.stages}
        problems = []
        for stage in self.stages:
            if not stage.instructions:
                continue
            found, seen = stage, set()
            while found.user is None and found.parent in by_name and found.name not in seen:
                seen.add(found.name)
                found = by_name[found.parent]
            if found.user is None:
                problems.append(
                    f"{DOCKERFILE}:{stage.line}: stage `{stage.name}` runs as root (no USER "
                    f"after `FROM {found.parent}`); end it with `USER <uid>:<gid>` of a user "
                    "the Dockerfile creates"
                )
                continue
            line, written, resolved = found.user
            if resolved.split(":", 1)[0] in ROOT_NAMES or VARIABLE.search(resolved):
                why = "root" if not VARIABLE.search(resolved) else "a user this file cannot tell"
                problems.append(
                    f"{DOCKERFILE}:{line}: stage `{stage.name}` ends as {why} (`USER {written}`);"
                    " end it with `USER <uid>:<gid>` of a non-root user the Dockerfile creates"
                )
        return problems

    def require_base_image(self) -> str:
        """The image the `python` stage starts from, or a one-line error."""
        if self.base_image is None:
            msg = f"{DOCKERFILE}: no `FROM <python image> AS {BASE_STAGE}` stage"
            raise DockerfileError(msg)
        return self.base_image


def parse(text: str) -> Dockerfile:
    """Read a Dockerfile's text (continuation lines are read as written, line by line)."""
    base = argument = None
    pythons: list[tuple[int, str]] = []
    uvs: list[tuple[int, str]] = []
    stages: list[Stage] = []
    arguments: dict[str, str] = {}
    continued = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        starts = not continued and bool(INSTRUCTION.match(line))
        continued = line.rstrip().endswith("\\")
        if starts:
            stages, arguments = _read_instruction(number, line, stages, arguments)
        if base is None and (match := BASE_FROM.match(line)):
            base = match.group(1)
        if argument is None and (match := BASE_ARG.match(line)):
            argument = match.group(1)
        pythons.extend((number, m.group(1)) for m in PYTHON_IMAGE.finditer(line))
        uvs.extend((number, m.group(1)) for m in UV_IMAGE.finditer(line))
    return Dockerfile(
        base_image=base or argument,
        python_versions=tuple(pythons),
        uv_versions=tuple(uvs),
        stages=tuple(stages),
    )


def _read_instruction(
    number: int, line: str, stages: list[Stage], arguments: dict[str, str]
) -> tuple[list[Stage], dict[str, str]]:
    """The stages after one instruction; ARG defaults are the stage's own, as Docker scopes them."""
    if match := STAGE_FROM.match(line):
        name = match.group(2) or str(len(stages))
        return [*stages, Stage(name=name, parent=match.group(1), line=number)], {}
    if not stages:
        return stages, arguments  # global ARGs before the first FROM
    stage = stages[-1]
    if match := ARG_DEFAULT.match(line):
        # Docker strips the quotes of `ARG U="0"`, and of `USER "0"`, as a shell would.
        arguments = {**arguments, match.group(1): _unquoted(match.group(2))}
    user = None
    if match := USER.match(line):
        written = _unquoted(match.group(1))
        resolved = VARIABLE.sub(lambda m: arguments.get(m.group(1), m.group(0)), written)
        user = (number, written, resolved)
    changed = replace(stage, instructions=True, user=user or stage.user)
    return [*stages[:-1], changed], arguments


def _unquoted(word: str) -> str:
    """A word without one pair of surrounding quotes."""
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":  # noqa: PLR2004 - a pair
        return word[1:-1]
    return word


def read(root: Path) -> Dockerfile:
    """The Dockerfile of the project at `root`."""
    return parse((root / DOCKERFILE).read_text(encoding="utf-8"))
