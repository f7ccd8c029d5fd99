"""How tasks declare themselves CI jobs and run commands; the machine probes tasks share."""

import functools
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit, UnexpectedExit
from invoke.tasks import Task, task

CI_TASK_MARK = "__ci_task__"


@dataclass(frozen=True)
class CiTask:
    """What `@ci_task` records: the workflow whose job calls it, the env it reads, its needs."""

    workflow: str
    env: frozenset[str]
    # The task starts containers itself, so `invoke ci` skips its job where no engine answers.
    needs_docker: bool = False


def ci_task(
    *,
    env: Iterable[str] = (),
    workflow: str = "ci",
    needs_docker: bool = False,
    **task_options: Any,  # noqa: ANN401 - passed through to invoke's own @task
) -> Callable[[Callable[..., Any]], Task[Any]]:
    """The `@task` of invoke, marked as the task a job of `.github/workflows/<workflow>.yml` calls.

    One decorator, so no order of decorators can drop the declaration. `invoke parity` fails
    when a workflow sets an environment variable the task does not list in `env`, when a
    job calls a task not made with this, and when no job of `workflow` calls it. A task that
    starts containers itself says `needs_docker=True`: `invoke ci` then skips its job where
    no Docker engine answers, as it skips jobs that set up Docker tooling.
    """

    def make(body: Callable[..., Any]) -> Task[Any]:
        made: Task[Any] = task(**task_options)(body)
        spec = CiTask(workflow=workflow, env=frozenset(env), needs_docker=needs_docker)
        setattr(made, CI_TASK_MARK, spec)
        return made

    return make


def ci_spec(made: Task[Any]) -> CiTask | None:
    """The `@ci_task` declaration of a task, if it has one."""
    spec = getattr(made, CI_TASK_MARK, None)
    return spec if isinstance(spec, CiTask) else None


def docker_tasks(tasks: Collection | None) -> frozenset[str]:
    """The names of the collection's `@ci_task`s that declare `needs_docker=True`."""
    if tasks is None:
        return frozenset()
    return frozenset(
        name
        for name in tasks.task_names
        if (spec := ci_spec(tasks[name])) is not None and spec.needs_docker
    )


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
