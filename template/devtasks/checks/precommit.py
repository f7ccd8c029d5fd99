"""pre-commit runs the locked tools: local hooks through `uv run --locked`, mirrors at the lock.

A closed world like the workflow model: a remote hook repository that pins no locked package
is refused, whatever URL form it is written in, and so is any `--with` or extra dependency
that is not the locked version.
"""

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import yaml

from devtasks.checks import pins

PRE_COMMIT = Path(".pre-commit-config.yaml")
LOCKFILE = Path("uv.lock")
# Remote hook repositories (owner/name, lower-case) and the locked package each one runs.
MIRRORS = {
    "astral-sh/ruff-pre-commit": "ruff",
    "pre-commit/mirrors-mypy": "mypy",
    "woodruffw/zizmor-pre-commit": "zizmor",
    "zizmorcore/zizmor-pre-commit": "zizmor",
    "python-jsonschema/check-jsonschema": "check-jsonschema",
    "astral-sh/uv-pre-commit": "uv",
}
# Hooks that only look at files and run no project tool: harmless at any version.
FILE_HOOK_REPOS = frozenset({"pre-commit/pre-commit-hooks"})
REPO_URL = re.compile(r"(?:^|[/:])([^/:]+)/([^/]+?)(?:\.git)?/*$")
PINNED = re.compile(r"^([A-Za-z0-9_.\-\[\],]+?)==([^,;\s]+)$")


def locked_versions(root: Path) -> dict[str, str]:
    """Package versions from `uv.lock`."""
    lock = tomllib.loads((root / LOCKFILE).read_text(encoding="utf-8"))
    return {pkg["name"]: pkg["version"] for pkg in lock.get("package", []) if "version" in pkg}


def repo_name(url: str) -> str:
    """`owner/name` of a hook repository, whatever URL form it is written in."""
    match = REPO_URL.search(url.strip())
    return f"{match.group(1)}/{match.group(2)}".lower() if match else url.lower()


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.split("[", 1)[0]).lower()


def _pins(requirements: list[str], locked: dict[str, str], where: str) -> list[str]:
    problems = []
    for requirement in requirements:
        match = PINNED.match(requirement.strip())
        if match is None:
            problems.append(f"{where} installs `{requirement}` unpinned; pin the locked version")
            continue
        name, version = _normal(match.group(1)), match.group(2)
        if locked.get(name) != version:
            problems.append(
                f"{where} installs {name} {version}; uv.lock has {locked.get(name, '(not locked)')}"
            )
    return problems


def _local_hook(hook: dict[str, Any], locked: dict[str, str]) -> list[str]:
    where = f"{PRE_COMMIT}: hook `{hook.get('id')}`"
    entry = str(hook.get("entry", ""))
    if not entry.startswith("uv run --locked "):
        message = (
            f"{where} runs `{entry}`; local hooks must run `uv run --locked ...` so they use "
            "the locked versions"
        )
        return [message]
    try:
        words = shlex.split(entry)
    except ValueError:
        return [f"{where} runs `{entry}`, which cannot be read"]
    withs = [words[i + 1] for i, word in enumerate(words[:-1]) if word in {"--with", "-w"}] + [
        word.split("=", 1)[1] for word in words if word.startswith("--with=")
    ]
    problems = _pins(withs, locked, where)
    problems += _pins(list(hook.get("additional_dependencies", [])), locked, where)
    return problems


def check(root: Path) -> list[str]:
    """Every pre-commit hook that would run a tool at a version other than the lock's."""
    path = root / PRE_COMMIT
    if not path.exists():
        return []
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    locked = locked_versions(root)
    # uv is not in its own lock: its one pin is `[tool.uv] required-version`.
    locked["uv"] = pins.required_uv_version(pins.pyproject(root)) or "(not pinned)"
    problems: list[str] = []
    for repo in config.get("repos", []):
        url = str(repo.get("repo", ""))
        hooks = list(repo.get("hooks", []))
        if url in {"local", "meta"}:
            if url == "local":
                for hook in hooks:
                    problems += _local_hook(hook, locked)
            continue
        name = repo_name(url)
        if name in FILE_HOOK_REPOS:
            continue
        package = MIRRORS.get(name)
        if package is None:
            problems.append(
                f"{PRE_COMMIT}: {url} runs a tool uv.lock does not pin; use a local hook "
                "running `uv run --locked <tool>`"
            )
            continue
        rev = str(repo.get("rev", "")).removeprefix("v")
        if locked.get(package) != rev:
            problems.append(
                f"{PRE_COMMIT}: {url} is pinned to {rev}; uv.lock has {package} "
                f"{locked.get(package, '(not locked)')}"
            )
        for hook in hooks:
            where = f"{PRE_COMMIT}: hook `{hook.get('id')}`"
            problems += _pins(list(hook.get("additional_dependencies", [])), locked, where)
    return problems
