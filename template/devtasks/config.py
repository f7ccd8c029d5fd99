"""`[tool.shipshape]` in pyproject.toml: what teams legitimately differ on, in one table.

devtasks/ is sealed (see `seal.py`); this table, and tasks of the service's own in
`tasks.py`, are where a team changes how CI and `invoke ci` behave.
"""

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


def _parse(table: Mapping[str, Any]) -> Config:
    known = {
        "default-branch",
        "image",
        "probe-paths",
        "probe-timeout-seconds",
        "setup-actions",
        "post-actions",
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
    )


def load(root: Path) -> Config:
    """The `[tool.shipshape]` table of the project at `root` (defaults when it has none)."""
    document = tomllib.loads((root / PYPROJECT).read_text(encoding="utf-8"))
    table = document.get("tool", {}).get("shipshape", {})
    if not isinstance(table, dict):
        msg = "[tool.shipshape] must be a table"
        raise ConfigError(msg)
    return _parse(table)
