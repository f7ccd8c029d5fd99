"""The workflow model: every key GitHub Actions allows, classified in one table.

Each key at workflow, job, strategy, step and `defaults.run` level is *mirrored* (`invoke ci`
reproduces it), *inert* (it changes nothing that runs) or *refused* (parity fails, saying
why it cannot be mirrored). A key in no class is refused too: nothing is ignored.
`invoke parity --rules` prints this table; the READMEs point there.
"""

import enum
import itertools
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import expressions
from .config import Config

WORKFLOWS = Path(".github/workflows")
CI_WORKFLOW = WORKFLOWS / "ci.yml"
TASK_PREFIX = ("uv", "run", "--locked", "invoke")
SHA_REF = re.compile(r"^[0-9a-f]{40}$")
SAFE_ARGUMENT = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")
MATRIX_ONLY = re.compile(r"^matrix\.[A-Za-z0-9_-]+$")
MATRIX_VALUE = "`${{ matrix.<key> }}`"
DEFAULT_TIMEOUT_MINUTES = 360.0
# The events `invoke ci` runs a CI workflow for; ci.yml must be triggered by both.
LOCAL_EVENTS = ("pull_request", "push")
# Events that would run a workflow's jobs on every change, which only ci.yml may have.
CHANGE_EVENTS = frozenset({"push", "pull_request", "pull_request_target"})


class Level(enum.Enum):
    """Where a key sits in a workflow file."""

    WORKFLOW = "workflow"
    JOB = "job"
    STRATEGY = "strategy"
    STEP = "step"
    DEFAULTS_RUN = "defaults.run"
    TRIGGER = "on.<push|pull_request>"


class KeyClass(enum.Enum):
    """What `invoke ci` does with a key."""

    MIRRORED = "mirrored"
    INERT = "inert"
    REFUSED = "refused"


@dataclass(frozen=True)
class KeyRule:
    """One key's class and the reason for it."""

    level: Level
    key: str
    kind: KeyClass
    why: str


MIRRORED, INERT, REFUSED = KeyClass.MIRRORED, KeyClass.INERT, KeyClass.REFUSED
W, J, S, T, D, E = (
    Level.WORKFLOW,
    Level.JOB,
    Level.STEP,
    Level.STRATEGY,
    Level.DEFAULTS_RUN,
    Level.TRIGGER,
)
RUNS_ONE_TASK = "a job is setup, one task call and publishing post-steps"
KEY_RULES: tuple[KeyRule, ...] = (
    KeyRule(W, "name", INERT, "a label"),
    KeyRule(W, "run-name", INERT, "a label"),
    KeyRule(
        W, "on", MIRRORED, "ci.yml runs for push and pull_request; `invoke ci --event` picks one"
    ),
    KeyRule(W, "permissions", INERT, "token scopes; nothing local uses the token"),
    KeyRule(W, "concurrency", INERT, "cancels superseded runs on GitHub; a local run is one run"),
    KeyRule(W, "env", MIRRORED, "set for every job's task step"),
    KeyRule(W, "defaults", MIRRORED, "defaults.run: working directory and shell of run steps"),
    KeyRule(W, "jobs", MIRRORED, "the job graph"),
    KeyRule(
        W, "cache-mode", REFUSED, "changes how GitHub caches, which `invoke ci` cannot reproduce"
    ),
    KeyRule(E, "branches", INERT, "which pushes trigger; `invoke ci --event/--ref` chooses"),
    KeyRule(E, "branches-ignore", INERT, "which pushes trigger; `invoke ci --event/--ref` chooses"),
    KeyRule(E, "tags", INERT, "which pushes trigger; `invoke ci --event/--ref` chooses"),
    KeyRule(E, "tags-ignore", INERT, "which pushes trigger; `invoke ci --event/--ref` chooses"),
    KeyRule(E, "types", INERT, "which pull request activity triggers"),
    KeyRule(
        E, "paths", REFUSED, "GitHub would skip the workflow for some changes; `invoke ci` never"
    ),
    KeyRule(
        E, "paths-ignore", REFUSED, "GitHub would skip the workflow for some changes; never locally"
    ),
    KeyRule(J, "name", INERT, "a label"),
    KeyRule(J, "permissions", INERT, "token scopes; nothing local uses the token"),
    KeyRule(J, "concurrency", INERT, "cancels superseded runs on GitHub; a local run is one run"),
    KeyRule(J, "needs", MIRRORED, "order, and skipping a job whose needs failed"),
    KeyRule(J, "if", MIRRORED, "evaluated for the local event and ref (github.* contexts)"),
    KeyRule(
        J, "runs-on", MIRRORED, "Linux runners run here; other OSes (a matrix axis) are skipped"
    ),
    KeyRule(J, "env", MIRRORED, "set for the task step; the task must declare it"),
    KeyRule(J, "defaults", MIRRORED, "defaults.run for the job's run steps"),
    KeyRule(J, "steps", MIRRORED, "setup actions, one task call, publishing post-steps"),
    KeyRule(J, "strategy", MIRRORED, "the matrix, with include/exclude and fail-fast"),
    KeyRule(J, "timeout-minutes", MIRRORED, "the job is stopped and failed after it, locally too"),
    KeyRule(J, "continue-on-error", MIRRORED, "a failure does not fail the run or block needs"),
    KeyRule(
        J,
        "container",
        REFUSED,
        "the job would run in an image `invoke ci` does not use; "
        "put tools in the Dockerfile's ci stage and use `invoke ci --in-container`",
    ),
    KeyRule(
        J,
        "services",
        REFUSED,
        "a task starts the services it needs itself (testcontainers), "
        "so CI and laptop run the same thing",
    ),
    KeyRule(
        J,
        "environment",
        REFUSED,
        "deployment environments add approvals and secrets that `invoke ci` cannot mirror",
    ),
    KeyRule(J, "outputs", REFUSED, f"{RUNS_ONE_TASK}; pass data between jobs as files"),
    KeyRule(J, "snapshot", REFUSED, "custom runner images cannot be reproduced locally"),
    KeyRule(
        J, "cache-mode", REFUSED, "changes how GitHub caches, which `invoke ci` cannot reproduce"
    ),
    KeyRule(J, "uses", REFUSED, "a reusable workflow's jobs are not in this repository to run"),
    KeyRule(J, "with", REFUSED, "inputs of a reusable workflow, which `invoke ci` cannot run"),
    KeyRule(J, "secrets", REFUSED, "secrets of a reusable workflow, which `invoke ci` cannot run"),
    KeyRule(T, "matrix", MIRRORED, "expanded like GitHub: product, exclude, then include"),
    KeyRule(
        T, "fail-fast", MIRRORED, "a failed entry cancels the job's other entries (default on)"
    ),
    KeyRule(T, "max-parallel", INERT, "how many entries run at once; results do not change"),
    KeyRule(S, "id", INERT, "a label"),
    KeyRule(S, "name", INERT, "a label"),
    KeyRule(S, "uses", MIRRORED, "setup actions before the task step, publishing actions after it"),
    KeyRule(S, "with", MIRRORED, "the action's inputs, each classified by the action table"),
    KeyRule(S, "run", MIRRORED, "exactly one `uv run --locked invoke <job>` per job"),
    KeyRule(S, "env", MIRRORED, "set for the step; the task must declare it"),
    KeyRule(
        S, "if", MIRRORED, "evaluated with the status functions and github/matrix/env contexts"
    ),
    KeyRule(S, "working-directory", MIRRORED, "the step runs there"),
    KeyRule(
        S, "shell", MIRRORED, "`bash` only: run like GitHub's bash; any other shell is refused"
    ),
    KeyRule(S, "continue-on-error", MIRRORED, "a failed step does not fail the job"),
    KeyRule(S, "timeout-minutes", MIRRORED, "the step is stopped and failed after it"),
    KeyRule(S, "background", REFUSED, f"{RUNS_ONE_TASK}; nothing runs beside it"),
    KeyRule(S, "cancel", REFUSED, f"{RUNS_ONE_TASK}; nothing runs beside it"),
    KeyRule(S, "parallel", REFUSED, f"{RUNS_ONE_TASK}; nothing runs beside it"),
    KeyRule(S, "wait", REFUSED, f"{RUNS_ONE_TASK}; nothing runs beside it"),
    KeyRule(S, "wait-all", REFUSED, f"{RUNS_ONE_TASK}; nothing runs beside it"),
    KeyRule(D, "working-directory", MIRRORED, "run steps run there unless they say otherwise"),
    KeyRule(
        D, "shell", MIRRORED, "`bash` only: run like GitHub's bash; any other shell is refused"
    ),
)
RULES: Mapping[tuple[Level, str], KeyRule] = {(rule.level, rule.key): rule for rule in KEY_RULES}


class Role(enum.Enum):
    """Where an action may stand in a job."""

    SETUP = "setup"  # before the task step: prepares the machine as `invoke ci` finds it
    POST = "post"  # after the task step: publishes files the task wrote


@dataclass(frozen=True)
class ActionRule:
    """An action a job may use, where, and how each of its inputs is classified."""

    name: str
    role: Role
    inputs: Mapping[str, KeyClass]
    why: str
    needs_docker: bool = False
    path_input: str | None = None
    # A tool it installs on the runner that the ci image does not carry (`--in-container`).
    host_tool: str | None = None


ACTIONS: tuple[ActionRule, ...] = (
    ActionRule(
        "actions/checkout",
        Role.SETUP,
        {
            "persist-credentials": INERT,
            "fetch-depth": INERT,
            "fetch-tags": INERT,
            "ref": REFUSED,
            "path": REFUSED,
        },
        "the working tree `invoke ci` runs in is the checkout",
    ),
    ActionRule(
        "astral-sh/setup-uv",
        Role.SETUP,
        {
            "version": MIRRORED,
            "python-version": MIRRORED,
            "enable-cache": INERT,
            "cache-dependency-glob": INERT,
        },
        "uv at the pinned version; python-version becomes UV_PYTHON, as setup-uv sets it",
    ),
    ActionRule(
        "docker/setup-buildx-action",
        Role.SETUP,
        {"driver": INERT, "version": INERT},
        "a buildx builder; locally the engine's own",
        needs_docker=True,
    ),
    ActionRule(
        "docker/setup-qemu-action",
        Role.SETUP,
        {"platforms": INERT},
        "emulators for other platforms",
        needs_docker=True,
    ),
    ActionRule(
        "docker/login-action",
        Role.SETUP,
        {"registry": INERT, "username": INERT, "password": INERT},
        "registry credentials; locally your own `docker login`",
        needs_docker=True,
    ),
    ActionRule(
        "crazy-max/ghaction-github-runtime",
        Role.SETUP,
        {},
        "exposes the Actions cache to the task; locally there is none",
        needs_docker=True,
    ),
    ActionRule(
        "actions/create-github-app-token",
        Role.SETUP,
        {
            "app-id": INERT,
            "client-id": INERT,
            "private-key": INERT,
            "owner": INERT,
            "repositories": INERT,
            "permission-contents": INERT,
            "permission-pull-requests": INERT,
            "permission-workflows": INERT,
        },
        "a token for the task; locally your own",
    ),
    ActionRule(
        "aquasecurity/setup-trivy",
        Role.SETUP,
        {"version": INERT, "cache": INERT},
        "Trivy at the pinned version, for the security and image scans; locally the Trivy on "
        "PATH (`invoke security` names it when it is missing)",
        host_tool="Trivy",
    ),
    ActionRule(
        "sigstore/cosign-installer",
        Role.SETUP,
        {"cosign-release": INERT},
        "cosign, for keyless signing of published images; locally publishing signs nothing",
        needs_docker=True,
    ),
    ActionRule(
        "actions/upload-artifact",
        Role.POST,
        {
            "name": INERT,
            "path": MIRRORED,
            "if-no-files-found": MIRRORED,
            "retention-days": INERT,
            "compression-level": INERT,
            "overwrite": INERT,
            "include-hidden-files": INERT,
        },
        "publishes files the task wrote; locally their presence is checked",
        path_input="path",
    ),
    ActionRule(
        "github/codeql-action/upload-sarif",
        Role.POST,
        {"sarif_file": MIRRORED, "category": INERT, "wait-for-processing": INERT},
        "publishes the SARIF the task wrote; locally its presence is checked",
        path_input="sarif_file",
    ),
)


# The built-in actions by name, built once; `action_rules` adds the team's own.
BUILTIN_ACTIONS: Mapping[str, ActionRule] = {rule.name: rule for rule in ACTIONS}


def action_rules(config: Config) -> dict[str, ActionRule]:
    """Built-in actions plus the team's own from `[tool.shipshape]`."""
    rules = dict(BUILTIN_ACTIONS)
    for name in config.extra_setup_pins:
        rules.setdefault(name, ActionRule(name, Role.SETUP, {}, "a setup action of the team's"))
    for name, path_input in config.post_actions.items():
        rules.setdefault(
            name,
            ActionRule(
                name, Role.POST, {path_input: MIRRORED}, "the team's", path_input=path_input
            ),
        )
    return rules


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
class Job:
    """One job of a workflow, as written."""

    path: Path
    id: str
    needs: tuple[str, ...] = ()
    if_: str | bool | None = None
    runs_on: tuple[str, ...] = ("ubuntu-latest",)
    env: Mapping[str, str] = field(default_factory=dict)
    working_directory: str | None = None
    shell: str | None = None
    matrix: Matrix = field(default_factory=Matrix)
    fail_fast: bool = True
    continue_on_error: bool | str = False
    timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES
    steps: tuple[Step, ...] = ()

    @property
    def run_steps(self) -> list[Step]:
        """The steps that run a shell command."""
        return [step for step in self.steps if step.run is not None]

    @property
    def task_step(self) -> Step | None:
        """The one `run:` step, if the job has exactly one."""
        runs = self.run_steps
        return runs[0] if len(runs) == 1 else None

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


class _Reader:
    """Reads one workflow document into the model, collecting every refusal."""

    def __init__(self, path: Path, config: Config) -> None:
        self.path = path
        self.config = config
        self.actions = action_rules(config)
        self.problems: list[Problem] = []

    def refuse(self, job: str | None, message: str) -> None:
        self.problems.append(Problem(self.path, job, message))

    def classify(self, level: Level, body: Mapping[str, Any], job: str | None) -> None:
        """Refuse each key that is refused or unknown at this level."""
        for key in body:
            rule = RULES.get((level, str(key)))
            where = f"{level.value} key `{key}`"
            if rule is None:
                self.refuse(job, f"{where} is not one parity knows; it cannot be mirrored")
            elif rule.kind is KeyClass.REFUSED:
                self.refuse(job, f"{where} is refused: {rule.why}")

    def expression_check(
        self, text: str, job: str | None, where: str, *, readable: frozenset[str]
    ) -> None:
        for inner in expressions.names_in(text):
            self.evaluable(inner, job, where, readable=readable)

    def evaluable(
        self, source: str, job: str | None, where: str, *, readable: frozenset[str]
    ) -> None:
        """Refuse an expression `invoke ci` could not evaluate in this place."""
        context = expressions.Context(
            values={
                "github.event_name": "push",
                "github.ref": "refs/heads/main",
                "github.ref_name": "main",
                "github.ref_type": "branch",
                "github.base_ref": "",
                "github.head_ref": "",
            },
            readable=readable,
        )
        try:
            expressions.evaluate(source, context)
        except expressions.ExpressionError as error:
            self.refuse(job, f"{where}: `{source.strip()}`: {error}")

    def string_map(self, value: object, job: str | None, where: str) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.refuse(job, f"{where} must be a mapping")
            return {}
        return {str(k): text_of(v) for k, v in value.items()}

    def env(self, value: object, job: str | None, where: str, *, ci: bool) -> dict[str, str]:
        env = self.string_map(value, job, where)
        # Jobs of other workflows never run locally: they may read secrets and step outputs
        # (a token from a setup step, say); ci.yml's only vary by matrix.
        readable = (
            frozenset({"matrix"}) if ci else frozenset({"matrix", "secrets", "github", "steps"})
        )
        for name, text in env.items():
            self.expression_check(text, job, f"{where} {name}", readable=readable)
        return env

    def triggers(self, document: Mapping[Any, Any]) -> frozenset[str]:
        # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
        raw = document.get("on", document.get(True))
        if isinstance(raw, str):
            events: dict[str, Any] = {raw: None}
        elif isinstance(raw, list):
            events = {str(event): None for event in raw}
        elif isinstance(raw, dict):
            events = {str(k): v for k, v in raw.items()}
        else:
            self.refuse(None, "`on:` names no events")
            return frozenset()
        for event in LOCAL_EVENTS:
            filters = events.get(event)
            if isinstance(filters, dict):
                self.classify(Level.TRIGGER, filters, None)
        return frozenset(events)

    def defaults(self, value: object, job: str | None) -> tuple[str | None, str | None]:
        if value is None:
            return None, None
        if (
            not isinstance(value, dict)
            or set(value) != {"run"}
            or not isinstance(value["run"], dict)
        ):
            self.refuse(job, "defaults may hold only `run:` (working-directory, shell)")
            return None, None
        run = value["run"]
        self.classify(Level.DEFAULTS_RUN, run, job)
        shell = run.get("shell")
        self.shell_check(shell, job, "defaults.run.shell")
        directory = run.get("working-directory")
        self.directory_check(directory, job, "defaults.run.working-directory")
        return (str(directory) if directory is not None else None), (
            str(shell) if shell is not None else None
        )

    def shell_check(self, shell: object, job: str | None, where: str) -> None:
        if shell is not None and shell != "bash":
            self.refuse(
                job,
                f"{where} `{shell}` is refused: `invoke ci` runs steps as GitHub runs bash; "
                "use `bash` or leave it out",
            )

    def directory_check(self, directory: object, job: str | None, where: str) -> None:
        if directory is None:
            return
        text = str(directory)
        if text.startswith("/") or "${{" in text or ".." in Path(text).parts:
            self.refuse(
                job,
                f"{where} `{text}` must be a plain path inside the repository",
            )

    def timeout(self, value: object, job: str, where: str) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            self.refuse(job, f"{where} `{value}` must be a positive number of minutes")
            return None
        return float(value)

    def continue_on_error(self, value: object, job: str, where: str) -> bool | str:
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            inner = expressions.EXPRESSION.fullmatch(value.strip())
            if inner and MATRIX_ONLY.match(inner.group(1).strip()):
                return value
        self.refuse(job, f"{where} `{value}` must be true, false or " + MATRIX_VALUE)
        return False

    def matrix(self, strategy: object, job: str) -> tuple[Matrix, bool]:
        if strategy is None:
            return Matrix(), True
        if not isinstance(strategy, dict):
            self.refuse(job, "strategy must be a mapping")
            return Matrix(), True
        self.classify(Level.STRATEGY, strategy, job)
        fail_fast = strategy.get("fail-fast", True)
        if not isinstance(fail_fast, bool):
            self.refuse(job, f"strategy.fail-fast `{fail_fast}` must be true or false")
            fail_fast = True
        return self.matrix_body(strategy.get("matrix"), job), fail_fast

    def matrix_body(self, raw: object, job: str) -> Matrix:
        if raw is None:
            return Matrix()
        if not isinstance(raw, dict):
            self.refuse(job, "strategy.matrix must be a literal mapping (no expressions)")
            return Matrix()
        axes: dict[str, tuple[Any, ...]] = {}
        lists: dict[str, tuple[Mapping[str, Any], ...]] = {"include": (), "exclude": ()}
        for key, values in raw.items():
            if key in lists:
                if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
                    self.refuse(job, f"strategy.matrix.{key} must be a list of mappings")
                    continue
                lists[key] = tuple(values)
            elif isinstance(values, list) and values:
                axes[str(key)] = tuple(values)
            else:
                self.refuse(job, f"strategy.matrix.{key} must be a non-empty literal list")
        return Matrix(axes=axes, include=lists["include"], exclude=lists["exclude"])

    def runs_on(self, value: object, job: str, matrix: Matrix) -> tuple[str, ...]:
        labels = [value] if isinstance(value, str) else value
        if not isinstance(labels, list) or not labels:
            self.refuse(job, "runs-on must be a runner label")
            return ("ubuntu-latest",)
        for label in labels:
            text = str(label)
            inner = expressions.EXPRESSION.fullmatch(text.strip())
            if inner is not None:
                axis = inner.group(1).strip()
                if not MATRIX_ONLY.match(axis) or axis.split(".", 1)[1] not in {
                    *matrix.axes,
                    *(k for extra in matrix.include for k in extra),
                }:
                    self.refuse(job, f"runs-on `{text}` must be a matrix axis (matrix.os)")
                continue
            if runner_os(text) != "linux":
                self.refuse(
                    job,
                    f"runs-on `{text}` is refused: `invoke ci` runs hosted Linux jobs "
                    "(ubuntu-*); put other OSes on a matrix axis, where they are reported "
                    "as skipped here",
                )
        return tuple(str(label) for label in labels)

    def step(self, raw: object, job: str, index: int, *, ci: bool) -> Step | None:
        where = f"step {index + 1}"
        if not isinstance(raw, dict):
            self.refuse(job, f"{where} is not a mapping")
            return None
        self.classify(Level.STEP, raw, job)
        uses, run = raw.get("uses"), raw.get("run")
        if (uses is None) == (run is None):
            self.refuse(job, f"{where} must have exactly one of `uses:` and `run:`")
            return None
        self.shell_check(raw.get("shell"), job, f"{where} shell")
        self.directory_check(raw.get("working-directory"), job, f"{where} working-directory")
        if_ = raw.get("if")
        if isinstance(if_, str):
            self.condition_check(if_, job, f"{where} if", readable={"github", "matrix", "env"})
        with_ = raw.get("with") or {}
        if not isinstance(with_, dict):
            self.refuse(job, f"{where} with must be a mapping")
            with_ = {}
        return Step(
            index=index,
            uses=str(uses) if uses is not None else None,
            run=str(run) if run is not None else None,
            env=self.env(raw.get("env"), job, f"{where} env", ci=ci),
            with_={str(k): v for k, v in with_.items()},
            if_=if_ if isinstance(if_, str | bool) else None,
            working_directory=(
                str(raw["working-directory"]) if raw.get("working-directory") else None
            ),
            shell=str(raw["shell"]) if raw.get("shell") else None,
            continue_on_error=self.continue_on_error(
                raw.get("continue-on-error"), job, f"{where} continue-on-error"
            ),
            timeout_minutes=self.timeout(raw.get("timeout-minutes"), job, f"{where} timeout"),
        )

    def condition_check(
        self, text: str, job: str | None, where: str, *, readable: set[str]
    ) -> None:
        stripped = text.strip()
        inner = expressions.EXPRESSION.fullmatch(stripped)
        self.evaluable(
            inner.group(1) if inner else stripped, job, where, readable=frozenset(readable)
        )

    def steps_shape(self, job: Job, *, ci: bool) -> None:
        """Setup actions, then exactly one task call, then publishing post-steps."""
        runs = job.run_steps
        if len(runs) != 1:
            self.refuse(
                job.id,
                f"has {len(runs)} `run:` steps; it must have exactly one: "
                "`uv run --locked invoke <task>`",
            )
        elif job.argv is None:
            self.refuse(
                job.id,
                f"runs `{(runs[0].run or '').strip()}`; its one `run:` step must be "
                "`uv run --locked invoke <task> [plain arguments]` and nothing else",
            )
        task_index = runs[0].index if len(runs) == 1 else len(job.steps)
        for step in job.steps:
            if step.uses is None:
                continue
            self.action_check(job, step, after_task=step.index > task_index)
        if job.task_step is not None and job.task_step.if_ is not None:
            self.refuse(
                job.id,
                "the task step has an `if:`; when false, the job would run nothing and pass: "
                "put the condition on the job (`if:` there), so it is reported skipped",
            )
        run = job.task_step.run if job.task_step is not None else None
        if run is not None:
            readable = frozenset({"matrix"})
            self.expression_check(run, job.id, "the task step", readable=readable)
            for word in expressions.names_in(run):
                if not MATRIX_ONLY.match(word):
                    self.refuse(job.id, f"the task step reads `{word}`; only matrix.* may vary")
        del ci

    def action_check(self, job: Job, step: Step, *, after_task: bool) -> None:
        rule = self.known_action(job, step)
        if rule is None:
            return
        where = f"step {step.index + 1} (`{step.action}`)"
        if rule.role is Role.SETUP and after_task:
            self.refuse(job.id, f"{where} sets up the machine, so it must come before the task")
        if rule.role is Role.POST and not after_task:
            self.refuse(job.id, f"{where} publishes the task's files, so it must come after it")
        for key in step.with_:
            kind = rule.inputs.get(key)
            if kind is None:
                self.refuse(job.id, f"{where} input `{key}` is not one parity knows")
            elif kind is KeyClass.REFUSED:
                self.refuse(job.id, f"{where} input `{key}` is refused: it changes the checkout")
        if rule.role is Role.SETUP and step.if_ is not None:
            self.refuse(job.id, f"{where}: setup steps run unconditionally (no `if:`)")
        if step.continue_on_error:
            self.refuse(job.id, f"{where}: continue-on-error belongs on the task step or job")

    def known_action(self, job: Job, step: Step) -> ActionRule | None:
        """The action's rule, after refusing unpinned, local, Docker and unknown actions."""
        uses = step.uses or ""
        where = f"step {step.index + 1} (`{step.action}`)"
        if uses.startswith(("./", "docker://")):
            self.refuse(job.id, f"{where}: local and Docker actions cannot be mirrored")
            return None
        ref = uses.split("@", 1)[1] if "@" in uses else ""
        if not SHA_REF.match(ref):
            self.refuse(job.id, f"{where} must be pinned to a full commit SHA, not `{ref}`")
        rule = self.actions.get(step.action or "")
        if rule is None:
            self.refuse(
                job.id,
                f"{where} is neither environment setup nor publishing that parity knows; "
                "list it in [tool.shipshape] setup-actions or post-actions, or move its work "
                "into the task",
            )
            return None
        pinned = self.config.extra_setup_pins.get(rule.name)
        if pinned is not None and ref != pinned:
            self.refuse(job.id, f"{where} is pinned to {ref}; [tool.shipshape] says {pinned}")
        return rule

    def job(self, job_id: str, raw: object, document_env: Mapping[str, str], *, ci: bool) -> Job:
        if not isinstance(raw, dict):
            self.refuse(job_id, "is not a mapping")
            return Job(path=self.path, id=job_id)
        self.classify(Level.JOB, raw, job_id)
        needs_raw = raw.get("needs") or []
        needs = (needs_raw,) if isinstance(needs_raw, str) else tuple(map(str, needs_raw))
        if_ = raw.get("if")
        if isinstance(if_, str):
            self.condition_check(if_, job_id, "if", readable={"github"})
        matrix, fail_fast = self.matrix(raw.get("strategy"), job_id)
        directory, shell = self.defaults(raw.get("defaults"), job_id)
        steps_raw = raw.get("steps")
        if not isinstance(steps_raw, list) or not steps_raw:
            if "uses" not in raw:
                self.refuse(job_id, "has no steps")
            steps_raw = []
        steps = tuple(
            step
            for index, body in enumerate(steps_raw)
            if (step := self.step(body, job_id, index, ci=ci)) is not None
        )
        job = Job(
            path=self.path,
            id=job_id,
            needs=needs,
            if_=if_ if isinstance(if_, str | bool) else None,
            runs_on=self.runs_on(raw.get("runs-on"), job_id, matrix),
            env={**document_env, **self.env(raw.get("env"), job_id, "env", ci=ci)},
            working_directory=directory,
            shell=shell,
            matrix=matrix,
            fail_fast=fail_fast,
            continue_on_error=self.continue_on_error(
                raw.get("continue-on-error"), job_id, "continue-on-error"
            ),
            timeout_minutes=self.timeout(raw.get("timeout-minutes"), job_id, "timeout-minutes")
            or DEFAULT_TIMEOUT_MINUTES,
            steps=steps,
        )
        if steps:
            self.steps_shape(job, ci=ci)
        return job

    def read(self, document: object) -> Workflow:
        if not isinstance(document, dict) or not isinstance(document.get("jobs"), dict):
            self.refuse(None, "no `jobs:` mapping")
            return Workflow(self.path, frozenset(), {}, None, None, {}, tuple(self.problems))
        self.classify(Level.WORKFLOW, {k: v for k, v in document.items() if k is not True}, None)
        events = self.triggers(document)
        ci = self.path.name == CI_WORKFLOW.name
        if ci:
            missing = [event for event in LOCAL_EVENTS if event not in events]
            if missing:
                self.refuse(
                    None,
                    f"`on:` lacks {', '.join(missing)}: `invoke ci` runs ci.yml as GitHub "
                    "runs it for a push and a pull request",
                )
        else:
            change = sorted(events & CHANGE_EVENTS)
            if change:
                self.refuse(
                    None,
                    f"runs on {', '.join(change)}, but `invoke ci` runs only ci.yml: move "
                    "these jobs into ci.yml",
                )
        env = self.env(document.get("env"), None, "env", ci=ci)
        directory, shell = self.defaults(document.get("defaults"), None)
        jobs = {
            str(job_id): self.job(str(job_id), raw, env, ci=ci)
            for job_id, raw in document["jobs"].items()
        }
        for job in jobs.values():
            for need in job.needs:
                if need not in jobs:
                    self.refuse(job.id, f"needs `{need}`, which is no job of this workflow")
        try:
            ordered(jobs)
        except ValueError as error:
            self.refuse(None, str(error))
        return Workflow(self.path, events, env, directory, shell, jobs, tuple(self.problems))


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


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML as GitHub reads it: a key given twice is an error, not "the last one wins"."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:  # noqa: FBT001, FBT002 - PyYAML's signature
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key `{key}`", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> object:
    """A workflow document; duplicate keys are refused, as GitHub refuses them."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def read(root: Path, path: Path, config: Config) -> Workflow:
    """Parse one workflow file (path relative to `root`) into the model."""
    reader = _Reader(path, config)
    try:
        document = load_yaml((root / path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        reader.refuse(None, f"cannot read the workflow ({' '.join(str(error).split())})")
        return Workflow(path, frozenset(), {}, None, None, {}, tuple(reader.problems))
    return reader.read(document)


def workflow_paths(root: Path) -> list[Path]:
    """Every workflow file of the repository, relative to `root`."""
    return sorted(path.relative_to(root) for path in (root / WORKFLOWS).glob("*.y*ml"))


def read_all(root: Path, config: Config) -> dict[Path, Workflow]:
    """Every workflow of the repository, parsed."""
    return {path: read(root, path, config) for path in workflow_paths(root)}


def rules_table() -> Sequence[tuple[str, str, str, str]]:
    """(level, key, class, why) for every key, then every action: what `--rules` prints."""
    rows = [(r.level.value, r.key, r.kind.value, r.why) for r in KEY_RULES]
    for action in ACTIONS:
        inputs = ", ".join(f"{k} ({v.value})" for k, v in action.inputs.items()) or "none"
        rows.append(
            (
                f"action ({action.role.value})",
                action.name,
                "mirrored",
                f"{action.why}; inputs: {inputs}",
            )
        )
    return rows
