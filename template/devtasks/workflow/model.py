"""The typed workflow model: a workflow, its jobs, steps, matrices and entries, as written."""

import itertools
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtasks.workflow import expressions
from devtasks.workflow.rules import (
    BUILTIN_ACTIONS,
    CI_WORKFLOW,
    DEFAULT_TIMEOUT_MINUTES,
    SAFE_ARGUMENT,
    TASK_PREFIX,
    ActionRule,
    Role,
)
from devtasks.workflow.triggers import Trigger

# A job id as GitHub allows it: a letter or `_`, then letters, digits, `-` and `_`.
JOB_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class Problem:
    """Something parity refuses: the file, the job, the key and why."""

    path: Path
    job: str | None
    message: str

    def __str__(self) -> str:
        """`file: job `id`: message`, the line parity prints."""
        where = f"{self.path}: job `{self.job}`" if self.job else str(self.path)
        return f"{where}: {self.message}"


Scalar = str | bool | float | int | None


@dataclass(frozen=True)
class Step:
    """One step of a job, as written."""

    index: int
    id: str | None = None
    uses: str | None = None
    run: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    with_: Mapping[str, Scalar] = field(default_factory=dict)
    if_: str | bool | None = None
    working_directory: str | None = None
    shell: str | None = None
    continue_on_error: bool | str = False
    timeout_minutes: float | None = None

    @property
    def action(self) -> str | None:
        """The action's `owner/name[/path]`, without its ref."""
        return self.uses.split("@", 1)[0] if self.uses else None


@dataclass(frozen=True)
class Entry:
    """One concrete run of a job: its matrix values (empty without a matrix)."""

    job: "Job"
    values: Mapping[str, Any]

    @property
    def label(self) -> str:
        """`key=value` pairs, or '-' for a job without a matrix."""
        return ", ".join(f"{k}={text_of(v)}" for k, v in self.values.items()) or "-"

    def context(self, base: Mapping[str, expressions.Value]) -> expressions.Context:
        """Expression context: github.* from `base`, matrix.* from this entry."""
        values = dict(base)
        for key, value in self.values.items():
            values[f"matrix.{key}"] = text_of(value)
        return expressions.Context(values=values)


def text_of(value: object) -> str:
    """A YAML value as GitHub turns it into text (true, 3.12, empty for null)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Matrix:
    """A job's matrix as written: axes, exclude and include."""

    axes: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    include: tuple[Mapping[str, Any], ...] = ()
    exclude: tuple[Mapping[str, Any], ...] = ()

    def combinations(self) -> list[dict[str, Any]]:
        """GitHub's expansion: the product, minus excludes, then includes merged or added.

        docs.github.com "Expanding or adding matrix configurations"; act's GetMatrixes agrees.
        """
        keys = list(self.axes)
        if keys:
            product = [
                dict(zip(keys, values, strict=True))
                for values in itertools.product(*(self.axes[key] for key in keys))
            ]
        else:
            product = []
        combos = [
            combo
            for combo in product
            if not any(all(combo.get(k) == v for k, v in ex.items()) for ex in self.exclude)
        ]
        added = []
        for extra in self.include:
            # It extends every combination whose original values it does not overwrite;
            # one that extends none becomes a combination of its own, after all the rest.
            matched = False
            for combo in combos:
                if all(combo[k] == v for k, v in extra.items() if k in self.axes):
                    combo.update(extra)
                    matched = True
            if not matched:
                added.append(dict(extra))
        combos += added
        return combos or [{}]


@dataclass(frozen=True)
class Environment:
    """A job's deployment environment: its name (and URL); its protection rules are GitHub's."""

    name: str
    url: str | None = None


@dataclass(frozen=True)
class Job:
    """One job of a workflow, as written."""

    path: Path
    id: str
    needs: tuple[str, ...] = ()
    if_: str | bool | None = None
    runs_on: tuple[str, ...] = ("ubuntu-latest",)
    env: Mapping[str, str] = field(default_factory=dict)
    # Job outputs, name -> expression (`${{ steps.<id>.outputs.<name> }}`), as written.
    outputs: Mapping[str, str] = field(default_factory=dict)
    environment: Environment | None = None
    working_directory: str | None = None
    shell: str | None = None
    matrix: Matrix = field(default_factory=Matrix)
    fail_fast: bool = True
    continue_on_error: bool | str = False
    timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES
    steps: tuple[Step, ...] = ()
    # Why its `if:` cannot be decided as written (it reads what the workflow does not
    # declare), or "": the job is then refused, whatever the condition evaluates to.
    if_refused: str = ""

    @property
    def run_steps(self) -> list[Step]:
        """The steps that run a shell command."""
        return [step for step in self.steps if step.run is not None]

    @property
    def task_step(self) -> Step | None:
        """The one `run:` step, if the job has exactly one; else its one task action."""
        runs = self.run_steps
        if runs:
            return runs[0] if len(runs) == 1 else None
        actions = [step for step in self.steps if _task_action(step) is not None]
        return actions[0] if len(actions) == 1 else None

    @property
    def command(self) -> str | None:
        """What the task step runs: its `run:`, or the command its task action runs."""
        step = self.task_step
        if step is None:
            return None
        rule = _task_action(step)
        if rule is None:
            return step.run
        arguments = step.with_.get(rule.arguments_input, rule.arguments_default)
        return " ".join((shlex.join(rule.command), text_of(arguments))).strip()

    @property
    def argv(self) -> list[str] | None:
        """The task call, split, with `${{ ... }}` left as written; None if not a task call."""
        step = self.task_step
        if step is None or step.run is None:
            return None
        return task_argv(step.run)

    @property
    def task(self) -> str | None:
        """The invoke task the job calls."""
        argv = self.argv
        return argv[len(TASK_PREFIX)] if argv else None

    @property
    def builtin_actions(self) -> list[ActionRule]:
        """The built-in actions among the job's steps, in order."""
        found = (BUILTIN_ACTIONS.get(step.action or "") for step in self.steps)
        return [rule for rule in found if rule is not None]

    @property
    def host_tools(self) -> tuple[str, ...]:
        """Tools the job's setup actions install on the runner, which the ci image lacks."""
        return tuple(rule.host_tool for rule in self.builtin_actions if rule.host_tool)

    @property
    def needs_docker(self) -> bool:
        """Whether the job sets up Docker tooling, so it needs an engine to run."""
        return any(rule.needs_docker for rule in self.builtin_actions)

    def entries(self) -> Iterator[Entry]:
        """The job's matrix entries; a job without a matrix has one, with no values."""
        for combo in self.matrix.combinations():
            yield Entry(job=self, values=combo)


@dataclass(frozen=True)
class Workflow:
    """A parsed workflow file: its triggers, env, run defaults, jobs and what parity refuses."""

    path: Path
    events: frozenset[str]
    env: Mapping[str, str]
    working_directory: str | None
    shell: str | None
    jobs: Mapping[str, Job]
    problems: tuple[Problem, ...]
    # `on:` typed: each event with its filters, as `triggers.decide` reads them.
    triggers: Mapping[str, Trigger] = field(default_factory=dict)

    @property
    def is_ci(self) -> bool:
        """Whether this is the CI workflow `invoke ci` runs."""
        return self.path.name == CI_WORKFLOW.name


def task_argv(run: str) -> list[str] | None:
    """`uv run --locked invoke <task> [args]` split into words, or None if it is anything else.

    Only plain words are accepted (and `${{ matrix.* }}` inside them), so the shell has
    nothing to interpret: no second command, no `||`, no redirection, no quoting.
    """
    text = run.strip()
    if "\n" in text:
        return None
    placeholder = expressions.EXPRESSION.sub("X", text)
    try:
        words = shlex.split(placeholder)
    except ValueError:
        return None
    if " ".join(words) != " ".join(placeholder.split()):
        return None
    if tuple(words[: len(TASK_PREFIX)]) != TASK_PREFIX or len(words) <= len(TASK_PREFIX):
        return None
    if not all(SAFE_ARGUMENT.match(word) for word in words):
        return None
    # Split as written, each `${{ ... }}` kept whole inside its word.
    found = iter(expressions.EXPRESSION.findall(text))
    argv = []
    for word in expressions.EXPRESSION.sub("\0", text).split():
        first, *rest = word.split("\0")
        argv.append(first + "".join("${{" + next(found) + "}}" + piece for piece in rest))
    return argv


def runner_os(label: str) -> str:
    """The OS of a GitHub-hosted runner label: linux, windows, macos or unknown."""
    lowered = label.casefold()
    for prefix, name in (("ubuntu-", "linux"), ("windows-", "windows"), ("macos-", "macos")):
        if lowered.startswith(prefix):
            return name
    return "unknown"


def ordered(jobs: Mapping[str, Job]) -> list[Job]:
    """Jobs in an order that respects `needs:`, keeping file order among independent ones."""
    done: list[Job] = []
    placed: set[str] = set()
    pending = list(jobs.values())
    while pending:
        ready = next((job for job in pending if set(job.needs) <= placed), None)
        if ready is None:
            names = ", ".join(job.id for job in pending)
            msg = f"jobs {names} need jobs that do not exist or form a cycle"
            raise ValueError(msg)
        pending.remove(ready)
        placed.add(ready.id)
        done.append(ready)
    return done


def _task_action(step: Step) -> ActionRule | None:
    """The built-in action that stands as the task step (pre-commit/action), if it is one."""
    rule = BUILTIN_ACTIONS.get(step.action or "")
    return rule if rule is not None and rule.role is Role.TASK else None
