"""Which contexts each place in a workflow may read: GitHub's table, and what `invoke ci` supplies.

`AVAILABLE` is GitHub's "Context availability" table (docs.github.com, "Contexts reference",
section "Context availability") for every place `invoke ci` evaluates. Parity checks each
expression against its place's row (`check`), and the runner builds the values for that
place with `scope`, which refuses to build a context without every context the row allows:
so what parity lets an expression read, the runner always supplies.
"""

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from devtasks.workflow import expressions


class Location(enum.Enum):
    """A place in a workflow that holds expressions `invoke ci` evaluates."""

    WORKFLOW_ENV = "env"
    JOB_IF = "jobs.<job_id>.if"
    JOB_ENV = "jobs.<job_id>.env"
    JOB_RUNS_ON = "jobs.<job_id>.runs-on"
    JOB_CONTINUE_ON_ERROR = "jobs.<job_id>.continue-on-error"
    JOB_ENVIRONMENT = "jobs.<job_id>.environment"
    JOB_ENVIRONMENT_URL = "jobs.<job_id>.environment.url"
    JOB_OUTPUTS = "jobs.<job_id>.outputs.<output_id>"
    STEP_IF = "jobs.<job_id>.steps.if"
    STEP_ENV = "jobs.<job_id>.steps.env"
    STEP_WITH = "jobs.<job_id>.steps.with"
    STEP_RUN = "jobs.<job_id>.steps.run"
    STEP_CONTINUE_ON_ERROR = "jobs.<job_id>.steps.continue-on-error"


_STEP = frozenset(
    {"github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "secrets", "steps"}
    | {"inputs"}
)
# GitHub's table, row by row (the special functions column is `STATUS` below).
AVAILABLE: Mapping[Location, frozenset[str]] = {
    Location.WORKFLOW_ENV: frozenset({"github", "secrets", "inputs", "vars"}),
    Location.JOB_IF: frozenset({"github", "needs", "vars", "inputs"}),
    Location.JOB_ENV: frozenset({"github", "needs", "strategy", "matrix", "vars", "secrets"})
    | {"inputs"},
    Location.JOB_RUNS_ON: frozenset({"github", "needs", "strategy", "matrix", "vars", "inputs"}),
    Location.JOB_CONTINUE_ON_ERROR: frozenset(
        {"github", "needs", "strategy", "vars", "matrix", "inputs"}
    ),
    Location.JOB_ENVIRONMENT: frozenset(
        {"github", "needs", "strategy", "matrix", "vars", "inputs"}
    ),
    Location.JOB_ENVIRONMENT_URL: frozenset(
        {"github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "steps"}
    )
    | {"inputs"},
    Location.JOB_OUTPUTS: _STEP,
    Location.STEP_IF: _STEP - {"secrets"},
    Location.STEP_ENV: _STEP,
    Location.STEP_WITH: _STEP,
    Location.STEP_RUN: _STEP,
    Location.STEP_CONTINUE_ON_ERROR: _STEP,
}
# Where the status functions (success(), failure(), always(), cancelled()) may be called.
STATUS = frozenset({Location.JOB_IF, Location.STEP_IF})
# Contexts `invoke ci` supplies. GitHub's `strategy`, `job` and `runner` describe a hosted
# runner `invoke ci` is not, so an expression reading them is refused rather than given nulls.
SUPPLIED = frozenset({"github", "needs", "matrix", "env", "vars", "secrets", "inputs", "steps"})
# The github properties `invoke ci` sets for the local event; any other would be null here
# and something else on GitHub, so reading it is refused.
GITHUB_PROPERTIES = frozenset(
    {"event_name", "ref", "ref_name", "ref_type", "base_ref", "head_ref", "event", "actor"}
)


def readable(location: Location) -> frozenset[str]:
    """The contexts an expression at this place reads locally: GitHub's row, as supplied."""
    return AVAILABLE[location] & SUPPLIED


def check(node: expressions.Node, location: Location) -> list[str]:
    """Why this expression cannot be evaluated at this place; empty when it can."""
    found = expressions.problems(node)
    allowed = AVAILABLE[location]
    for reference in expressions.references(node):
        name = reference.context
        dotted = ".".join(reference.path)
        if name not in allowed:
            may = ", ".join(sorted(allowed))
            found.append(f"`{dotted}`: GitHub gives {location.value} only {may}")
        elif name not in SUPPLIED:
            found.append(f"`{dotted}`: `invoke ci` does not supply the `{name}` context")
        elif (
            name == "github"
            and (
                len(reference.path) < 2  # noqa: PLR2004 - github.<property>
                or reference.path[1].casefold() not in GITHUB_PROPERTIES
                or (reference.path[1].casefold() == "event" and reference.path[2:3] != ("inputs",))
            )
        ):
            found.append(f"`{dotted}` is not a github property `invoke ci` sets locally")
        elif len(reference.path) < 2:  # noqa: PLR2004 - a whole context is an object
            found.append(f"`{dotted}` is a whole context; read one of its properties")
    if location not in STATUS:
        found += [
            f"`{call.name}()` is a status function, which only `if:` may call"
            for call in expressions.functions(node)
            if call.name.casefold() in expressions.STATUS_FUNCTIONS
        ]
    return found


def check_text(text: str, location: Location) -> list[str]:
    """`check` for every `${{ }}` in a string; an unparsable one is a problem too."""
    found = []
    for inner in expressions.names_in(text):
        try:
            found += check(expressions.parse(inner), location)
        except expressions.ExpressionError as error:
            found.append(str(error))
    return found


@dataclass(frozen=True)
class Values:
    """The contexts of one run as `invoke ci` has them; `scope` picks a place's row."""

    github: Mapping[str, expressions.Value]
    inputs: Mapping[str, expressions.Value]
    secrets: Mapping[str, str]
    vars: Mapping[str, str]


def scope(  # noqa: PLR0913 - one argument per context a row can name
    location: Location,
    run: Values,
    *,
    matrix: Mapping[str, str] | None = None,
    needs: Mapping[str, expressions.Value] | None = None,
    env: Mapping[str, str] | None = None,
    steps: Mapping[str, expressions.Value] | None = None,
    succeeded: bool = True,
) -> expressions.Context:
    """The Context for one place, with every context its row allows, or a TypeError.

    `needs` and `steps` are flat (`build.result`, `build.outputs.x`; `task.outcome`); a
    missing property of a supplied context reads as null, as on GitHub.
    """
    wanted = readable(location)
    given: dict[str, Mapping[str, expressions.Value] | None] = {
        "github": run.github,
        "inputs": run.inputs,
        "matrix": matrix,
        "needs": needs,
        "env": env,
        "steps": steps,
    }
    missing = sorted(name for name in wanted if name in given and given[name] is None)
    if missing:
        msg = f"{location.value} reads {', '.join(missing)}, which the caller did not supply"
        raise TypeError(msg)
    values: dict[str, expressions.Value] = {}
    for name, found in given.items():
        if name in wanted and found is not None:
            values.update({f"{name}.{key}": value for key, value in found.items()})
    # github.event.inputs mirrors inputs for workflow_dispatch as text: GitHub keeps booleans
    # (and numbers) typed only in the inputs context.
    if "github" in wanted:
        values.update(
            {f"github.event.inputs.{k}": expressions.text_of(v) for k, v in run.inputs.items()}
        )
    objects = {
        name: mapping
        for name, mapping in (("secrets", run.secrets), ("vars", run.vars))
        if name in wanted
    }
    return expressions.Context(values=values, succeeded=succeeded, readable=wanted, objects=objects)
