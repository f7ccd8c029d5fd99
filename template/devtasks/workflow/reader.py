"""The reader: one workflow file validated into the model, every refusal collected."""

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from devtasks.config import Config
from devtasks.workflow import contexts, expressions, triggers
from devtasks.workflow.contexts import Location
from devtasks.workflow.model import (
    Environment,
    Job,
    Matrix,
    Problem,
    Step,
    Workflow,
    ordered,
    runner_os,
    text_of,
)
from devtasks.workflow.rules import (
    CI_EVENTS,
    CI_WORKFLOW,
    DEFAULT_TIMEOUT_MINUTES,
    MATRIX_ONLY,
    MATRIX_VALUE,
    RULES,
    SAFE_ARGUMENT,
    SHA_REF,
    WORKFLOWS,
    ActionRule,
    KeyClass,
    Level,
    Role,
    action_rules,
)

# Where a workflow that is not ci.yml runs commands of its own: maybe another part's.
OTHERS_HINT = (
    "; a workflow of another part of the repository (a frontend's) goes in "
    "[tool.shipshape] other-workflows instead"
)


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

    def expressions_at(self, text: object, job: str | None, where: str, location: Location) -> None:
        """Refuse each `${{ }}` in a value that cannot be evaluated at this place."""
        if isinstance(text, str):
            for problem in contexts.check_text(text, location):
                self.refuse(job, f"{where}: {problem}")

    def condition_at(
        self, text: object, job: str | None, where: str, location: Location
    ) -> expressions.Node | None:
        """An `if:` parsed once and checked for its place; None when absent or refused."""
        if not isinstance(text, str):
            return None
        try:
            node = expressions.parse_condition(text)
        except expressions.ExpressionError as error:
            self.refuse(job, f"{where}: {error}")
            return None
        for problem in contexts.check(node, location):
            self.refuse(job, f"{where}: `{text.strip()}`: {problem}")
        return node

    def string_map(self, value: object, job: str | None, where: str) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.refuse(job, f"{where} must be a mapping")
            return {}
        return {str(k): text_of(v) for k, v in value.items()}

    def env(self, value: object, job: str | None, where: str, location: Location) -> dict[str, str]:
        env = self.string_map(value, job, where)
        for name, text in env.items():
            self.expressions_at(text, job, f"{where} {name}", location)
        return env

    def triggers(self, document: Mapping[Any, Any]) -> dict[str, triggers.Trigger]:
        """`on:` typed, each event and filter classified by the rules table."""
        # PyYAML reads the bare key `on` as the boolean True (YAML 1.1).
        found, problems = triggers.read_on(document.get("on", document.get(True)))
        for problem in problems:
            self.refuse(None, problem)
        return found

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
            plain = " (a plain number: `invoke ci` evaluates no expression here)"
            hint = plain if isinstance(value, str) and "${{" in value else ""
            self.refuse(job, f"{where} `{value}` must be a positive number of minutes{hint}")
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

    def step(self, raw: object, job: str, index: int) -> Step | None:
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
        self.condition_at(if_, job, f"{where} if", Location.STEP_IF)
        with_ = raw.get("with") or {}
        if not isinstance(with_, dict):
            self.refuse(job, f"{where} with must be a mapping")
            with_ = {}
        for key, value in with_.items():
            self.expressions_at(value, job, f"{where} with.{key}", Location.STEP_WITH)
        step_id = raw.get("id")
        return Step(
            index=index,
            id=str(step_id) if step_id is not None else None,
            uses=str(uses) if uses is not None else None,
            run=str(run) if run is not None else None,
            env=self.env(raw.get("env"), job, f"{where} env", Location.STEP_ENV),
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

    def steps_shape(self, job: Job, *, ci: bool) -> None:
        """Setup actions, then exactly one task call, then publishing post-steps."""
        runs = job.run_steps
        task = job.task_step
        others = "" if ci else OTHERS_HINT
        if task is None:
            self.refuse(
                job.id,
                f"has {len(runs)} `run:` steps; it must have exactly one: "
                f"`uv run --locked invoke <task>`{others}",
            )
        elif task.run is not None and job.argv is None:
            self.refuse(
                job.id,
                f"runs `{task.run.strip()}`; its one `run:` step must be "
                f"`uv run --locked invoke <task> [plain arguments]` and nothing else{others}",
            )
        task_index = task.index if task is not None else len(job.steps)
        for step in job.steps:
            if step.uses is None:
                continue
            self.action_check(job, step, after_task=step.index > task_index)
            if step is task:
                self.task_action_check(job, step)
        if job.task_step is not None and job.task_step.if_ is not None:
            self.refuse(
                job.id,
                "the task step has an `if:`; when false, the job would run nothing and pass: "
                "put the condition on the job (`if:` there), so it is reported skipped",
            )
        run = job.task_step.run if job.task_step is not None else None
        if run is not None:
            self.expressions_at(run, job.id, "the task step", Location.STEP_RUN)
            for word in expressions.names_in(run):
                if not MATRIX_ONLY.match(word):
                    self.refuse(job.id, f"the task step reads `{word}`; only matrix.* may vary")
        self.step_references(job)

    def step_references(self, job: Job) -> None:
        """`steps.<id>` may name only the task step, after it has run, or a credential.

        Setup actions do nothing locally, so their outputs would be empty here and set on
        GitHub; the task step's outputs are the file it writes, the same in both places. The
        exception is a credential an action hands the task (`ActionRule.credentials`): the
        task step may read it, and locally it is the machine's own, from the environment.
        """
        task = job.task_step
        for step in job.steps:
            texts = [*step.env.values(), *(v for v in step.with_.values() if isinstance(v, str))]
            if isinstance(step.if_, str):
                texts.append("${{ " + step.if_ + " }}" if "${{" not in step.if_ else step.if_)
            after = task is not None and step.index > task.index
            granted = self.credentials(job) if step is task else frozenset()
            where = f"step {step.index + 1}"
            self.steps_read(job, where, texts, task, after=after, granted=granted)
        self.steps_read(job, "outputs", list(job.outputs.values()), task, after=True)

    def credentials(self, job: Job) -> frozenset[tuple[str, ...]]:
        """The path (`steps`, id, `outputs`, name) of each credential handed to the task."""
        task = job.task_step
        before = job.steps[: task.index] if task is not None else ()
        return frozenset(
            ("steps", step.id, "outputs", name)
            for step in before
            if step.id is not None and (rule := self.actions.get(step.action or "")) is not None
            for name in rule.credentials
        )

    def steps_read(  # noqa: PLR0913 - the place, its texts, and what it may read
        self,
        job: Job,
        where: str,
        texts: list[str],
        task: Step | None,
        *,
        after: bool,
        granted: frozenset[tuple[str, ...]] = frozenset(),
    ) -> None:
        for text in texts:
            for inner in expressions.names_in(text):
                try:
                    found = expressions.references(expressions.parse(inner))
                except expressions.ExpressionError:
                    continue  # refused where the value was checked
                for reference in found:
                    if reference.context != "steps":
                        continue
                    named = reference.path[1] if len(reference.path) > 1 else ""
                    if reference.path in granted:
                        continue
                    if task is None or task.id != named or not after:
                        self.refuse(
                            job.id,
                            f"{where} reads `{'.'.join(reference.path)}`: only the task "
                            "step's outputs exist locally; give it an `id:` and read them "
                            "after it",
                        )

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
                accepted = sorted(k for k, c in rule.inputs.items() if c is not KeyClass.REFUSED)
                self.refuse(
                    job.id,
                    f"{where} input `{key}` is not one parity knows; leave it out "
                    f"(it accepts {', '.join(accepted) or 'none'})",
                )
            elif kind is KeyClass.REFUSED:
                self.refuse(
                    job.id,
                    f"{where} input `{key}` is refused: it changes what the action does in a "
                    "way `invoke ci` cannot check; leave it out",
                )
        if rule.role is Role.TASK and step is not job.task_step:
            self.refuse(
                job.id,
                f"{where} is a job's one call, as a `run:` step is: "
                "a job has one of them; keep one",
            )
        if rule.role is Role.SETUP and step.if_ is not None:
            self.refuse(job.id, f"{where}: setup steps run unconditionally (no `if:`)")
        if step.continue_on_error:
            self.refuse(job.id, f"{where}: continue-on-error belongs on the task step or job")

    def task_action_check(self, job: Job, step: Step) -> None:
        """A task action's arguments are plain words and what it needs is set up before it."""
        rule = self.actions.get(step.action or "")
        if rule is None:
            return
        where = f"step {step.index + 1} (`{step.action}`)"
        given = step.with_.get(rule.arguments_input)
        if given is not None and not all(SAFE_ARGUMENT.match(word) for word in str(given).split()):
            self.refuse(job.id, f"{where} input `{rule.arguments_input}` must be plain words")
        before = {other.action for other in job.steps[: step.index]}
        if rule.requires and rule.requires not in before:
            self.refuse(
                job.id,
                f"{where} runs hooks through uv, which GitHub's runner lacks: put "
                f"`{rule.requires}` before it",
            )

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

    def outputs(self, value: object, job: str) -> dict[str, str]:
        outputs = self.string_map(value, job, "outputs")
        for name, text in outputs.items():
            self.expressions_at(text, job, f"outputs.{name}", Location.JOB_OUTPUTS)
        return outputs

    def environment(self, value: object, job: str) -> Environment | None:
        """`environment:` as a name, or {name, url}; the protection rules stay GitHub's."""
        if value is None:
            return None
        if isinstance(value, str):
            self.expressions_at(value, job, "environment", Location.JOB_ENVIRONMENT)
            return Environment(name=value)
        named = isinstance(value, dict) and isinstance(value.get("name"), str)
        if isinstance(value, dict) and named and set(value) <= {"name", "url"}:
            self.expressions_at(value["name"], job, "environment.name", Location.JOB_ENVIRONMENT)
            url = value.get("url")
            self.expressions_at(url, job, "environment.url", Location.JOB_ENVIRONMENT_URL)
            return Environment(name=value["name"], url=text_of(url) if url is not None else None)
        self.refuse(job, "environment must be a name or a mapping of name and url")
        return None

    def job(self, job_id: str, raw: object, document_env: Mapping[str, str], *, ci: bool) -> Job:
        if not isinstance(raw, dict):
            self.refuse(job_id, "is not a mapping")
            return Job(path=self.path, id=job_id)
        self.classify(Level.JOB, raw, job_id)
        needs_raw = raw.get("needs") or []
        needs = (needs_raw,) if isinstance(needs_raw, str) else tuple(map(str, needs_raw))
        if_ = raw.get("if")
        before = len(self.problems)
        self.condition_at(if_, job_id, "if", Location.JOB_IF)
        # An `if:` that cannot be evaluated here decides nothing: the job is refused, never
        # skipped on a condition evaluated with nulls GitHub would not see.
        if_refused = next((p.message for p in self.problems[before:]), "")
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
            if (step := self.step(body, job_id, index)) is not None
        )
        job = Job(
            path=self.path,
            id=job_id,
            needs=needs,
            if_=if_ if isinstance(if_, str | bool) else None,
            runs_on=self.runs_on(raw.get("runs-on"), job_id, matrix),
            env={**document_env, **self.env(raw.get("env"), job_id, "env", Location.JOB_ENV)},
            outputs=self.outputs(raw.get("outputs"), job_id),
            environment=self.environment(raw.get("environment"), job_id),
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
            if_refused=if_refused,
        )
        if steps:
            self.steps_shape(job, ci=ci)
        return job

    def declared_check(
        self, job: Job, raw: object, jobs: Mapping[str, Job], inputs: set[str]
    ) -> str:
        """Each `needs.*` and `inputs.*` the job reads names something the workflow declares.

        GitHub reads a job outside `needs:`, an output its job does not declare, or an input
        `workflow_dispatch` does not list as null, so the condition or value quietly differs
        from what was written; here each is refused, naming what to declare. Returns the
        first such refusal in the job's own `if:` (which decides whether it runs), or "".
        """
        needs = {need.casefold() for need in job.needs}
        outputs = {j.casefold(): {o.casefold() for o in jobs[j].outputs} for j in jobs}
        condition = raw.get("if") if isinstance(raw, dict) else None

        def problems(found: object) -> list[str]:
            return [
                f"reads `{'.'.join(reference.path)}`, {problem} (GitHub gives null there)"
                for reference in _references_in(found)
                if (problem := _undeclared(reference, needs, outputs, inputs))
            ]

        for message in dict.fromkeys(problems(raw)):
            self.refuse(job.id, message)
        return next(iter(problems({"if": condition})), "")

    def read(self, document: object) -> Workflow:
        if not isinstance(document, dict) or not isinstance(document.get("jobs"), dict):
            self.refuse(None, "no `jobs:` mapping")
            return Workflow(self.path, frozenset(), {}, None, None, {}, tuple(self.problems))
        self.classify(Level.WORKFLOW, {k: v for k, v in document.items() if k is not True}, None)
        on = self.triggers(document)
        events = frozenset(on)
        ci = self.path.name == CI_WORKFLOW.name
        missing = [event for event in CI_EVENTS if event not in events]
        if ci and missing:
            self.refuse(
                None,
                f"`on:` lacks {', '.join(missing)}: `invoke ci` runs ci.yml as GitHub "
                "runs it for a push and a pull request",
            )
        env = self.env(document.get("env"), None, "env", Location.WORKFLOW_ENV)
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
        dispatch = on.get("workflow_dispatch")
        declared = {name.casefold() for name in dispatch.inputs} if dispatch else set()
        for job_id, raw in document["jobs"].items():
            read = jobs[str(job_id)]
            if refused := self.declared_check(read, raw, jobs, declared):
                jobs[read.id] = dataclasses.replace(read, if_refused=refused)
        return Workflow(
            self.path, events, env, directory, shell, jobs, tuple(self.problems), triggers=on
        )


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


def workflow_paths(root: Path, config: Config) -> list[Path]:
    """The service's workflow files in the repository at `root`, relative to it."""
    return sorted(
        path.relative_to(root)
        for path in (root / WORKFLOWS).glob("*.y*ml")
        if path.name not in config.other_workflows
    )


def read_all(root: Path, config: Config) -> dict[Path, Workflow]:
    """The service's workflows in the repository at `root`, parsed."""
    return {path: read(root, path, config) for path in workflow_paths(root, config)}


def _undeclared(
    reference: expressions.Reference,
    needs: set[str],
    outputs: Mapping[str, set[str]],
    inputs: set[str],
) -> str:
    """What a `needs.*` or `inputs.*` reference names that is not declared, or ""."""
    path = tuple(part.casefold() for part in reference.path)
    written = reference.path
    if "*" in path or len(path) < 2:  # noqa: PLR2004 - a context and a property
        return ""
    if path[0] == "needs":
        if path[1] not in needs:
            return f"but `{written[1]}` is not in its `needs:`; add it there"
        if path[2:3] == ("outputs",) and path[3:] and path[3] not in outputs.get(path[1], set()):
            return f"but job `{written[1]}` declares no output `{written[3]}` in its `outputs:`"
        return ""
    named = path[1] if path[0] == "inputs" else ""
    if path[:3] == ("github", "event", "inputs") and path[3:]:
        named = path[3]
    if named and named not in inputs:
        return "which `on.workflow_dispatch.inputs` does not declare; declare it there"
    return ""


def _texts(raw: object, *, condition: bool = False) -> list[str]:
    """Every expression text in a job's body; a bare `if:` is one expression."""
    if isinstance(raw, str):
        return ["${{ " + raw + " }}" if condition and "${{" not in raw else raw]
    if isinstance(raw, dict):
        return [text for key, value in raw.items() for text in _texts(value, condition=key == "if")]
    if isinstance(raw, list):
        return [text for value in raw for text in _texts(value)]
    return []


def _references_in(raw: object) -> list[expressions.Reference]:
    """The context references of every parsable expression in a job's body."""
    found = []
    for text in _texts(raw):
        for inner in expressions.names_in(text):
            try:
                found += expressions.references(expressions.parse(inner))
            except expressions.ExpressionError:
                continue  # refused where the value was checked
    return found
