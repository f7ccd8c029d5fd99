"""How tasks run commands and declare themselves CI jobs."""

import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from invoke.context import Context
from invoke.exceptions import Exit, UnexpectedExit
from invoke.tasks import Task

Body = TypeVar("Body", bound=Callable[..., Any])
CI_JOB_MARK = "__ci_job_env__"
READS_ENV_MARK = "__reads_env__"


def ci_job(*, env: Iterable[str] = ()) -> Callable[[Body], Body]:
    """Mark a task body as a CI job that reads the given environment variables.

    `invoke parity` fails when a workflow sets a variable the task does not declare, and
    when a task marked here is called by no job.
    """

    def mark(body: Body) -> Body:
        setattr(body, CI_JOB_MARK, frozenset(env))
        return body

    return mark


def reads_env(*names: str) -> Callable[[Body], Body]:
    """Declare the environment variables a task that is no CI job reads (a scheduled one, say).

    A workflow may set only declared variables for a job (`invoke parity` checks it); this
    declares them without making the task a job of the CI workflow.
    """

    def mark(body: Body) -> Body:
        setattr(body, READS_ENV_MARK, frozenset(names))
        return body

    return mark


def is_ci_job(task: Task[Any]) -> bool:
    """Whether the task was marked with `ci_job`."""
    return hasattr(task.body, CI_JOB_MARK)


def declared_env(task: Task[Any]) -> frozenset[str]:
    """The environment variables a task declares it reads, with `ci_job` or `reads_env`."""
    job_env: frozenset[str] = getattr(task.body, CI_JOB_MARK, frozenset())
    other_env: frozenset[str] = getattr(task.body, READS_ENV_MARK, frozenset())
    return job_env | other_env


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


def lint_python_and_github(c: Context) -> None:
    """Ruff, then the GitHub files: workflow and Dependabot schemas, and zizmor's audits."""
    run(c, "ruff", "check", ".")
    run(c, "ruff", "format", "--check", ".")
    workflows = sorted(str(path) for path in Path(".github/workflows").glob("*.y*ml"))
    run(c, "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)
    run(c, "check-jsonschema", "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml")
    run(c, "zizmor", "--offline", "--quiet", ".github")


def require_python(version: str) -> None:
    """Stop with one line unless an interpreter for this Python version is on the machine."""
    require_tool("uv")
    found = subprocess.run(
        ["uv", "python", "find", "--no-python-downloads", "--system", version],
        capture_output=True,
        check=False,
    )
    if found.returncode != 0:
        message = f"Python {version} is not installed on this machine: install it first"
        raise Exit(message, code=1)
