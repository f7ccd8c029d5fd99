"""What this machine has: tools on PATH, interpreters, a Docker engine, and running commands."""

import functools
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit, UnexpectedExit


def require_tool(name: str, hint: str = "run `uv sync` to install the dev tools") -> str:
    """Return the tool's path, or stop with a one-line error naming it."""
    path = shutil.which(name)
    if path is None:
        message = f"`{name}` is not installed or not on PATH: {hint}"
        raise Exit(message, code=1)
    return path


def run(c: Context, *argv: str, env: Mapping[str, str] | None = None, hide: bool = False) -> str:
    """Run a command; a missing tool or a failure is a one-line error, never a traceback."""
    require_tool(argv[0])
    command = shlex.join(argv)
    try:
        result = c.run(command, env=dict(env or {}), hide=hide, pty=False)
    except UnexpectedExit as failure:
        message = f"`{command}` failed with exit code {failure.result.exited}"
        raise Exit(message, code=failure.result.exited or 1) from None
    return result.stdout if result is not None else ""


def python_missing(version: str) -> str | None:
    """Why no interpreter for this Python version can be used here, or None if one can."""
    if shutil.which("uv") is None:
        return "uv is not on PATH"
    found = subprocess.run(
        ["uv", "python", "find", "--no-python-downloads", "--system", version],
        capture_output=True,
        check=False,
    )
    return None if found.returncode == 0 else f"no local Python {version}"


def require_python(version: str) -> None:
    """Stop with one line unless an interpreter for this Python version is on the machine."""
    if python_missing(version) is not None:
        message = f"Python {version} is not installed on this machine: install it first"
        raise Exit(message, code=1)


@functools.cache
def docker_missing() -> str | None:
    """Why Docker cannot be used here (CLI, engine, buildx, compose), or None if it can.

    The one "does Docker answer?" probe: `invoke ci` skips Docker jobs with this reason and
    the Docker tasks stop with it.
    """
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    checks = (
        (["docker", "info", "--format", "{{.ServerVersion}}"], "no Docker engine answers"),
        (["docker", "buildx", "version"], "the `docker buildx` plugin is missing"),
        (["docker", "compose", "version"], "the `docker compose` plugin is missing"),
    )
    for argv, reason in checks:
        found = subprocess.run(argv, capture_output=True, text=True, check=False)
        if found.returncode != 0:
            said = next((line for line in found.stderr.splitlines() if line.strip()), "")
            return f"{reason} ({said.strip()})" if said else reason
    return None


def git_lines(root: Path, *argv: str) -> list[str] | None:
    """NUL-separated output of a git command in `root`, or None outside a git work tree.

    The one way devtasks reads git; a command that fails (no such ref, no repository) is None.
    """
    if shutil.which("git") is None:
        return None
    done = subprocess.run(["git", "-C", str(root), *argv], capture_output=True, check=False)
    if done.returncode != 0:
        return None
    return [os.fsdecode(item) for item in done.stdout.split(b"\0") if item]
