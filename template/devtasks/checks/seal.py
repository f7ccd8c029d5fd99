"""devtasks/ is sealed: the template records a hash of each file it ships here.

A service changes CI behaviour through `[tool.shipshape]` in pyproject.toml or its own tasks
in `team_tasks.py`, never by editing these files, so `copier update` can replace them cleanly and
`invoke parity` keeps meaning the same thing in every service (docs/adr/0001 says why).
"""

import hashlib
import json
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent  # devtasks/
MANIFEST = "manifest.json"
EXTENSION_POINTS = (
    "change settings in [tool.shipshape] of pyproject.toml, or add a task of your own to "
    "team_tasks.py; `copier update` brings new versions of devtasks/"
)


def digest(path: Path) -> str:
    """SHA-256 of a file's text with line endings normalised (a Windows checkout hashes alike)."""
    data = path.read_bytes().replace(b"\r\n", b"\n")
    return hashlib.sha256(data).hexdigest()


def shipped_files(package: Path = PACKAGE) -> list[Path]:
    """The files the template ships in devtasks/, the manifest itself excepted."""
    return sorted(
        path
        for path in package.rglob("*")
        if path.is_file()
        and path.name != MANIFEST
        and "__pycache__" not in path.parts
        and path.suffix not in {".pyc", ".pyo"}
    )


def expected(package: Path = PACKAGE) -> dict[str, str]:
    """The manifest's `{relative path: sha256}`."""
    manifest = json.loads((package / MANIFEST).read_text(encoding="utf-8"))
    files: dict[str, str] = manifest["files"]
    return files


def write(package: Path = PACKAGE) -> Path:
    """Record the current files' hashes (the template repo's `invoke seal` calls this)."""
    files = {path.relative_to(package).as_posix(): digest(path) for path in shipped_files(package)}
    target = package / MANIFEST
    text = json.dumps({"files": files}, indent=2, sort_keys=True) + "\n"
    target.write_text(text, encoding="utf-8")
    return target


def check(package: Path = PACKAGE) -> list[str]:
    """Every file of devtasks/ that differs from what the template shipped, added or removed."""
    where = package.name
    try:
        recorded = expected(package)
    except (OSError, ValueError, KeyError) as error:
        return [f"{where}/{MANIFEST}: cannot be read ({error}); restore it with `copier update`"]
    present = {path.relative_to(package).as_posix(): path for path in shipped_files(package)}
    problems = []
    for name in sorted(set(recorded) | set(present)):
        if name not in present:
            problems.append(f"{where}/{name}: missing; devtasks/ is sealed: restore it")
        elif name not in recorded:
            problems.append(
                f"{where}/{name}: added to the sealed devtasks/; instead, {EXTENSION_POINTS}"
            )
        elif digest(present[name]) != recorded[name]:
            problems.append(
                f"{where}/{name}: edited; devtasks/ is sealed: instead, {EXTENSION_POINTS}"
            )
    return problems
