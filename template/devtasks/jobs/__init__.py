"""The CI jobs: how a task declares itself the task a workflow job calls, and the job bodies.

A service's `tasks.py` imports what it needs from here: `ci_task`, and the helpers every
task body uses (`run`, `require_tool`, `require_python`, `docker_missing`). The job bodies
(docker, images, security, supply chain, template updates, lint) are modules of this package.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from invoke.collection import Collection
from invoke.tasks import Task, task

from devtasks.jobs.lint import lint_python_and_github
from devtasks.machine import docker_missing, python_missing, require_python, require_tool, run

__all__ = [
    "CiTask",
    "ci_spec",
    "ci_task",
    "docker_missing",
    "docker_tasks",
    "lint_python_and_github",
    "python_missing",
    "require_python",
    "require_tool",
    "run",
]

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
