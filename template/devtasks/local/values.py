"""The values a local run's expressions read, and the secrets it must never print.

`secrets.*` and `vars.*` come from environment variables of the same name (unset is '', as
an unset secret is on GitHub), never from a file in the repository. `needs.<job>.result`
and `needs.<job>.outputs.<name>` come from the jobs that finished; a credential a setup
action hands the task (`steps.<id>.outputs.token`) is the machine's own, from the
environment. Every secret's value is masked (`***`) in each line `invoke ci` prints, as the
runner masks it.
"""

import getpass
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from devtasks.workflow import contexts, expressions, model, rules

MASK = "***"
SHELL_QUOTE = "'\"'\"'"  # a single quote inside single quotes, as shlex writes it


class FromEnvironment(Mapping[str, str]):
    """Secrets or vars by name, read from this process's environment; unset is ''."""

    def __getitem__(self, name: str) -> str:
        """The variable's value; GitHub's names ignore case and are stored upper-case."""
        return os.environ.get(name, os.environ.get(name.upper(), ""))

    def __iter__(self) -> Iterator[str]:
        """Nothing: the names a workflow reads are looked up one by one, never listed."""
        return iter(())

    def __len__(self) -> int:
        """No names are listed (see `__iter__`)."""
        return 0


def run_values(
    github: Mapping[str, expressions.Value], inputs: Mapping[str, expressions.Value]
) -> contexts.Values:
    """The contexts every place of one local run shares."""
    # github.actor: who started the run; locally, the user running `invoke ci`.
    actor = os.environ.get("GITHUB_ACTOR") or getpass.getuser()
    stripped = {key.removeprefix("github."): value for key, value in github.items()}
    return contexts.Values(
        github={**stripped, "actor": actor},
        inputs=dict(inputs),
        secrets=FromEnvironment(),
        vars=FromEnvironment(),
    )


# The runner's default variables a task may read, from the github context.
RUNNER_VARIABLES = ("event_name", "ref", "ref_name", "ref_type", "base_ref", "head_ref", "actor")


def runner_variables(run: contexts.Values) -> dict[str, str]:
    """`GITHUB_EVENT_NAME`, `GITHUB_REF`, `GITHUB_BASE_REF`... as the runner sets them."""
    return {
        f"GITHUB_{name.upper()}": expressions.text_of(run.github.get(name))
        for name in RUNNER_VARIABLES
    }


# needs.<job>.result as GitHub reports it, from the results of the job's entries.
def result_of(results: Iterable[str]) -> str:
    """`success`, `failure`, `cancelled` or `skipped` for a job from its entries' results.

    `results` are the entries' `Result` values: a failed entry fails the job (one allowed to
    fail by continue-on-error does not), a cancelled one cancels it, all skipped is skipped.
    """
    found = set(results)
    if "failed" in found:
        return "failure"
    if "cancelled" in found:
        return "cancelled"
    if found <= {"skipped", "not-selected"}:
        return "skipped"
    return "success"


@dataclass(frozen=True)
class Finished:
    """What a finished job leaves for the jobs that need it."""

    result: str
    # None while unknown: a dry run has not run the job, so its outputs are not known yet.
    outputs: Mapping[str, str] | None


def needs_values(job: model.Job, finished: Mapping[str, Finished]) -> dict[str, expressions.Value]:
    """The job's `needs` context, flat: `<need>.result` and `<need>.outputs.<name>`."""
    values: dict[str, expressions.Value] = {}
    for need in job.needs:
        done = finished.get(need)
        if done is None:
            continue
        values[f"{need}.result"] = done.result
        for name, value in (done.outputs or {}).items():
            values[f"{need}.outputs.{name}"] = value
    return values


def secret_names(workflow: model.Workflow) -> frozenset[str]:
    """Every `secrets.<name>` the workflow's jobs read, wherever they read it."""
    names = {"GITHUB_TOKEN"}
    texts: list[str] = [*workflow.env.values()]
    for job in workflow.jobs.values():
        texts += [*job.env.values(), *job.outputs.values()]
        for step in job.steps:
            texts += [*step.env.values(), *(str(v) for v in step.with_.values())]
    for text in texts:
        for inner in expressions.names_in(text):
            try:
                found = expressions.references(expressions.parse(inner))
            except expressions.ExpressionError:
                continue
            names |= {r.path[1] for r in found if r.context == "secrets" and len(r.path) > 1}
    return frozenset(names)


def credential_steps(job: model.Job) -> dict[str, str]:
    """`steps` values of the credentials setup steps hand the task (`ActionRule.credentials`).

    Locally the action does nothing, so each is the machine's own, from the environment
    variable its rule names (unset is '', as an unset secret); flat, as `contexts.scope` takes.
    """
    task = job.task_step
    found: dict[str, str] = {}
    for step in job.steps[: task.index] if task is not None else ():
        rule = rules.BUILTIN_ACTIONS.get(step.action or "")
        if step.id is None or rule is None:
            continue
        for name, variable in rule.credentials.items():
            found[f"{step.id}.outputs.{name}"] = os.environ.get(variable, "")
    return found


class Masker:
    """Replaces each secret's value with `***` in text `invoke ci` prints."""

    def __init__(self, values: Iterable[str]) -> None:
        """Mask these values (each line of a multi-line one too, as the runner does)."""
        # A failing command's line is shell-quoted (`shlex.join`), which spells a quote inside
        # a value as '"'"': that spelling is the value too.
        pieces = {
            spelling
            for value in values
            for piece in (value, *value.splitlines())
            if piece.strip()
            for spelling in (piece, piece.replace("'", SHELL_QUOTE))
        }
        # Longest first, so a secret containing another is masked whole.
        ordered = sorted(pieces, key=len, reverse=True)
        self.pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    @classmethod
    def for_workflow(cls, workflow: model.Workflow) -> "Masker":
        """A masker for the values of every secret the workflow reads, from the environment."""
        secrets = FromEnvironment()
        credentials = [v for job in workflow.jobs.values() for v in credential_steps(job).values()]
        return cls([*(secrets[name] for name in secret_names(workflow)), *credentials])

    def __call__(self, text: str) -> str:
        """The text with every secret value replaced by `***`."""
        return self.pattern.sub(MASK, text) if self.pattern else text

    def contains_secret(self, text: str) -> bool:
        """Whether the text holds a secret's value (GitHub then drops a job output)."""
        return bool(self.pattern and self.pattern.search(text))
