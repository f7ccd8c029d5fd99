"""The one reader of the Dockerfile's image references: base image, Python and uv versions."""

import re
from dataclasses import dataclass
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


class DockerfileError(ValueError):
    """The Dockerfile does not say what the build needs."""


@dataclass(frozen=True)
class Dockerfile:
    """What the Dockerfile names: its default base image and every version, by line."""

    base_image: str | None
    python_versions: tuple[tuple[int, str], ...]
    uv_versions: tuple[tuple[int, str], ...]

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
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        if base is None and (match := BASE_FROM.match(line)):
            base = match.group(1)
        if argument is None and (match := BASE_ARG.match(line)):
            argument = match.group(1)
        pythons.extend((number, m.group(1)) for m in PYTHON_IMAGE.finditer(line))
        uvs.extend((number, m.group(1)) for m in UV_IMAGE.finditer(line))
    return Dockerfile(
        base_image=base or argument, python_versions=tuple(pythons), uv_versions=tuple(uvs)
    )


def read(root: Path) -> Dockerfile:
    """The Dockerfile of the project at `root`."""
    return parse((root / DOCKERFILE).read_text(encoding="utf-8"))
