"""`invoke parity`: whatever it accepts, `invoke ci` runs exactly as GitHub Actions would.

The checks, each returning one line per problem (file, job, key or difference, why):
the workflow model (`model.py`, every key classified), the task graph, the environment each
job sets, version pins (`pins.py`), pre-commit (`precommit.py`), the seal on devtasks/
(`seal.py`) and `[tool.shipshape]` (`config.py`). `invoke parity --rules` prints them.
"""

import os
import re
import sys
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from invoke.collection import Collection
from invoke.exceptions import Exit

from devtasks import config, dockerfile
from devtasks.checks import arguments, pins, precommit, publish, seal
from devtasks.jobs import ci_spec
from devtasks.jobs.team import task_file
from devtasks.workflow import model, reader
from devtasks.workflow import rules as workflow_rules

# Set by GitHub for every step; a workflow that sets them changes nothing a task declares.
GITHUB_PROVIDED_ENV = re.compile(r"^(GITHUB_|RUNNER_|ACTIONS_|CI$)")
Workflows = Mapping[Path, model.Workflow]


@dataclass(frozen=True)
class Check:
    """One parity check: its name, what it holds, and the function returning its problems."""

    name: str
    rule: str
    run: Callable[[Path, Workflows, Collection], list[str]]


def check_model(_root: Path, workflows: Workflows, _tasks: Collection) -> list[str]:
    """Every workflow key classified; nothing refused or unknown is used."""
    return [str(problem) for workflow in workflows.values() for problem in workflow.problems]


def check_tasks(_root: Path, workflows: Workflows, tasks: Collection) -> list[str]:
    """Jobs call existing `@ci_task`s; a CI job shares its task's name; each task is called."""
    problems = []
    names = set(tasks.task_names)
    called: dict[str, set[str]] = {}
    for workflow in workflows.values():
        stem = workflow.path.stem
        for job in workflow.jobs.values():
            name = job.task
            if name is None:
                continue
            called.setdefault(stem, set()).add(name)
            if name not in names:
                problems.append(f"{job.path}: job `{job.id}` calls `invoke {name}`, no such task")
                continue
            spec = ci_spec(tasks[name])
            if spec is None:
                problems.append(
                    f"{job.path}: job `{job.id}` calls `invoke {name}`, which is not a "
                    "@ci_task: make it one, declaring the env it reads"
                )
            elif spec.workflow != stem:
                problems.append(
                    f"{job.path}: job `{job.id}` calls `invoke {name}`, a task of "
                    f"{spec.workflow}.yml (@ci_task(workflow=...))"
                )
            if workflow.is_ci and name != job.id:
                problems.append(
                    f"{job.path}: job `{job.id}` calls `invoke {name}`; a CI job and its task "
                    "share one name"
                )
    for name in sorted(names):
        spec = ci_spec(tasks[name])
        if spec is not None and name not in called.get(spec.workflow, set()):
            problems.append(
                f"{task_file(tasks[name])}: task `{name}` is a @ci_task of {spec.workflow}.yml "
                "but no job there calls it"
            )
    return problems


def check_calls(_root: Path, workflows: Workflows, tasks: Collection) -> list[str]:
    """A job passes its task only the task's own options: no `--help`, no second task."""
    return [
        str(problem)
        for workflow in workflows.values()
        for problem in arguments.problems(workflow, tasks)
    ]


def check_env(_root: Path, workflows: Workflows, tasks: Collection) -> list[str]:
    """Every variable a workflow sets for a job is one its task declares with `@ci_task(env=)`."""
    problems: list[str] = []
    names = set(tasks.task_names)
    for workflow in workflows.values():
        for job in workflow.jobs.values():
            if job.task is None or job.task not in names:
                continue
            spec = ci_spec(tasks[job.task])
            known = spec.env if spec else frozenset()
            env = dict(job.env)
            for step in job.run_steps:
                env.update(step.env)
            problems.extend(
                f"{job.path}: job `{job.id}` sets {variable}, which task `{job.task}` does not "
                "declare (add it to its @ci_task(env=...), or remove it)"
                for variable in sorted(set(env) - known)
                if not GITHUB_PROVIDED_ENV.match(variable)
            )
    return problems


def check_versions(root: Path, workflows: Workflows, _tasks: Collection) -> list[str]:
    """One Python version source and one uv pin, named the same everywhere."""
    return pins.check_python_versions(root, workflows.values()) + pins.check_uv_version(
        root, workflows.values()
    )


def check_pre_commit(root: Path, _workflows: Workflows, _tasks: Collection) -> list[str]:
    """pre-commit runs the locked tools."""
    return precommit.check(root)


def check_publish(root: Path, workflows: Workflows, _tasks: Collection) -> list[str]:
    """A publishing job needs every job that runs on its events."""
    return publish.check(workflows.values(), config.load(root))


def check_image_users(root: Path, _workflows: Workflows, _tasks: Collection) -> list[str]:
    """No Dockerfile stage ends as root: the images CI builds run as the service's user."""
    if not (root / dockerfile.DOCKERFILE).exists():
        return []
    return dockerfile.read(root).root_stages()


def check_seal(_root: Path, _workflows: Workflows, _tasks: Collection) -> list[str]:
    """devtasks/ is as the template shipped it."""
    return seal.check()


CHECKS: tuple[Check, ...] = (
    Check("workflow model", "every key of every workflow is mirrored or inert", check_model),
    Check("tasks", "jobs call @ci_tasks of their workflow; CI jobs share the name", check_tasks),
    Check("task calls", "after the task name, only that task's own options", check_calls),
    Check("environment", "what a workflow sets, the task declares", check_env),
    Check("versions", "Python and uv versions come from pyproject.toml", check_versions),
    Check("pre-commit", "hooks run the locked tool versions", check_pre_commit),
    Check("publish", "a publishing job needs every job of its events", check_publish),
    Check("image users", "every Dockerfile stage ends as a non-root USER", check_image_users),
    Check("seal", "devtasks/ is unedited; change [tool.shipshape] or team_tasks.py", check_seal),
)


def check(root: Path, tasks: Collection) -> list[str]:
    """Every parity problem of the repository at `root`, one line each."""
    try:
        settings = config.load(root)
    except config.ConfigError as error:
        return [str(error)]
    # The repository's workflows; the service's own files (pyproject, Dockerfile) are at root.
    checkout = settings.checkout(root)
    workflows = reader.read_all(checkout, settings)
    if workflow_rules.CI_WORKFLOW not in workflows:
        return [f"{workflow_rules.CI_WORKFLOW}: missing{settings.checkout_note(checkout)}"]
    return [problem for item in CHECKS for problem in item.run(root, workflows, tasks)]


def rules() -> str:
    """The rules parity enforces, printed from the code: checks, then the key table."""
    lines = ["Checks:"]
    lines += [f"  {item.name}: {item.rule}" for item in CHECKS]
    lines.append("")
    lines.append("Workflow keys (a key in no row is refused):")
    for level, key, kind, why in workflow_rules.rules_table():
        wrapped = textwrap.shorten(why, width=200)
        lines.append(f"  {level:<22} {key:<36} {kind:<9} {wrapped}")
    return "\n".join(lines)


def enforce(root: Path, tasks: Collection) -> None:
    """The `parity` task: print every problem and fail, or say that all agree."""
    problems = check(root, tasks)
    if problems:
        print("\n".join(f"parity: {problem}" for problem in problems), file=sys.stderr)
        message = f"parity: {len(problems)} difference(s) between CI and the local tasks"
        raise Exit(message, code=1)
    print("parity: the workflows and the local tasks agree")


def task(root: Path, tasks: Collection, *, rules_only: bool) -> None:
    """The body of every repository's `parity` task: print the rules, or enforce them."""
    if rules_only:
        try:
            print(rules(), flush=True)
        except BrokenPipeError:
            # `invoke parity --rules | head`: the reader has what it wanted; say nothing more.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    enforce(root, tasks)
