"""`on:` as GitHub evaluates it: the typed triggers of a workflow, and whether an event runs it.

The rules, from GitHub's workflow syntax ("on.push.<branches|tags|...>", "on.<push|
pull_request|pull_request_target>.<paths|paths-ignore>"): a pull request's branch filters
match its BASE branch; a push with only branch filters does not run for tags and one with
only tag filters not for branches; path filters are not evaluated for a push of a tag; a
`paths` filter needs one changed file to match, `paths-ignore` needs one file it does not
ignore; branch and path filters must both be satisfied. `invoke ci` and `--dry-run` both
call `decide`, so they cannot disagree.
"""

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from devtasks.workflow import globs, rules

# The activity types GitHub triggers a pull_request workflow on when it names none;
# the local pull request stands for these (new commits pushed to an open pull request).
PULL_REQUEST_DEFAULT_TYPES = frozenset({"opened", "synchronize", "reopened"})
INPUT_TYPES = ("string", "boolean", "choice", "number", "environment")
CRON_FIELDS = (
    ("minute", 0, 59, ""),
    ("hour", 0, 23, ""),
    ("day of month", 1, 31, ""),
    ("month", 1, 12, "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC"),
    ("day of week", 0, 6, "SUN MON TUE WED THU FRI SAT"),
)
Value = str | bool | float
SINGULAR = {"branches": "branch", "tags": "tag"}


class Verdict(enum.Enum):
    """Whether the local event runs a workflow; `--json` prints the value."""

    TRIGGERED = "triggered"
    NOT_TRIGGERED = "not-triggered"


@dataclass(frozen=True)
class Decision:
    """The verdict for one workflow and the rule of `on:` that decided it."""

    verdict: Verdict
    rule: str

    @property
    def runs(self) -> bool:
        """Whether the workflow's jobs run."""
        return self.verdict is Verdict.TRIGGERED


@dataclass(frozen=True)
class Input:
    """One `workflow_dispatch` input: its type, whether it is required, default and options."""

    name: str
    type: str = "string"
    required: bool = False
    default: Value | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Trigger:
    """One event under `on:` with its filters, as written (None: the filter is absent)."""

    event: str
    types: tuple[str, ...] | None = None
    branches: tuple[str, ...] | None = None
    branches_ignore: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    tags_ignore: tuple[str, ...] | None = None
    paths: tuple[str, ...] | None = None
    paths_ignore: tuple[str, ...] | None = None
    crons: tuple[str, ...] = ()
    inputs: Mapping[str, Input] = field(default_factory=dict)


@dataclass(frozen=True)
class Happening:
    """What the decision needs of the local event: its name, ref, base branch, changed files."""

    event: str
    ref: str
    base: str = ""
    changed: tuple[str, ...] = ()


class InputError(ValueError):
    """A `--input` the workflow's `workflow_dispatch.inputs` do not accept."""


def _not(rule: str) -> Decision:
    return Decision(Verdict.NOT_TRIGGERED, rule)


def _branch_decision(trigger: Trigger, happening: Happening) -> Decision | None:
    """The branch or tag filters' verdict, or None when they let the event through."""
    where = f"on.{trigger.event}"
    if trigger.event == "pull_request":
        kind, name = "branches", happening.base
    elif happening.ref.startswith("refs/tags/"):
        kind, name = "tags", happening.ref.removeprefix("refs/tags/")
    else:
        kind, name = "branches", happening.ref.removeprefix("refs/heads/")
    other = "tags" if kind == "branches" else "branches"
    include = getattr(trigger, kind)
    ignore = getattr(trigger, f"{kind}_ignore")
    if include is None and ignore is None:
        # GitHub: with only tag filters a push of a branch does not run it, and vice versa.
        other_filtered = (getattr(trigger, other), getattr(trigger, f"{other}_ignore")) != (
            None,
            None,
        )
        if trigger.event == "push" and other_filtered:
            return _not(
                f"{where} filters only {other}, so a push of {SINGULAR[kind]} `{name}` is not run"
            )
        return None
    label = "the base branch" if trigger.event == "pull_request" else f"{SINGULAR[kind]}"
    if include is not None and not globs.included(include, name):
        decided = globs.last_match(include, name)
        why = f"negated by `{decided}`" if decided else f"matches none of {list(include)}"
        return _not(f"{where}.{kind}: {label} `{name}` {why}")
    if ignore is not None and globs.included(ignore, name):
        return _not(
            f"{where}.{kind}-ignore: {label} `{name}` matches `{globs.last_match(ignore, name)}`"
        )
    return None


def _paths_decision(trigger: Trigger, happening: Happening) -> Decision | None:
    """The path filters' verdict, or None when they let the event through."""
    where = f"on.{trigger.event}"
    if happening.ref.startswith("refs/tags/") and trigger.event == "push":
        return None  # GitHub: "Path filters are not evaluated for pushes of tags."
    if trigger.paths is not None and not any(
        globs.included(trigger.paths, path) for path in happening.changed
    ):
        return _not(f"{where}.paths: no changed file matches {_listed(trigger.paths)}")
    if trigger.paths_ignore is not None and all(
        globs.included(trigger.paths_ignore, path) for path in happening.changed
    ):
        what = "every changed file matches" if happening.changed else "no file changed, against"
        return _not(f"{where}.paths-ignore: {what} {_listed(trigger.paths_ignore)}")
    return None


def _listed(patterns: tuple[str, ...]) -> str:
    """A filter's patterns for a reason line: an empty list as `[]`, an empty pattern as `""`."""
    return ", ".join(pattern or '""' for pattern in patterns) or "[]"


def decide(triggers: Mapping[str, Trigger], happening: Happening) -> Decision:
    """Whether GitHub would run a workflow with these triggers for this event, and why."""
    trigger = triggers.get(happening.event)
    if trigger is None:
        named = ", ".join(sorted(triggers)) or "no event"
        return _not(f"on: has no {happening.event} (it runs on {named})")
    types = trigger.types
    if trigger.event == "pull_request" and types and not PULL_REQUEST_DEFAULT_TYPES & set(types):
        return _not(
            f"on.pull_request.types: {', '.join(types)} leaves out the local pull "
            f"request's activity ({', '.join(sorted(PULL_REQUEST_DEFAULT_TYPES))})"
        )
    if trigger.event in {"push", "pull_request"}:
        decided = _branch_decision(trigger, happening) or _paths_decision(trigger, happening)
        if decided is not None:
            return decided
    return Decision(Verdict.TRIGGERED, f"on.{trigger.event} runs it")


def _boolean(name: str, text: str) -> bool:
    if text in {"true", "false"}:
        return text == "true"
    message = f"--input {name}={text}: a boolean input is true or false"
    raise InputError(message)


# What GitHub's number field takes: a decimal, no `_`, `inf` or `nan` (which float() reads).
NUMBER_INPUT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _number(name: str, text: str) -> float:
    if not NUMBER_INPUT.fullmatch(text.strip()):
        message = f"--input {name}={text}: a number input needs a number"
        raise InputError(message)
    return float(text)


def input_values(declared: Mapping[str, Input], given: Mapping[str, str]) -> dict[str, Value]:
    """The inputs a `workflow_dispatch` run gets: given values typed, defaults applied.

    As GitHub's form: an input it does not declare is refused, a required one without a
    value or default is refused, a choice must be one of its options.
    """
    unknown = sorted(set(given) - set(declared))
    if unknown:
        message = f"--input {unknown[0]}: workflow_dispatch declares no such input"
        if declared:
            message += f" (it has {', '.join(declared)})"
        raise InputError(message)
    values: dict[str, Value] = {}
    for name, spec in declared.items():
        if name not in given:
            if spec.default is not None:
                values[name] = spec.default
            elif spec.required:
                message = f"input `{name}` is required and has no default: pass --input {name}=..."
                raise InputError(message)
            else:
                values[name] = False if spec.type == "boolean" else ""
            continue
        text = given[name]
        if spec.type == "boolean":
            values[name] = _boolean(name, text)
        elif spec.type == "number":
            values[name] = _number(name, text)
        elif spec.type == "choice" and text not in spec.options:
            message = f"--input {name}={text}: choose one of {', '.join(spec.options)}"
            raise InputError(message)
        else:
            values[name] = text
    return values


def _cron_item(item: str, low: int, high: int, names: Sequence[str]) -> bool:
    base, _, step = item.partition("/")
    if step and not (step.isdigit() and int(step) > 0):
        return False
    if base == "*":
        return True
    start, _, end = base.partition("-")

    def number(text: str) -> int | None:
        if text.upper() in names:
            return list(names).index(text.upper()) + low
        return int(text) if text.isdigit() else None

    first, last = number(start), number(end) if end else number(start)
    return first is not None and last is not None and low <= first <= last <= high


def cron_problem(cron: str) -> str | None:
    """Why GitHub would refuse a schedule's cron (five fields, POSIX syntax), or None."""
    fields = cron.split()
    if len(fields) != len(CRON_FIELDS):
        return f"cron `{cron}` needs five fields (minute hour day-of-month month day-of-week)"
    for text, (what, low, high, names) in zip(fields, CRON_FIELDS, strict=True):
        if not all(_cron_item(item, low, high, names.split()) for item in text.split(",")):
            return f"cron `{cron}`: {what} `{text}` is not within {low}-{high}"
    return None


INPUT_KEYS = frozenset({"description", "required", "default", "type", "options"})
PAIRS = (("branches", "branches-ignore"), ("tags", "tags-ignore"), ("paths", "paths-ignore"))


def _patterns(value: object, where: str, problems: list[str]) -> tuple[str, ...] | None:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append(f"{where} must be a list of patterns")
        return None
    problems.extend(f"{where}: {problem}" for problem in globs.check(value))
    return tuple(value)


def _input(name: str, raw: object, problems: list[str]) -> Input | None:
    where = f"on.workflow_dispatch.inputs.{name}"
    if raw is None:
        return Input(name)
    if not isinstance(raw, dict) or not set(map(str, raw)) <= INPUT_KEYS:
        problems.append(f"{where} may hold only {', '.join(sorted(INPUT_KEYS))}")
        return None
    kind = raw.get("type", "string")
    options = raw.get("options") or []
    problem = None
    if kind not in INPUT_TYPES:
        problem = f"{where}.type `{kind}` is not one of {', '.join(INPUT_TYPES)}"
    elif kind == "choice" and (not options or not all(isinstance(o, str) for o in options)):
        problem = f"{where}: a choice input needs a list of options"
    if problem:
        problems.append(problem)
        return None
    return Input(
        name=name,
        type=str(kind),
        required=bool(raw.get("required", False)),
        default=_default(where, kind, raw.get("default"), options, problems),
        options=tuple(map(str, options)),
    )


def _default(
    where: str, kind: str, default: object, options: list[str], problems: list[str]
) -> Value | None:
    """An input's default as its type, or None (absent, or refused)."""
    if default is None:
        return None
    if kind == "boolean":
        if isinstance(default, bool):
            return default
        problems.append(f"{where}.default `{default}` must be true or false")
    elif kind == "number":
        if isinstance(default, int | float) and not isinstance(default, bool):
            return float(default)
        problems.append(f"{where}.default `{default}` must be a number")
    elif kind == "choice" and str(default) not in options:
        problems.append(f"{where}.default `{default}` is not one of its options")
    else:
        return str(default)
    return None


def _schedule(body: object, problems: list[str]) -> Trigger:
    if not isinstance(body, list) or not all(
        isinstance(item, dict)
        and isinstance(item.get("cron"), str)
        and set(item) <= {"cron", "timezone"}
        and isinstance(item.get("timezone", ""), str)
        for item in body
    ):
        problems.append("on.schedule must be a list of `- cron: '<five fields>'` (and timezone)")
        return Trigger("schedule")
    crons = tuple(item["cron"] for item in body)
    problems.extend(f"on.schedule: {p}" for c in crons if (p := cron_problem(c)))
    return Trigger("schedule", crons=crons)


def _filters(event: str, body: dict[object, object], problems: list[str]) -> dict[str, object]:
    """The event's keys the rules table mirrors; the others refused, pairs GitHub forbids too."""
    filters: dict[str, object] = {}
    for key, value in body.items():
        found = rules.RULES.get((rules.Level.TRIGGER, f"{event}.{key}"))
        if found is None:
            problems.append(f"on.{event}.{key} is not a filter GitHub allows on {event}")
        elif found.kind is rules.KeyClass.REFUSED:
            problems.append(f"on.{event}.{key} is refused: {found.why}")
        else:
            filters[str(key)] = value
    for include, ignore in PAIRS:
        if include in filters and ignore in filters:
            problems.append(
                f"on.{event} has both {include} and {ignore}, which GitHub refuses: use "
                f"{include} with `!` patterns"
            )
    return filters


def _trigger(event: str, body: object, problems: list[str]) -> Trigger:
    """One event's filters, each key classified by the rules table."""
    if event == "schedule":
        return _schedule(body, problems)
    inert = rules.RULES[(rules.Level.EVENT, event)].kind is rules.KeyClass.INERT
    # An inert event is GitHub's alone: its filters decide nothing locally.
    if body is None or inert:
        return Trigger(event)
    if not isinstance(body, dict):
        problems.append(f"on.{event} must be a mapping of filters")
        return Trigger(event)
    filters = _filters(event, body, problems)
    if event == "workflow_dispatch":
        raw_inputs = filters.get("inputs") or {}
        if not isinstance(raw_inputs, dict):
            problems.append("on.workflow_dispatch.inputs must be a mapping")
            raw_inputs = {}
        inputs = {
            str(n): i for n, raw in raw_inputs.items() if (i := _input(str(n), raw, problems))
        }
        return Trigger(event, inputs=inputs)
    patterns = {
        key: _patterns(value, f"on.{event}.{key}", problems)
        for key, value in filters.items()
        if key != "types"
    }
    types = filters.get("types")
    if isinstance(types, str):
        types = [types]
    if types is not None and not isinstance(types, list):
        problems.append(f"on.{event}.types must be a list")
        types = None
    return Trigger(
        event,
        types=tuple(map(str, types)) if types is not None else None,
        branches=patterns.get("branches"),
        branches_ignore=patterns.get("branches-ignore"),
        tags=patterns.get("tags"),
        tags_ignore=patterns.get("tags-ignore"),
        paths=patterns.get("paths"),
        paths_ignore=patterns.get("paths-ignore"),
    )


def read_on(raw: object) -> tuple[dict[str, Trigger], list[str]]:
    """`on:` (a name, a list of names or a mapping) as typed triggers, and what is refused."""
    problems: list[str] = []
    if isinstance(raw, str):
        events: dict[str, object] = {raw: None}
    elif isinstance(raw, list) and all(isinstance(event, str) for event in raw):
        events = dict.fromkeys(raw)
    elif isinstance(raw, dict) and raw:
        events = {str(k): v for k, v in raw.items()}
    else:
        return {}, ["`on:` names no events"]
    triggers = {}
    for event, body in events.items():
        rule = rules.RULES.get((rules.Level.EVENT, event))
        if rule is None:
            problems.append(f"on.{event} is no event GitHub triggers workflows on")
        elif rule.kind is rules.KeyClass.REFUSED:
            problems.append(f"on.{event} is refused: {rule.why}")
        else:
            triggers[event] = _trigger(event, body, problems)
    return triggers, problems
