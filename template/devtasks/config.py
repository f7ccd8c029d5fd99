"""pyproject.toml, read in this one place, and its `[tool.shipshape]` table as a model.

devtasks/ is sealed (see `checks/seal.py`); this table, and the team's own tasks in
`team_tasks.py`, are where a team changes how CI and `invoke ci` behave. Every problem with
the file or the table is a `ConfigError`: one line naming the key, the value and what is
allowed, which invoke prints without a traceback from whichever task read it.
"""

import contextlib
import datetime as dt
import json
import re
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Self

import pydantic
from invoke.exceptions import Exit
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StrictFloat
from pydantic import StrictStr as Text

from devtasks.workflow import globs

PYPROJECT = Path("pyproject.toml")
TABLE = ("tool", "shipshape")
PINNED_ACTION = re.compile(r"^([A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+)@([0-9a-f]{40})$")
PROBE_PATH = re.compile(r"^/[A-Za-z0-9_./-]*$")
# Actions that publish files a task wrote, and the input that names those files.
BUILTIN_POST_ACTIONS: Mapping[str, str] = {
    "actions/upload-artifact": "path",
    "github/codeql-action/upload-sarif": "sarif_file",
}
OSV_URL = "https://api.osv.dev"
FINDING_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
OUTPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ConfigError(Exit):
    """pyproject.toml, or its `[tool.shipshape]` table, cannot be read as this version reads it.

    An `Exit`, so a task that meets one ends with its line and exit code 1, never a traceback.
    """

    def __init__(self, message: str) -> None:  # noqa: D107
        super().__init__(message, code=1)

    def __str__(self) -> str:  # noqa: D105 - `Exit` keeps its message out of str()
        return self.message or ""


def pyproject(root: Path) -> dict[str, Any]:
    """pyproject.toml at `root`, parsed; a `ConfigError` when it is missing or not TOML."""
    path = root / PYPROJECT
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        message = f"{PYPROJECT}: missing at {root}; every task reads it"
        raise ConfigError(message) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        message = f"{PYPROJECT}: not valid TOML: {error}; fix the file, then run the task again"
        raise ConfigError(message) from None


def _matches(pattern: str, allowed: str) -> AfterValidator:
    def check(value: str) -> str:
        if not re.fullmatch(pattern, value):
            raise ValueError(allowed)
        return value

    return AfterValidator(check)


def _pinned(entries: tuple[str, ...]) -> tuple[str, ...]:
    unpinned = [entry for entry in entries if not PINNED_ACTION.match(entry)]
    if unpinned:
        message = f"must be pinned as owner/name@<40-hex sha>, not {', '.join(unpinned)}"
        raise ValueError(message)
    return entries


def _probe_paths(paths: tuple[str, ...]) -> tuple[str, ...]:
    if not paths or not all(PROBE_PATH.match(path) for path in paths):
        message = 'must be absolute URL paths, e.g. ["/health", "/live"]'
        raise ValueError(message)
    return paths


def _change_groups(groups: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Group names that are output names, each with path patterns GitHub's filters accept."""
    for name, patterns in groups.items():
        if not OUTPUT_NAME.fullmatch(name):
            message = f"group {name!r} must be an output name (letters, digits, _ and -)"
            raise ValueError(message)
        if not patterns:
            message = f"group {name!r} names no paths"
            raise ValueError(message)
        if problems := globs.check(patterns):
            message = f"group {name!r}: {problems[0]}"
            raise ValueError(message)
    return groups


def _a_date(value: object) -> dt.date:
    # TOML has dates of its own; an ISO string is taken too. A datetime or a number is not a day.
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = dt.date.fromisoformat(value)
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        message = "must be a date, YYYY-MM-DD"
        raise ValueError(message)  # noqa: TRY004 - pydantic turns ValueError into its error
    return value


def _a_reason(value: str) -> str:
    if not value.strip():
        message = "must say why the finding is accepted"
        raise ValueError(message)
    return value.strip()


class _Table(BaseModel):
    """A TOML table: kebab-case keys, unknown keys refused, read-only once read."""

    model_config = pydantic.ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        alias_generator=lambda name: name.replace("_", "-"),
    )


class Ignored(_Table):
    """A finding the team accepts for now: its id, why, and the last day the exception holds."""

    id: Annotated[
        Text, _matches(FINDING_ID.pattern, "must name an advisory or a check (GHSA-, CVE-, DS-)")
    ]
    reason: Annotated[Text, AfterValidator(_a_reason)]
    expires: Annotated[dt.date, BeforeValidator(_a_date)]

    def expired(self, today: dt.date) -> bool:
        """Whether the exception has run out (it holds through its `expires` day)."""
        return today > self.expires


class Security(_Table):
    """`[tool.shipshape.security]`: where the scanners look things up, and what they ignore."""

    # The OSV-compatible vulnerability service `uv audit` queries (a mirror, air-gapped).
    osv_url: Annotated[
        Text,
        _matches(r"https?://[^\s/]+(/\S*)?", "must be the http(s) URL of an OSV API"),
        AfterValidator(lambda url: url.rstrip("/")),
    ] = OSV_URL
    # Where Trivy downloads its vulnerability database (an OCI repository); empty: Trivy's own.
    trivy_db_repository: Annotated[
        Text,
        _matches(r"([a-z0-9._/:@-]+)?", "must be an OCI repository, e.g. ghcr.io/org/trivy-db"),
    ] = ""
    ignore: tuple[Ignored, ...] = ()

    @pydantic.model_validator(mode="after")
    def _each_finding_once(self) -> Self:
        ids = [entry.id for entry in self.ignore]
        twice = sorted({finding for finding in ids if ids.count(finding) > 1})
        if twice:
            message = f"ignore lists {', '.join(twice)} more than once"
            raise ValueError(message)
        return self


class Config(_Table):
    """The service's `[tool.shipshape]` table, with defaults for what it leaves out."""

    default_branch: Annotated[
        Text, _matches(r"[A-Za-z0-9._/-]+", "must be a branch name (letters, digits, . _ / -)")
    ] = "main"
    image: Annotated[
        Text,
        _matches(r"([a-z0-9._/:-]+)?", "must be a lower-case repository, e.g. ghcr.io/org/name"),
    ] = ""
    probe_paths: Annotated[tuple[Text, ...], AfterValidator(_probe_paths)] = (
        "/health",
        "/live",
        "/ready",
        "/metrics",
    )
    # Strict: a whole number is a number, but `true` and "60" are not.
    probe_timeout_seconds: Annotated[StrictFloat, Field(gt=0)] = 60.0
    # The environment of the prod container the docker job runs and probes: NAME = "value".
    probe_env: dict[
        Annotated[Text, _matches(ENV_NAME.pattern, "must be an environment variable name")],
        Annotated[Text, _matches(r"[^\x00]*", "must not hold a NUL character")],
    ] = Field(default_factory=dict)
    # Extra setup actions a job may use before its task step: `owner/name@<sha>`.
    setup_actions: Annotated[tuple[Text, ...], AfterValidator(_pinned)] = ()
    # Extra actions that publish a task's files after its task step: action -> path input.
    post_actions: dict[Text, Text] = Field(default_factory=dict)
    security: Security = Field(default_factory=Security)
    # `invoke changes`: group name -> path patterns; one "true"/"false" output per group.
    changes: Annotated[dict[Text, tuple[Text, ...]], AfterValidator(_change_groups)] = Field(
        default_factory=dict
    )
    # The repository GitHub checks out, relative to this pyproject.toml: where
    # .github/workflows is, where jobs start and path filters and post-steps' paths begin.
    # `..` for a service in a folder of a larger repository (a monorepo's backend/).
    workspace: Annotated[
        Text, _matches(r"\.|\.\.(/\.\.)*", 'must be "." or a parent folder: "..", "../.."')
    ] = "."

    # Workflow files of that repository that are not this service's (a monorepo frontend's
    # `frontend.yml`): parity and `invoke ci` leave them to their owners.
    other_workflows: tuple[
        Annotated[Text, _matches(r"[A-Za-z0-9_.-]+\.ya?ml", "must be a workflow file name")], ...
    ] = ()

    def checkout(self, root: Path) -> Path:
        """The repository GitHub checks out, for the service whose pyproject is at `root`."""
        return (root / self.workspace).resolve()

    def checkout_note(self, checkout: Path) -> str:
        """Where a missing workflow was looked for, when `workspace` is not the service's own."""
        if self.workspace == ".":
            return ""
        return f' under {checkout}, which [tool.shipshape] workspace = "{self.workspace}" names'

    @property
    def all_post_actions(self) -> dict[str, str]:
        """The built-in publishing actions and the team's own."""
        return {**BUILTIN_POST_ACTIONS, **self.post_actions}

    @property
    def extra_setup_pins(self) -> dict[str, str]:
        """`owner/name` -> the SHA the team pinned it to."""
        pins = {}
        for entry in self.setup_actions:
            match = PINNED_ACTION.match(entry)
            if match is not None:
                pins[match.group(1)] = match.group(2)
        return pins


def _toml(value: object) -> str:
    """A value as it would be written in pyproject.toml, for an error line."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return json.dumps(value, default=str, ensure_ascii=False)


def _table_type(annotation: object) -> type["_Table"] | None:
    """The table a field holds: itself (`security`), or its entries' (`ignore`), if any."""
    for kind in (annotation, *typing.get_args(annotation)):
        if isinstance(kind, type) and issubclass(kind, _Table):
            return kind
    return None


def _walk(loc: tuple[int | str, ...]) -> tuple[str, str, type["_Table"]]:
    """Where a location is: its TOML table, the key in it ("": the table), the innermost model."""
    table, key = list(TABLE), []
    model: type[_Table] = Config
    for part in loc:
        if isinstance(part, int):
            key.append(f"entry {part + 1}")
            continue
        if part == "[key]":  # a map's key itself is wrong, not its value
            key[-1] = f"key {_toml(key[-1])}"
            continue
        # pydantic locates by the TOML key (the alias); an unknown key or a map's key is no field.
        field = model.model_fields.get(part.replace("-", "_"))
        if field is None:
            key.append(part)
            continue
        inner = _table_type(field.annotation)
        if inner is not None and inner is field.annotation and not key:
            table.append(part)
        else:
            key.append(part)
        model = inner or model
    return f"[{'.'.join(table)}]", " ".join(key), model


def _line(error: pydantic.ValidationError) -> str:
    """The first problem pydantic found, as one line in the file's own terms."""
    problems = error.errors()
    first = problems[0]
    if first["type"] == "extra_forbidden":
        parent = first["loc"][:-1]
        unknown = sorted(
            str(p["loc"][-1])
            for p in problems
            if p["type"] == "extra_forbidden" and p["loc"][:-1] == parent
        )
        table, key, model = _walk(parent)
        known = sorted(field.alias or name for name, field in model.model_fields.items())
        where = f"{table} {key}".strip()
        return f"{where} has unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}"
    table, key, _ = _walk(first["loc"])
    what = first["msg"].removeprefix("Value error, ")
    what = what.replace("Input should be", "should be", 1)
    if first["type"] in {"model_type", "model_attributes_type", "dict_type"}:
        what = "must be a table"
    if first["type"] in {"tuple_type", "list_type"}:
        what = "must be a list"
    if first["type"] == "missing":
        return f"{table} {key} is missing: it is required"
    if first["loc"][-1:] == ("[key]",):
        return f"{table} {key}: {what}"
    if key:
        return f"{table} {key} = {_toml(first['input'])}: {what}"
    return f"{table}: {what}"


def load_table(table: object) -> Config:
    """The settings a `[tool.shipshape]` table, already parsed from TOML, describes."""
    try:
        return Config.model_validate(table)
    except pydantic.ValidationError as error:
        message = f"{PYPROJECT}: {_line(error)}"
        raise ConfigError(message) from None


def load(root: Path) -> Config:
    """The `[tool.shipshape]` table of the project at `root` (defaults when it has none)."""
    tool = pyproject(root).get("tool", {})
    if not isinstance(tool, dict):
        message = f"{PYPROJECT}: `tool` must be a table"
        raise ConfigError(message)
    return load_table(tool.get("shipshape", {}))
