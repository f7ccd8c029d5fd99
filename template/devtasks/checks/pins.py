"""One source for versions: Python from pyproject.toml's classifiers, uv from `[tool.uv]`.

Everything else that names a version (the workflow matrix, setup-uv's inputs, `--python`
arguments, `.python-version`, the noxfile, every image reference in the Dockerfile) must
agree with them; each function here returns the disagreements, one line each.
"""

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from devtasks import config, dockerfile
from devtasks.workflow.model import Job, Workflow

PYPROJECT = config.PYPROJECT
PYTHON_VERSION_FILE = Path(".python-version")
NOXFILE = Path("noxfile.py")
CLASSIFIER = re.compile(r"^Programming Language :: Python :: (3\.\d+)$")
MATRIX_PYTHON = "${{ matrix.python-version }}"
# Where a uv version can be written down in a workflow step.
UV_IN_TEXT = re.compile(r"\buv(?:==|@|:)v?(\d+\.\d+\.\d+)\b")


def pyproject(root: Path) -> dict[str, Any]:
    """pyproject.toml, parsed (by its one reader, `config.pyproject`)."""
    return config.pyproject(root)


def project_python_versions(document: Mapping[str, Any]) -> list[str]:
    """The Python versions the project supports: its classifiers, in order."""
    classifiers = document.get("project", {}).get("classifiers", [])
    return [m.group(1) for c in classifiers if (m := CLASSIFIER.match(c))]


def required_uv_version(document: Mapping[str, Any]) -> str | None:
    """The uv version pinned by `[tool.uv] required-version = "==X"`."""
    required = str(document.get("tool", {}).get("uv", {}).get("required-version", ""))
    return required.removeprefix("==") if re.fullmatch(r"==\d+\.\d+\.\d+", required) else None


def noxfile_reads_pyproject(root: Path) -> bool:
    """Whether the noxfile takes its versions from pyproject.toml and restates none."""
    tree = ast.parse((root / NOXFILE).read_text(encoding="utf-8"))
    reads = any(
        isinstance(node, ast.Attribute) and node.attr == "python_versions"
        for node in ast.walk(tree)
    )
    restated = any(
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.search(r"\b3\.\d+\b", node.value)
        for node in ast.walk(tree)
    )
    return reads and not restated


def _python_arguments(job: Job) -> list[str]:
    argv = job.argv or []
    found = []
    for index, word in enumerate(argv):
        if word == "--python" and index + 1 < len(argv):
            found.append(argv[index + 1])
        elif word.startswith("--python="):
            found.append(word.split("=", 1)[1])
    return found


def _job_pythons(job: Job, versions: list[str], pinned: str) -> list[str]:
    """Every place in one job that names a Python version, checked against the source."""
    where = f"{job.path}: job `{job.id}`"
    problems = []
    matrix = job.matrix.axes.get("python-version")
    if matrix is not None and [str(v) for v in matrix] != versions:
        problems.append(
            f"{where} tests Python {', '.join(map(str, matrix))}; "
            f"{PYPROJECT} lists {', '.join(versions)}"
        )
    if any("python-version" in extra for extra in job.matrix.include):
        problems.append(
            f"{where} adds Python versions through matrix.include; list them in "
            f"{PYPROJECT}'s classifiers instead"
        )
    setup_pythons = [
        str(step.with_["python-version"])
        for step in job.steps
        if step.action == "astral-sh/setup-uv" and "python-version" in step.with_
    ]
    named = setup_pythons + _python_arguments(job)
    for value in named:
        text = " ".join(value.split())
        if text.replace(" ", "") == MATRIX_PYTHON.replace(" ", ""):
            if matrix is None:
                problems.append(f"{where} reads matrix.python-version but has no such axis")
            continue
        if text != pinned and text not in versions:
            problems.append(
                f"{where} names Python {text}; it must be `{MATRIX_PYTHON}` or one of "
                f"{PYPROJECT}'s versions"
            )
    distinct = {" ".join(v.split()).replace(" ", "") for v in named}
    if len(distinct) > 1:
        problems.append(
            f"{where} sets up Python {' and '.join(sorted(distinct))}: setup-uv's python-version "
            "and the task's --python must be the same"
        )
    return problems


def check_python_versions(root: Path, workflows: Iterable[Workflow]) -> list[str]:
    """One set of Python versions: pyproject, workflows, .python-version, nox and Docker."""
    document = pyproject(root)
    versions = project_python_versions(document)
    if not versions:
        return [f"{PYPROJECT}: no `Programming Language :: Python :: 3.X` classifiers"]
    problems = []
    floor = re.fullmatch(r">=\s*(3\.\d+)", document.get("project", {}).get("requires-python", ""))
    if floor is None or floor.group(1) != versions[0]:
        problems.append(
            f"{PYPROJECT}: requires-python must be `>={versions[0]}`, the oldest classifier"
        )
    version_file = root / PYTHON_VERSION_FILE
    pinned = version_file.read_text(encoding="utf-8").strip() if version_file.exists() else ""
    if pinned != versions[0]:
        problems.append(
            f"{PYTHON_VERSION_FILE}: {pinned or '(missing)'}; {PYPROJECT}'s oldest is {versions[0]}"
        )
    for workflow in workflows:
        for job in workflow.jobs.values():
            problems.extend(_job_pythons(job, versions, pinned))
    if not noxfile_reads_pyproject(root):
        problems.append(
            f"{NOXFILE}: Python versions must come from nox.project.python_versions(pyproject), "
            "not be restated"
        )
    if (root / dockerfile.DOCKERFILE).exists():
        parsed = dockerfile.read(root)
        if not parsed.python_versions:
            problems.append(f"{dockerfile.DOCKERFILE}: names no python:3.X image")
        problems.extend(
            f"{dockerfile.DOCKERFILE}:{line}: names Python {found}; {PYTHON_VERSION_FILE} "
            f"says {pinned}"
            for line, found in parsed.python_versions
            if found != pinned
        )
    return problems


def check_uv_version(root: Path, workflows: Iterable[Workflow]) -> list[str]:
    """Every place that names a uv version names the one `[tool.uv]` requires."""
    required = required_uv_version(pyproject(root))
    if required is None:
        return [f'{PYPROJECT}: [tool.uv] required-version must pin uv exactly ("==X.Y.Z")']
    problems = []
    for workflow in workflows:
        for job in workflow.jobs.values():
            for step in job.steps:
                if step.action == "astral-sh/setup-uv":
                    pinned = str(step.with_.get("version", ""))
                    if pinned != required:
                        problems.append(
                            f"{job.path}: job `{job.id}` sets up uv {pinned or '(unpinned)'}; "
                            f"{PYPROJECT} requires {required}"
                        )
                texts = [step.run or "", *map(str, step.with_.values()), *step.env.values()]
                problems.extend(
                    f"{job.path}: job `{job.id}` names uv {found}; {PYPROJECT} requires {required}"
                    for text in texts
                    for found in UV_IN_TEXT.findall(text)
                    if found != required
                )
    if (root / dockerfile.DOCKERFILE).exists():
        problems.extend(
            f"{dockerfile.DOCKERFILE}:{line}: names uv {found}; {PYPROJECT} requires {required}"
            for line, found in dockerfile.read(root).uv_versions
            if found != required
        )
    return problems
