"""`[tool.shipshape]` in pyproject.toml: what teams legitimately differ on, in one table.

devtasks/ is sealed (see `seal.py`); this table, and tasks of the service's own in
`tasks.py`, are where a team changes how CI and `invoke ci` behave.
"""

import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PYPROJECT = "pyproject.toml"
PINNED_ACTION = re.compile(r"^([A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+)@([0-9a-f]{40})$")
PROBE_PATH = re.compile(r"^/[A-Za-z0-9_./-]*$")
# Actions that publish files a task wrote, and the input that names those files.
BUILTIN_POST_ACTIONS: Mapping[str, str] = {
    "actions/upload-artifact": "path",
    "github/codeql-action/upload-sarif": "sarif_file",
}


class ConfigError(ValueError):
    """`[tool.shipshape]` holds a key or a value this version does not understand."""


OSV_URL = "https://api.osv.dev"
FINDING_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")


@dataclass(frozen=True)
class Ignored:
    """A finding the team accepts for now: its id, why, and the last day the exception holds."""

    id: str
    reason: str
    expires: dt.date

    def expired(self, today: dt.date) -> bool:
        """Whether the exception has run out (it holds through its `expires` day)."""
        return today > self.expires


@dataclass(frozen=True)
class Security:
    """`[tool.shipshape.security]`: where the scanners look things up, and what they ignore."""

    # The OSV-compatible vulnerability service `uv audit` queries (a mirror, air-gapped).
    osv_url: str = OSV_URL
    # Where Trivy downloads its vulnerability database (an OCI repository); empty: Trivy's own.
    trivy_db_repository: str = ""
    ignore: tuple[Ignored, ...] = ()


@dataclass(frozen=True)
class Config:
    """The service's `[tool.shipshape]` table, with defaults for what it leaves out."""

    default_branch: str = "main"
    image: str = ""
    probe_paths: tuple[str, ...] = ("/health", "/live", "/ready", "/metrics")
    probe_timeout_seconds: float = 60.0
    # Extra setup actions a job may use before its task step: `owner/name@<sha>`.
    setup_actions: tuple[str, ...] = ()
    # Extra actions that publish a task's files after its task step: action -> path input.
    post_actions: Mapping[str, str] = field(default_factory=dict)
    security: Security = field(default_factory=Security)

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


def _strings(value: object, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        msg = f"[tool.shipshape] {key} must be a list of strings"
        raise ConfigError(msg)
    return tuple(value)


SECURITY = "[tool.shipshape.security]"


def _ignored(entry: object, index: int) -> Ignored:
    where = f"{SECURITY} ignore entry {index + 1}"
    if not isinstance(entry, dict):
        msg = f"{where} must be a table: " + '{ id = "...", reason = "...", expires = 2026-12-31 }'
        raise ConfigError(msg)
    unknown = sorted(set(entry) - {"id", "reason", "expires"})
    if unknown:
        msg = f"{where} has unknown key(s) {', '.join(unknown)}; known: expires, id, reason"
        raise ConfigError(msg)
    finding, reason, expires = entry.get("id"), entry.get("reason"), entry.get("expires")
    if not isinstance(finding, str) or not FINDING_ID.match(finding):
        msg = f"{where}: id must name an advisory or a check (GHSA-..., CVE-..., DS-0002)"
        raise ConfigError(msg)
    if not isinstance(reason, str) or not reason.strip():
        msg = f"{where} ({finding}): reason must say why it is accepted"
        raise ConfigError(msg)
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError:
            expires = None
    if isinstance(expires, dt.datetime) or not isinstance(expires, dt.date):
        msg = f"{where} ({finding}): expires must be a date, YYYY-MM-DD"
        raise ConfigError(msg)
    return Ignored(id=finding, reason=reason.strip(), expires=expires)


def _security(table: object) -> Security:
    if not isinstance(table, dict):
        msg = f"{SECURITY} must be a table"
        raise ConfigError(msg)
    known = ["ignore", "osv-url", "trivy-db-repository"]
    unknown = sorted(set(table) - set(known))
    if unknown:
        msg = f"{SECURITY} has unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}"
        raise ConfigError(msg)
    osv_url = table.get("osv-url", OSV_URL)
    if not isinstance(osv_url, str) or not re.fullmatch(r"https?://[^\s/]+(/\S*)?", osv_url):
        msg = f"{SECURITY} osv-url must be the http(s) URL of an OSV API"
        raise ConfigError(msg)
    repository = table.get("trivy-db-repository", "")
    if not isinstance(repository, str) or (
        repository and not re.fullmatch(r"[a-z0-9._/:@-]+", repository)
    ):
        msg = f"{SECURITY} trivy-db-repository must be an OCI repository, e.g. ghcr.io/org/trivy-db"
        raise ConfigError(msg)
    entries = table.get("ignore", [])
    if not isinstance(entries, list):
        msg = f"{SECURITY} ignore must be a list of tables"
        raise ConfigError(msg)
    ignored = tuple(_ignored(entry, index) for index, entry in enumerate(entries))
    ids = [entry.id for entry in ignored]
    twice = sorted({finding for finding in ids if ids.count(finding) > 1})
    if twice:
        msg = f"{SECURITY} ignore lists {', '.join(twice)} more than once"
        raise ConfigError(msg)
    return Security(osv_url=osv_url.rstrip("/"), trivy_db_repository=repository, ignore=ignored)


def _parse(table: Mapping[str, Any]) -> Config:
    known = {
        "default-branch",
        "image",
        "probe-paths",
        "probe-timeout-seconds",
        "setup-actions",
        "post-actions",
        "security",
    }
    unknown = sorted(set(table) - known)
    if unknown:
        msg = (
            f"[tool.shipshape] has unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )
        raise ConfigError(msg)
    branch = table.get("default-branch", "main")
    if not isinstance(branch, str) or not re.fullmatch(r"[A-Za-z0-9._/-]+", branch):
        msg = "[tool.shipshape] default-branch must be a branch name"
        raise ConfigError(msg)
    image = table.get("image", "")
    if not isinstance(image, str) or (image and not re.fullmatch(r"[a-z0-9._/:-]+", image)):
        msg = "[tool.shipshape] image must be a lower-case repository, e.g. ghcr.io/org/name"
        raise ConfigError(msg)
    probes = _strings(table.get("probe-paths", list(Config.probe_paths)), "probe-paths")
    bad = [path for path in probes if not PROBE_PATH.match(path)]
    if bad or not probes:
        msg = f"[tool.shipshape] probe-paths must be absolute URL paths, not {bad or 'empty'}"
        raise ConfigError(msg)
    timeout = table.get("probe-timeout-seconds", Config.probe_timeout_seconds)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        msg = "[tool.shipshape] probe-timeout-seconds must be a positive number"
        raise ConfigError(msg)
    setup = _strings(table.get("setup-actions", []), "setup-actions")
    unpinned = [entry for entry in setup if not PINNED_ACTION.match(entry)]
    if unpinned:
        msg = (
            f"[tool.shipshape] setup-actions must be pinned as owner/name@<40-hex sha>: "
            f"{', '.join(unpinned)}"
        )
        raise ConfigError(msg)
    post = table.get("post-actions", {})
    if not isinstance(post, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in post.items()
    ):
        msg = "[tool.shipshape.post-actions] maps owner/name to the input naming its files"
        raise ConfigError(msg)
    return Config(
        default_branch=branch,
        image=image,
        probe_paths=probes,
        probe_timeout_seconds=float(timeout),
        setup_actions=setup,
        post_actions=dict(post),
        security=_security(table.get("security", {})),
    )


def load_table(table: Mapping[str, Any]) -> Config:
    """The settings a `[tool.shipshape]` table, already parsed from TOML, describes."""
    return _parse(table)


def load(root: Path) -> Config:
    """The `[tool.shipshape]` table of the project at `root` (defaults when it has none)."""
    document = tomllib.loads((root / PYPROJECT).read_text(encoding="utf-8"))
    table = document.get("tool", {}).get("shipshape", {})
    if not isinstance(table, dict):
        msg = "[tool.shipshape] must be a table"
        raise ConfigError(msg)
    return _parse(table)
