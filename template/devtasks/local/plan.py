"""What `invoke ci` runs for each matrix entry, resolved before anything runs.

Per entry: the local event's `github.*` values, `${{ ... }}` substituted, env merged
(workflow, job, step, then what setup-uv exports), the working directory, GitHub's bash
invocation (`bash -e` by default; `shell: bash` adds `--noprofile --norc -o pipefail`, as
the runner does), timeouts, continue-on-error, and why an entry is skipped or refused.
"""

import dataclasses
import enum
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from invoke.collection import Collection
from invoke.exceptions import Exit

from devtasks import config
from devtasks.checks import arguments
from devtasks.jobs import docker_tasks
from devtasks.local import changed, tools, values
from devtasks.machine import docker_missing, git_lines, python_missing
from devtasks.workflow import contexts, expressions, model, reader, rules, triggers
from devtasks.workflow.contexts import Location

# Where a matrix entry that asks setup-uv for another Python keeps its project environment.
CI_VENVS = Path(".venv-ci")


class Result(enum.Enum):
    """How one matrix entry of a job ended; `--json` prints the value."""

    PASSED = "passed"
    FAILED = "failed"
    ALLOWED_FAILURE = "failed-allowed"  # continue-on-error: fails, yet counts as success
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    NOT_SELECTED = "not-selected"  # left out by --only / --skip: not run, not counted
    NOT_TRIGGERED = "not-triggered"  # the workflow's `on:` does not run for the local event

    @property
    def succeeded(self) -> bool:
        """Whether a job that `needs:` this one may run (GitHub's `success()`)."""
        return self in {Result.PASSED, Result.ALLOWED_FAILURE}


@dataclass(frozen=True)
class Outcome:
    """How one job (or matrix entry) went."""

    job: str
    entry: str
    result: Result
    seconds: float
    reason: str = ""
    command: str | None = None
    exit_code: int | None = None
    matrix: Mapping[str, str] = field(default_factory=dict)
    # What to do about a job that did not pass (empty when it passed).
    fix: str = ""
    workflow: str = str(rules.CI_WORKFLOW)

    def as_json(self) -> dict[str, Any]:
        """The machine-readable form `--json` prints."""
        return {
            "workflow": self.workflow,
            "job": self.job,
            "entry": self.entry,
            "matrix": dict(self.matrix),
            "result": self.result.value,
            "seconds": round(self.seconds, 2),
            "reason": self.reason,
            "command": self.command,
            "exit_code": self.exit_code,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Event:
    """The local stand-in for what triggered the run: `github.*` as GitHub would set it."""

    name: str
    ref: str
    base_ref: str = ""
    head_ref: str = ""
    # The branch a pull request merges into (its branch filters match this), else the
    # default branch; what the changed files are compared with, and the files themselves.
    base: str = ""
    compared: str = ""
    changed: tuple[str, ...] = ()
    uncommitted: tuple[str, ...] = ()
    # Why the changed files are unknown (a --base git does not have), or "".
    changes_problem: str = ""
    # workflow_dispatch inputs, typed (bool, float, str) with defaults applied, for the
    # workflow being run: the expression context's `inputs.*` and `github.event.inputs.*`.
    inputs: Mapping[str, triggers.Value] = field(default_factory=dict)

    def values(self) -> dict[str, expressions.Value]:
        """The github context values expressions can read."""
        ref_type = "tag" if self.ref.startswith("refs/tags/") else "branch"
        ref_name = self.ref.split("/", 2)[2] if self.ref.count("/") >= 2 else self.ref  # noqa: PLR2004
        return {
            "github.event_name": self.name,
            "github.ref": self.ref,
            "github.ref_name": ref_name,
            "github.ref_type": ref_type,
            "github.base_ref": self.base_ref,
            "github.head_ref": self.head_ref,
        }

    def happening(self) -> triggers.Happening:
        """What `on:` is decided on: the event, its ref, base branch and changed files."""
        return triggers.Happening(self.name, self.ref, self.base, self.changed)


def current_branch(root: Path, default: str) -> str:
    """The checked-out branch, or the default branch when HEAD is detached or not in git."""
    found = git_lines(root, "symbolic-ref", "--quiet", "--short", "HEAD")
    return found[0].strip() if found and found[0].strip() else default


def local_event(  # noqa: PLR0913 - each a flag of `invoke ci`
    root: Path,
    name: str,
    ref: str,
    settings: config.Config,
    *,
    base: str = "",
    include_uncommitted: bool = False,
) -> Event:
    """The event `invoke ci` pretends: a pull request into `base`, a push, a dispatch, a schedule.

    `ref` defaults to the pull request's merge ref, else the current branch (a schedule and
    a dispatch run on the default branch, as GitHub runs them).
    """
    if name not in rules.LOCAL_EVENTS:
        message = f"ci: --event must be one of {', '.join(rules.LOCAL_EVENTS)}, not {name!r}"
        raise Exit(message, code=1)
    if ref and not ref.startswith(("refs/heads/", "refs/tags/", "refs/pull/")):
        ref = f"refs/heads/{ref}"
    # A branch, as GitHub's base_ref names it; `refs/heads/main` is the same branch.
    base = base.removeprefix("refs/heads/") or settings.default_branch
    branch = current_branch(root, settings.default_branch)
    found = changed.changed_files(root, name, base)
    files = Event(
        name,
        ref or f"refs/heads/{branch}",
        base=base,
        compared=found.compared,
        changed=found.counted(include_uncommitted=include_uncommitted),
        uncommitted=found.uncommitted,
        changes_problem=found.problem,
    )
    if name == "pull_request":
        return dataclasses.replace(
            files, ref=ref or "refs/pull/1/merge", base_ref=base, head_ref=branch
        )
    if name == "push":
        return files
    return dataclasses.replace(files, ref=ref or f"refs/heads/{settings.default_branch}")


@dataclass(frozen=True)
class Place:
    """Where `invoke ci` runs the jobs: on this machine, or inside the `ci` image."""

    prefix: tuple[str, ...] = ()
    image_python: str | None = None

    @property
    def in_container(self) -> bool:
        """Whether the jobs run inside a container."""
        return bool(self.prefix)


HOST = Place()


@dataclass(frozen=True)
class Planned:
    """One matrix entry, resolved: what it would run, where, with what, or why it cannot."""

    entry: model.Entry
    context: expressions.Context
    skip: str | None = None
    skip_fix: str = ""
    refused: str | None = None
    script: str = ""
    shell: tuple[str, ...] = ("bash", "-e")
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path = Path()
    timeout_seconds: float = rules.DEFAULT_TIMEOUT_MINUTES * 60
    step_continues: bool = False
    job_continues: bool = False
    python: str | None = None
    # The entry's `needs` context (flat) and its workflow and job env: what its post-steps
    # and job outputs read besides the task step's own results.
    needs: Mapping[str, expressions.Value] = field(default_factory=dict)
    job_env: Mapping[str, str] = field(default_factory=dict)
    # Pinned tools `--fetch-tools` downloads before the entry runs (tools.obtain).
    downloads: tuple[tools.Download, ...] = ()

    @property
    def job(self) -> model.Job:
        """The job this entry belongs to."""
        return self.entry.job

    @property
    def matrix(self) -> dict[str, str]:
        """The entry's matrix values, as text."""
        return {k: model.text_of(v) for k, v in self.entry.values.items()}

    def outcome(
        self,
        result: Result,
        seconds: float = 0.0,
        reason: str = "",
        exit_code: int | None = None,
        fix: str = "",
    ) -> Outcome:
        """An outcome of this entry; a failure's fix defaults to re-running it with its needs."""
        if not fix and result in {Result.FAILED, Result.CANCELLED}:
            fix = f"fix the cause, then `uv run --locked invoke ci --only {self.job.id}`"
        return Outcome(
            job=self.job.id,
            entry=self.entry.label,
            result=result,
            seconds=seconds,
            reason=reason,
            command=self.script or None,
            matrix=self.matrix,
            exit_code=exit_code,
            fix=fix,
        )


# How GitHub's runner starts a run step's script file: no `shell:` means bash with sh's
# arguments (`-e`), `shell: bash` means the full form (actions/runner, ScriptHandler.cs).
BASH_DEFAULT = ("bash", "-e")
BASH_EXPLICIT = ("bash", "--noprofile", "--norc", "-e", "-o", "pipefail")


def _truthy_setting(value: bool | str, context: expressions.Context) -> bool:  # noqa: FBT001
    if isinstance(value, bool):
        return value
    return expressions.substitute(value, context).strip().lower() == "true"


def _os_skip(runs_on: Sequence[str], here: str) -> str | None:
    wanted = {model.runner_os(label) for label in runs_on}
    if wanted <= {"linux"} or here in wanted:
        return None
    return f"runs on {' '.join(runs_on)} ({', '.join(sorted(wanted))}); this machine runs {here}"


def _machine_skip(planned: "Planned", scene: "Scene") -> tuple[str, str] | None:
    """Why this machine cannot run the entry, and what to do about it; None if it can."""
    reason = _machine_reason(planned, scene)
    if reason is None:
        return None
    if scene.place.in_container:
        return reason, f"run it on the host: `uv run --locked invoke ci --only {planned.job.id}`"
    if planned.python is not None and reason == python_missing(planned.python):
        return reason, f"`uv python install {planned.python}`"
    return reason, "start a Docker engine (`docker info` answers), then run `invoke ci` again"


def _machine_reason(planned: "Planned", scene: "Scene") -> str | None:
    job, place = planned.job, scene.place
    # Docker tooling among its setup actions, or a task declared `@ci_task(needs_docker=True)`.
    needs_docker = job.needs_docker or job.task in scene.docker_tasks
    if place.in_container:
        if needs_docker:
            what = "it drives" if job.needs_docker else "its task starts containers on"
            return f"not run inside the container: {what} the host's Docker engine"
        if job.host_tools:
            tools = " and ".join(job.host_tools)
            where = "is set up on the host, not in the ci image"
            return f"not run inside the container: {tools} {where}"
        if planned.python is not None and planned.python != place.image_python:
            return f"the ci image has Python {place.image_python}, not {planned.python}"
        return None
    if planned.python is not None and (missing := python_missing(planned.python)):
        return missing
    return docker_missing() if needs_docker else None


def local_os() -> str:
    """The OS of this machine, in runner terms."""
    if sys.platform.startswith("linux"):
        return "linux"
    if sys.platform == "darwin":
        return "macos"
    return "windows" if sys.platform.startswith("win") else sys.platform


@dataclass(frozen=True)
class Scene:
    """What every entry of one run shares: the repository, its CI workflow, event and place.

    `root` is the repository GitHub checks out (where jobs start); `service`, the folder of
    the service's pyproject.toml, is the same folder unless the service is a monorepo's.
    """

    root: Path
    workflow: model.Workflow
    event: Event
    place: Place
    pinned_python: str
    # Tasks declared `@ci_task(needs_docker=True)`: their jobs need an engine like Docker jobs.
    docker_tasks: frozenset[str] = frozenset()
    # `--fetch-tools`: a pinned tool that is missing is downloaded, not skipped.
    fetch_tools: bool = False
    service: Path | None = None  # None: `root`

    @property
    def values(self) -> contexts.Values:
        """The contexts every place of this run shares (github, inputs, secrets, vars)."""
        return event_values(self.event)


def event_values(event: Event) -> contexts.Values:
    """The run-wide contexts for a local event: github from it, inputs it was given."""
    return values.run_values(event.values(), event.inputs)


@dataclass(frozen=True)
class Setups:
    """What a job's setup steps decide here: setup-uv's Python, the pinned tools' state."""

    python: str | None = None
    pins: tuple[tuple[str, str], ...] = ()  # each tool not here: the reason, and the fix
    directories: tuple[Path, ...] = ()  # cached versions, first on PATH
    downloads: tuple[tools.Download, ...] = ()  # fetched by the runner before the job


def _setups(
    setups: Sequence[model.Step], context: expressions.Context, *, held: bool, fetch: bool
) -> Setups:
    """setup-uv's python-version, and each pinned tool's state on the host."""
    python = None
    pins, directories, downloads = [], [], []
    for setup in setups:
        inputs = {k: expressions.substitute(str(v), context) for k, v in setup.with_.items()}
        if setup.action == "astral-sh/setup-uv" and "python-version" in inputs:
            python = inputs["python-version"]
        if not held:
            continue
        state = tools.held(setup.action or "", inputs, fetch=fetch)
        if state.skip:
            pins.append(state.skip)
        if state.directory:
            directories.append(state.directory)
        if state.download:
            downloads.append(state.download)
            directories.append(state.download.directory)
    return Setups(python, tuple(pins), tuple(directories), tuple(downloads))


def plan_entry(
    scene: Scene, entry: model.Entry, needs: Mapping[str, expressions.Value] | None = None
) -> Planned:
    """Resolve one entry: expressions, env, directory, shell, timeouts; or why it cannot run.

    `needs` is the job's needs context (`values.needs_values`), once its needs have run.
    Each value is evaluated in a Context built for its place (`contexts.scope`).
    """
    root, workflow = scene.root, scene.workflow
    job = entry.job
    run, needs = scene.values, dict(needs or {})
    matrix = {k: model.text_of(v) for k, v in entry.values.items()}
    job_scope = contexts.scope(Location.JOB_ENV, run, matrix=matrix, needs=needs)
    context = contexts.scope(Location.STEP_ENV, run, matrix=matrix, needs=needs, env={}, steps={})
    problems = [str(p) for p in workflow.problems if p.job in {None, job.id}]
    step = job.task_step
    if problems or step is None or job.command is None or (step.run and job.argv is None):
        reason = problems[0] if problems else f"job `{job.id}` is not one task call"
        return Planned(entry=entry, context=context, refused=reason)
    try:
        job_env = {k: expressions.substitute(v, job_scope) for k, v in job.env.items()}
        # Steps read the workflow's and job's env as the `env` context, and a setup step's
        # credential as `steps` (the only step outputs that exist before the task step).
        context = contexts.scope(
            Location.STEP_ENV,
            run,
            matrix=matrix,
            needs=needs,
            env=job_env,
            steps=values.credential_steps(job),
        )
        env = {**job_env, **{k: expressions.substitute(v, context) for k, v in step.env.items()}}
        script = expressions.substitute(job.command, context).strip()
        on_scope = contexts.scope(Location.JOB_RUNS_ON, run, matrix=matrix, needs=needs)
        runs_on = [expressions.substitute(label, on_scope) for label in job.runs_on]
        setups = _setups(
            job.steps[: step.index],
            context,
            held=not scene.place.in_container,
            fetch=scene.fetch_tools,
        )
        python, pins = setups.python, setups.pins
        job_continues = _truthy_setting(
            job.continue_on_error,
            contexts.scope(Location.JOB_CONTINUE_ON_ERROR, run, matrix=matrix, needs=needs),
        )
        step_continues = _truthy_setting(step.continue_on_error, context)
    except expressions.ExpressionError as error:
        return Planned(entry=entry, context=context, refused=f"job `{job.id}`: {error}")
    if python is not None:
        # What setup-uv does with python-version; on a laptop the entry also gets a project
        # environment of its own, as each job gets a fresh machine on GitHub.
        env["UV_PYTHON"] = python
        if python != scene.pinned_python:
            env["UV_PROJECT_ENVIRONMENT"] = str((scene.service or root) / CI_VENVS / python)
    if setups.directories:
        # As the setup action adds its tool to PATH for the job's later steps.
        path = os.pathsep.join([*map(str, setups.directories), os.environ.get("PATH", "")])
        env["PATH"] = path
    directory = step.working_directory or job.working_directory or workflow.working_directory
    explicit_bash = (step.shell or job.shell or workflow.shell) == "bash"
    shell = BASH_EXPLICIT if explicit_bash else BASH_DEFAULT
    minutes = min(job.timeout_minutes, step.timeout_minutes or job.timeout_minutes)
    planned = Planned(
        entry=entry,
        context=context,
        script=script,
        shell=shell,
        # No event payload file locally: an outer runner's (a CI job that runs `invoke ci`)
        # would describe another event.
        env={"CI": "true", "GITHUB_EVENT_PATH": "", **values.runner_variables(run), **env},
        cwd=root / directory if directory else root,
        timeout_seconds=minutes * 60,
        step_continues=step_continues,
        job_continues=job_continues,
        python=python,
        needs=needs,
        job_env=job_env,
        downloads=setups.downloads,
    )
    if os_skip := _os_skip(runs_on, local_os()):
        return dataclasses.replace(planned, skip=os_skip, skip_fix="run it on that OS")
    if pins:
        # One line naming the pin, what was found and how to get it.
        return dataclasses.replace(planned, skip=pins[0][0], skip_fix=pins[0][1])
    if machine := _machine_skip(planned, scene):
        return dataclasses.replace(planned, skip=machine[0], skip_fix=machine[1])
    return planned


@dataclass(frozen=True)
class Selection:
    """The jobs `--only` / `--skip` leave out, and the selected jobs that need one of them."""

    not_selected: frozenset[str] = frozenset()
    # job -> the left-out jobs it needs (directly or through other jobs)
    blocked: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def select(workflow: model.Workflow, only: Sequence[str], skip: Sequence[str]) -> Selection:
    """`--only` keeps those jobs and what they need; `--skip` then leaves jobs out.

    An unknown job name is refused in one line, never ignored.
    """
    unknown = [name for name in (*only, *skip) if name not in workflow.jobs]
    if unknown:
        names = ", ".join(workflow.jobs)
        message = f"ci: no job {shown_names(unknown)} in {workflow.path}; its jobs are {names}"
        raise Exit(message, code=1)
    chosen = set(workflow.jobs)
    if only:
        chosen, wanted = set(), list(only)
        while wanted:
            name = wanted.pop()
            if name not in chosen:
                chosen.add(name)
                wanted.extend(workflow.jobs[name].needs)
    chosen -= set(skip)
    left_out = frozenset(workflow.jobs) - chosen
    blocked: dict[str, tuple[str, ...]] = {}
    for job in model.ordered(workflow.jobs):
        if job.id in chosen:
            behind = {need for need in job.needs if need in left_out}
            behind.update(*(blocked.get(need, ()) for need in job.needs))
            if behind:
                blocked[job.id] = tuple(sorted(behind))
    return Selection(left_out, blocked)


ALL_SELECTED = Selection()


@dataclass(frozen=True)
class Gate:
    """Whether a job's `if:` lets it run, given which of its needs succeeded; if not, why."""

    runs: bool
    reason: str = ""
    # The `if:` cannot be evaluated: the job fails rather than skips.
    refused: bool = False
    # Left out by --only / --skip: reported as not selected, not counted.
    selected: bool = True
    fix: str = ""


def job_gate(  # noqa: PLR0911, PLR0913 - one return per reason; what decides a start
    job: model.Job,
    event: Event,
    succeeded: Callable[[str], bool],
    selection: Selection = ALL_SELECTED,
    *,
    needs: Mapping[str, expressions.Value] | None = None,
    outputs_known: bool = True,
) -> Gate:
    """GitHub's rule for starting a job: its `if:` (with `success()` of its needs by default).

    The one rule `invoke ci` applies when a job's needs are done and `--dry-run` applies to
    the jobs it expects to succeed, so the two report the same skips. Before it, the
    selection: a job left out is not selected; a job needing one is skipped, never run.
    `needs` is the job's needs context; a dry run, which has not run the needs, passes
    `outputs_known=False`, and an `if:` reading their outputs is then left to the run.
    """
    if job.id in selection.not_selected:
        return Gate(runs=False, reason="not selected (--only / --skip)", selected=False)
    if behind := selection.blocked.get(job.id):
        names = ", ".join(behind)
        return Gate(
            runs=False,
            reason=f"needs {names}, which --only / --skip left out",
            fix=f"select {names} too to run it",
        )
    if job.if_refused:
        return Gate(runs=False, reason=job.if_refused, refused=True)
    if needs is None:
        needs = {f"{n}.result": "success" if succeeded(n) else "failure" for n in job.needs}
    context = contexts.scope(
        Location.JOB_IF,
        event_values(event),
        needs=needs,
        succeeded=all(succeeded(need) for need in job.needs),
    )
    try:
        node = None if job.if_ is None else expressions.parse_condition(str(job.if_))
        if not outputs_known and node is not None:
            waiting = sorted(
                {
                    r.path[1]
                    for r in expressions.references(node)
                    if r.context == "needs" and len(r.path) > 2 and r.path[2] == "outputs"  # noqa: PLR2004
                }
            )
            if waiting:
                names = ", ".join(waiting)
                return Gate(runs=True, reason=f"if: `{job.if_}` is decided once {names} ran")
        runs = expressions.condition_node(node, context)
    except expressions.ExpressionError as error:
        return Gate(runs=False, reason=f"if: {error}", refused=True)
    if runs:
        return Gate(runs=True)
    failed = [need for need in job.needs if not succeeded(need)]
    # Without a status function GitHub implies `success() &&`: the needs decided it.
    if failed and (node is None or not expressions.uses_status(node)):
        return _behind_failed_needs(failed, node, context, event)
    return Gate(
        runs=False,
        reason=f"if: `{job.if_}` is false for a local {event.name} to {event.ref}",
        fix=f"nothing: GitHub skips it on this {event.name} too",
    )


def _behind_failed_needs(
    failed: Sequence[str],
    node: expressions.Node | None,
    context: expressions.Context,
    event: Event,
) -> Gate:
    """A job skipped because needs failed; the fix says whether passing them would run it."""
    names = ", ".join(failed)
    fix = f"it runs once {names} pass"
    try:
        runs_then = expressions.condition_node(node, dataclasses.replace(context, succeeded=True))
    except expressions.ExpressionError:
        runs_then = True  # decided only once they pass
    if not runs_then:
        fix = f"nothing: its if: is false on this {event.name}, so GitHub skips it too"
    return Gate(runs=False, reason=f"needs {names}, which did not succeed", fix=fix)


def settings_of(root: Path) -> config.Config:
    """[tool.shipshape], or a one-line error naming the key."""
    try:
        return config.load(root)
    except config.ConfigError as error:
        message = f"ci: {error}"
        raise Exit(message, code=1) from None


def read_workflow(
    root: Path, path: Path, settings: config.Config, tasks: Collection | None
) -> model.Workflow:
    """One workflow in the model; with tasks.py's collection, its refused task calls too.

    A job whose task call parity refuses (`invoke lint --help`) carries that problem, so it
    is reported FAILED with parity's line, never run.
    """
    if not (root / path).exists():
        message = f"ci: {path} is missing{settings.checkout_note(root)}"
        raise Exit(message, code=1)
    workflow = reader.read(root, path, settings)
    if tasks is not None:
        refused = tuple(arguments.problems(workflow, tasks))
        workflow = dataclasses.replace(workflow, problems=workflow.problems + refused)
    return workflow


def runnable(workflow: model.Workflow) -> None:
    """Stop in one line when the workflow has no job graph; job-level refusals fail their job."""
    blocking = [p for p in workflow.problems if p.job is None or "needs `" in p.message]
    if blocking or not workflow.jobs:
        reasons = "; ".join(str(p) for p in blocking) or "no jobs"
        message = f"ci: cannot run {workflow.path}: {reasons}"
        raise Exit(message, code=1)


def load_ci(root: Path, tasks: Collection | None = None) -> tuple[model.Workflow, config.Config]:
    """ci.yml in the model, and the service's settings; a one-line error if it cannot run."""
    settings = settings_of(root)
    workflow = read_workflow(root, rules.CI_WORKFLOW, settings, tasks)
    runnable(workflow)
    return workflow, settings


def workflow_paths(
    root: Path, workflow: str, settings: config.Config, *, all_workflows: bool
) -> list[Path]:
    """The workflow files a run considers: ci.yml, the one `-W` names, or every one."""
    if workflow and all_workflows:
        message = "ci: -w/--workflow names one workflow, --all-workflows every one: pass one"
        raise Exit(message, code=1)
    if all_workflows:
        return reader.workflow_paths(root, settings)
    if not workflow:
        return [rules.CI_WORKFLOW]
    named = Path(workflow)
    candidates = [named, rules.WORKFLOWS / named.name, rules.WORKFLOWS / f"{named.name}.yml"]
    found = next((path for path in candidates if (root / path).is_file()), None)
    if found is None or found.parent != rules.WORKFLOWS:
        names = ", ".join(path.name for path in reader.workflow_paths(root, settings))
        message = f"ci: -w {workflow}: no such file in {rules.WORKFLOWS} (there are {names})"
        raise Exit(message, code=1)
    if found.name in settings.other_workflows:
        message = (
            f"ci: -w {workflow}: [tool.shipshape] other-workflows names it: it is not this "
            "service's, so `invoke ci` does not run it"
        )
        raise Exit(message, code=1)
    return [found]


@dataclass(frozen=True)
class Chosen:
    """A workflow the run considered: parsed, whether the event triggers it, and the event."""

    workflow: model.Workflow
    decision: triggers.Decision
    # The event with this workflow's typed inputs (workflow_dispatch).
    event: Event


def choose(  # noqa: PLR0913 - what decides which workflows run
    root: Path,
    paths: Sequence[Path],
    *,
    event: Event,
    settings: config.Config,
    tasks: Collection | None,
    inputs: Mapping[str, str],
) -> list[Chosen]:
    """Each workflow with GitHub's verdict on it for this event.

    The one decision the run and `--dry-run` share. A triggered workflow that cannot run,
    or given inputs it refuses, stops the run in one line.
    """
    if inputs and event.name != "workflow_dispatch":
        message = "ci: --input is for --event workflow_dispatch"
        raise Exit(message, code=1)
    chosen = []
    for path in paths:
        workflow = read_workflow(root, path, settings, tasks)
        trigger = workflow.triggers.get(event.name)
        if (
            event.changes_problem
            and trigger
            and (trigger.paths, trigger.paths_ignore) != (None, None)
        ):
            raise Exit(event.changes_problem, code=1)
        # A workflow-level refusal (a misspelt event under `on:`, say) makes any verdict
        # unsound: "not triggered" would pass a run GitHub refuses. It stops the run.
        runnable(workflow)
        decision = triggers.decide(workflow.triggers, event.happening())
        given = event
        if decision.runs and event.name == "workflow_dispatch":
            try:
                typed = triggers.input_values(workflow.triggers[event.name].inputs, inputs)
            except triggers.InputError as error:
                message = f"ci: {path}: {error}"
                raise Exit(message, code=1) from None
            given = dataclasses.replace(event, inputs=typed)
        chosen.append(Chosen(workflow, decision, given))
    return chosen


# How many uncommitted files the note names before it counts the rest.
NAMED = 5


def uncommitted_note(chosen: Sequence[Chosen], event: Event) -> str:
    """One line naming uncommitted files a path filter did not count, or "".

    Only where a workflow filters this event by paths: elsewhere the files change no verdict.
    """
    left_out = [name for name in event.uncommitted if name not in event.changed]
    filtered = any(
        (trigger.paths, trigger.paths_ignore) != (None, None)
        for c in chosen
        if (trigger := c.workflow.triggers.get(event.name))
    )
    if not (left_out and filtered):
        return ""
    shown = ", ".join(left_out[:NAMED])
    if len(left_out) > NAMED:
        shown += f" and {len(left_out) - NAMED} more"
    return (
        f"ci: uncommitted, not counted by path filters (--include-uncommitted counts them): {shown}"
    )


def plan_rows(scene: Scene, selection: Selection) -> list[dict[str, Any]]:
    """The dry run of one triggered workflow: one row per matrix entry."""
    workflow, event = scene.workflow, scene.event
    rows = []
    # A job the plan runs is taken to succeed, as `invoke ci` finds when its commands pass.
    succeeds: dict[str, bool] = {}
    mask = values.Masker.for_workflow(workflow)
    for job in model.ordered(workflow.jobs):
        gate = job_gate(
            job, event, lambda need: succeeds.get(need, False), selection, outputs_known=False
        )
        entries = [plan_entry(scene, entry) for entry in job.entries()]
        succeeds[job.id] = gate.runs and not any(p.refused or p.skip for p in entries)
        for planned in entries:
            # In the runner's order: a job whose `if:` is false is skipped, refused or not.
            if gate.refused:
                what = f"refused: {gate.reason}"
            elif not gate.selected:
                what = gate.reason
            elif not gate.runs:
                what = f"skip ({gate.reason})"
            elif planned.refused:
                what = f"refused: {planned.refused}"
            elif planned.skip:
                what = f"skip ({planned.skip})"
            else:
                what = planned.script + (f" ({gate.reason})" if gate.reason else "")
                fetched = ", ".join(d.label for d in planned.downloads)
                what += f" (after downloading {fetched})" if fetched else ""
            rows.append(
                {
                    "job": job.id,
                    "entry": planned.entry.label,
                    "matrix": planned.matrix,
                    "plan": mask(what),
                    "env": {k: mask(v) for k, v in planned.env.items()},
                    "cwd": str(planned.cwd),
                    "environment": job.environment.name if job.environment else None,
                }
            )
    return rows


@dataclass(frozen=True)
class Asked:
    """What `invoke ci` was asked besides the event and ref: base, inputs, which workflows."""

    base: str = ""
    include_uncommitted: bool = False
    inputs: Mapping[str, str] = field(default_factory=dict)
    workflow: str = ""
    all_workflows: bool = False
    fetch_tools: bool = False


ASKED_NOTHING = Asked()


# The repeatable flags, long and short, each with the value its refusal gives as an example.
VALUED_FLAGS = {
    "--only": "test",
    "-o": "test",
    "--skip": "docker",
    "-k": "docker",
    "--input": "name=value",
    "-p": "name=value",
}


def shown_names(names: Sequence[str]) -> str:
    """Names as given, a name no job could have (blank, spaced) quoted so it shows."""
    return ", ".join(name if model.JOB_ID.fullmatch(name) else json.dumps(name) for name in names)


def require_flag_values(argv: Sequence[str]) -> None:
    """Refuse a repeatable flag of `ci` given no value or a blank one.

    invoke takes `--only` with nothing after it as no `--only` at all, and so runs every job.
    Only what follows the task's name is ci's: before it, `-p` is invoke's own `--pty`.
    """
    if "ci" not in argv:
        return
    argv = argv[argv.index("ci") :]
    for token, following in zip(argv, [*argv[1:], ""], strict=True):
        flag, equals, attached = token.partition("=")
        if flag not in VALUED_FLAGS:
            continue
        value = attached if equals else following
        if not value.strip() or (not equals and value.startswith("-")):
            message = f"ci: {flag} needs a value, as in `invoke ci {flag} {VALUED_FLAGS[flag]}`"
            raise Exit(message, code=1)


def input_flags(given: Sequence[str]) -> dict[str, str]:
    """`--input name=value` flags as a mapping; a flag without `=` or given twice is refused."""
    inputs: dict[str, str] = {}
    for flag in given:
        name, equals, value = flag.partition("=")
        if not equals or not name:
            message = f"ci: --input {flag}: write it as name=value"
            raise Exit(message, code=1)
        if name in inputs:
            message = f"ci: --input {name} is given twice"
            raise Exit(message, code=1)
        inputs[name] = value
    return inputs


def considered(
    root: Path, event_name: str, ref: str, asked: Asked, tasks: Collection | None
) -> tuple[list[Chosen], config.Config, Event]:
    """The local event, and each workflow it considers with GitHub's verdict on it.

    `root` is the service's folder; the workflows, branches and changed files are the
    repository's it is checked out in (`[tool.shipshape] workspace`).
    """
    settings = settings_of(root)
    workspace = settings.checkout(root)
    event = local_event(
        workspace,
        event_name,
        ref,
        settings,
        base=asked.base,
        include_uncommitted=asked.include_uncommitted,
    )
    paths = workflow_paths(workspace, asked.workflow, settings, all_workflows=asked.all_workflows)
    chosen = choose(
        workspace, paths, event=event, settings=settings, tasks=tasks, inputs=asked.inputs
    )
    return chosen, settings, event


def scene_of(  # noqa: PLR0913 - what a run of one workflow is made of
    root: Path,
    settings: config.Config,
    chosen: Chosen,
    place: Place,
    tasks: Collection | None,
    *,
    fetch_tools: bool,
) -> Scene:
    """Where and how the service at `root` runs one triggered workflow, dry or for real."""
    pinned = (root / ".python-version").read_text(encoding="utf-8").strip()
    return Scene(
        settings.checkout(root),
        chosen.workflow,
        chosen.event,
        place,
        pinned,
        docker_tasks(tasks),
        fetch_tools=fetch_tools,
        service=root,
    )


def selection_for(
    workflow: model.Workflow,
    only: Sequence[str],
    skip: Sequence[str],
    *,
    among: Sequence[model.Workflow],
) -> Selection:
    """`--only` / `--skip` for one of several workflows: a name must be a job of one of them."""
    if len(among) <= 1:
        return select(workflow, only, skip)
    known = {job for other in among for job in other.jobs}
    unknown = [name for name in (*only, *skip) if name not in known]
    if unknown:
        message = f"ci: no job {shown_names(unknown)} in any workflow the event triggers"
        raise Exit(message, code=1)
    mine_only = [name for name in only if name in workflow.jobs]
    if only and not mine_only:
        return Selection(frozenset(workflow.jobs), {})
    return select(workflow, mine_only, [name for name in skip if name in workflow.jobs])


def not_triggered_rows(chosen: Chosen) -> list[dict[str, Any]]:
    """One dry-run row per job of a workflow the event does not trigger."""
    return [
        {
            "workflow": str(chosen.workflow.path),
            "job": job.id,
            "entry": "",
            "matrix": {},
            "plan": f"not triggered ({chosen.decision.rule})",
            "env": {},
            "cwd": "",
            "environment": None,
        }
        for job in chosen.workflow.jobs.values()
    ]


def print_plan(  # noqa: PLR0913 - each a flag of `invoke ci`
    root: Path,
    event_name: str,
    ref: str,
    *,
    as_json: bool,
    tasks: Collection | None = None,
    only: Sequence[str] = (),
    skip: Sequence[str] = (),
    asked: Asked = ASKED_NOTHING,
) -> None:
    """What `invoke ci` would run, one matrix entry a line, without running it.

    `tasks` is tasks.py's collection: its `@ci_task(needs_docker=True)` jobs skip without Docker.
    """
    chosen, settings, event = considered(root, event_name, ref, asked, tasks)
    triggered = [c.workflow for c in chosen if c.decision.runs]
    rows: list[dict[str, Any]] = []
    for each in chosen:
        if not each.decision.runs:
            rows += not_triggered_rows(each)
            continue
        selection = selection_for(each.workflow, only, skip, among=triggered)
        scene = scene_of(root, settings, each, HOST, tasks, fetch_tools=asked.fetch_tools)
        rows += [
            {"workflow": str(each.workflow.path), **row} for row in plan_rows(scene, selection)
        ]
    verdicts = [
        {
            "workflow": str(c.workflow.path),
            "verdict": c.decision.verdict.value,
            "rule": c.decision.rule,
        }
        for c in chosen
    ]
    if as_json:
        document = {
            "event": event.name,
            "ref": event.ref,
            "changed": list(event.changed),
            "uncommitted": list(event.uncommitted),
            "workflows": verdicts,
            "entries": rows,
        }
        print(json.dumps(document, indent=2))
    else:
        several = len(chosen) > 1
        for row in rows:
            job = f"{row['workflow']}:{row['job']}" if several else row["job"]
            print(f"{job}\t{row['entry']}\t{row['plan']}")
        if note := uncommitted_note(chosen, event):
            print(note)
    # A refused job fails the run `invoke ci` would make, so the plan of it fails too.
    refused = sorted({row["job"] for row in rows if row["plan"].startswith("refused: ")})
    if refused:
        message = f"ci: --dry-run: refused: {', '.join(refused)}"
        raise Exit(message, code=1)
