"""`invoke parity`: prove that local tasks and the CI workflows describe the same runs."""

import ast
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from invoke.collection import Collection
from invoke.exceptions import Exit

from . import workflow
from .jobs import declared_env, is_ci_job

# Steps a job may have besides its one task call: environment setup and artifact upload.
ALLOWED_ACTIONS = frozenset(
    {
        "actions/checkout",
        "astral-sh/setup-uv",
        "docker/setup-buildx-action",
        "docker/setup-qemu-action",
        "docker/login-action",
        "crazy-max/ghaction-github-runtime",
        "actions/upload-artifact",
    }
)
PYPROJECT = Path("pyproject.toml")
PYTHON_VERSION_FILE = Path(".python-version")
NOXFILE = Path("noxfile.py")
DOCKERFILE = Path("Dockerfile")
LOCKFILE = Path("uv.lock")
PRE_COMMIT = Path(".pre-commit-config.yaml")
CLASSIFIER = re.compile(r"^Programming Language :: Python :: (3\.\d+)$")
PYTHON_IMAGE_ARG = re.compile(r"^ARG\s+PYTHON_IMAGE=python:(3\.\d+)-", re.MULTILINE)
UV_IMAGE = re.compile(r"ghcr\.io/astral-sh/uv:(\d+\.\d+\.\d+)")
# Remote pre-commit hook repositories and the locked package each one must match.
PRE_COMMIT_PACKAGES = {
    "astral-sh/ruff-pre-commit": "ruff",
    "pre-commit/mirrors-mypy": "mypy",
    "woodruffw/zizmor-pre-commit": "zizmor",
    "python-jsonschema/check-jsonschema": "check-jsonschema",
}
GITHUB_PROVIDED_ENV = re.compile(r"^(GITHUB_|RUNNER_|ACTIONS_|CI$)")


def _pyproject() -> dict[str, Any]:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def project_python_versions(pyproject: Mapping[str, Any]) -> list[str]:
    """The Python versions the project supports: its classifiers, in order."""
    classifiers = pyproject.get("project", {}).get("classifiers", [])
    return [m.group(1) for c in classifiers if (m := CLASSIFIER.match(c))]


def required_uv_version(pyproject: Mapping[str, Any]) -> str | None:
    """The uv version pinned by `[tool.uv] required-version = "==X"`."""
    required = str(pyproject.get("tool", {}).get("uv", {}).get("required-version", ""))
    return required.removeprefix("==") if required.startswith("==") else None


def locked_versions() -> dict[str, str]:
    """Package versions from `uv.lock`."""
    lock = tomllib.loads(LOCKFILE.read_text(encoding="utf-8"))
    return {pkg["name"]: pkg["version"] for pkg in lock.get("package", []) if "version" in pkg}


def check_steps(jobs: Iterable[workflow.Job]) -> list[str]:
    """Every job: only environment setup plus one `uv run --locked invoke <task>`."""
    problems: list[str] = []
    for job in jobs:
        where = f"{job.path}: job `{job.id}`"
        problems.extend(
            f"{where} uses `{step.action}`, which is not environment setup"
            for step in job.steps
            if step.uses is not None and step.action not in ALLOWED_ACTIONS
        )
        runs = job.run_steps
        if len(runs) != 1:
            problems.append(
                f"{where} has {len(runs)} `run:` steps; it must have exactly one: "
                "`uv run --locked invoke <task>`"
            )
        elif job.command is None:
            problems.append(
                f"{where} runs `{runs[0].run}`; its one `run:` step must be "
                "`uv run --locked invoke <task>`"
            )
    return problems


AllJobs = Mapping[Path, Mapping[str, workflow.Job]]


def check_tasks(all_jobs: AllJobs, tasks: Collection) -> list[str]:
    """Called tasks exist; tasks marked as CI jobs are called by a CI job."""
    problems = []
    names = set(tasks.task_names)
    called: set[str] = set()
    for jobs in all_jobs.values():
        for job in jobs.values():
            if job.task is None:
                continue
            called.add(job.task)
            if job.task not in names:
                problems.append(
                    f"{job.path}: job `{job.id}` calls `invoke {job.task}`, no such task"
                )
    ci_jobs = all_jobs.get(workflow.CI_WORKFLOW, {})
    ci_called = {job.task for job in ci_jobs.values()}
    problems.extend(
        f"{job.path}: job `{job.id}` calls `invoke {job.task}`; a CI job and its task "
        "share one name"
        for job in ci_jobs.values()
        if job.task is not None and job.task != job.id
    )
    for name in sorted(names):
        task = tasks[name]
        if is_ci_job(task) and name not in ci_called:
            problems.append(
                f"tasks.py: task `{name}` is marked as a CI job but no job in "
                f"{workflow.CI_WORKFLOW} calls it"
            )
    return problems


def check_env(all_jobs: AllJobs, tasks: Collection) -> list[str]:
    """Environment variables a workflow sets for a job are ones its task declares."""
    problems = []
    names = set(tasks.task_names)
    for jobs in all_jobs.values():
        for job in jobs.values():
            if job.task is None or job.task not in names:
                continue
            known = declared_env(tasks[job.task])
            env = dict(job.env)
            for step in job.run_steps:
                env.update(step.env)
            for variable in sorted(set(env) - known):
                if GITHUB_PROVIDED_ENV.match(variable):
                    continue
                problems.append(
                    f"{job.path}: job `{job.id}` sets {variable}, which task `{job.task}` "
                    "does not declare (add it to its @ci_job(env=...) or @reads_env(...), "
                    "or remove it)"
                )
    return problems


def noxfile_versions() -> list[str] | None:
    """The noxfile's Python versions, if it reads them from pyproject.toml; else None."""
    tree = ast.parse(NOXFILE.read_text(encoding="utf-8"))
    reads = any(
        isinstance(node, ast.Attribute) and node.attr == "python_versions"
        for node in ast.walk(tree)
    )
    restated = any(
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.fullmatch(r"3\.\d+", node.value)
        for node in ast.walk(tree)
    )
    if reads and not restated:
        return project_python_versions(_pyproject())
    return None


def check_python_versions(ci_jobs: Mapping[str, workflow.Job]) -> list[str]:
    """One set of Python versions: pyproject, workflow, .python-version, nox and Docker."""
    pyproject = _pyproject()
    versions = project_python_versions(pyproject)
    problems = []
    if not versions:
        return [f"{PYPROJECT}: no `Programming Language :: Python :: 3.X` classifiers"]
    floor = re.search(r">=\s*(3\.\d+)", pyproject.get("project", {}).get("requires-python", ""))
    if floor is None or floor.group(1) != versions[0]:
        problems.append(
            f"{PYPROJECT}: requires-python must be `>={versions[0]}`, the oldest classifier"
        )
    for job in ci_jobs.values():
        matrix = job.matrix.get("python-version")
        if matrix is not None and list(matrix) != versions:
            problems.append(
                f"{job.path}: job `{job.id}` tests Python {', '.join(matrix)}; "
                f"{PYPROJECT} lists {', '.join(versions)}"
            )
    pinned = PYTHON_VERSION_FILE.read_text(encoding="utf-8").strip()
    if pinned != versions[0]:
        problems.append(f"{PYTHON_VERSION_FILE}: {pinned}; {PYPROJECT}'s oldest is {versions[0]}")
    nox_versions = noxfile_versions()
    if nox_versions is None:
        problems.append(
            f"{NOXFILE}: Python versions must come from nox.project.python_versions(pyproject), "
            "not be restated"
        )
    if DOCKERFILE.exists():
        image = PYTHON_IMAGE_ARG.search(DOCKERFILE.read_text(encoding="utf-8"))
        if image is None:
            problems.append(f"{DOCKERFILE}: no `ARG PYTHON_IMAGE=python:3.X-...` default")
        elif image.group(1) != pinned:
            problems.append(
                f"{DOCKERFILE}: default base image is Python {image.group(1)}; "
                f"{PYTHON_VERSION_FILE} says {pinned}"
            )
    return problems


def check_uv_version(all_jobs: AllJobs) -> list[str]:
    """The uv version pinned in workflows and the Dockerfile is the one pyproject requires."""
    required = required_uv_version(_pyproject())
    if required is None:
        return [f'{PYPROJECT}: [tool.uv] required-version must pin uv exactly ("==X.Y.Z")']
    problems = []
    for jobs in all_jobs.values():
        for job in jobs.values():
            for step in job.steps:
                if step.action != "astral-sh/setup-uv":
                    continue
                pinned = str(step.with_.get("version", ""))
                if pinned != required:
                    problems.append(
                        f"{job.path}: job `{job.id}` sets up uv {pinned or '(unpinned)'}; "
                        f"{PYPROJECT} requires {required}"
                    )
    if DOCKERFILE.exists():
        problems.extend(
            f"{DOCKERFILE}: copies uv {found}; {PYPROJECT} requires {required}"
            for found in UV_IMAGE.findall(DOCKERFILE.read_text(encoding="utf-8"))
            if found != required
        )
    return problems


def check_pre_commit() -> list[str]:
    """pre-commit runs the locked tools: local hooks through `uv run --locked`, or matching revs."""
    if not PRE_COMMIT.exists():
        return []
    config = yaml.safe_load(PRE_COMMIT.read_text(encoding="utf-8")) or {}
    locked = locked_versions()
    problems = []
    for repo in config.get("repos", []):
        url = str(repo.get("repo", ""))
        if url == "local":
            for hook in repo.get("hooks", []):
                entry = str(hook.get("entry", ""))
                if not entry.startswith("uv run --locked "):
                    problems.append(
                        f"{PRE_COMMIT}: hook `{hook.get('id')}` runs `{entry}`; local hooks "
                        "must run `uv run --locked ...` so they use the locked versions"
                    )
            continue
        name = next((pkg for key, pkg in PRE_COMMIT_PACKAGES.items() if url.endswith(key)), None)
        if name is None:
            continue
        rev = str(repo.get("rev", "")).removeprefix("v")
        if locked.get(name) != rev:
            problems.append(
                f"{PRE_COMMIT}: {url} is pinned to {rev}; uv.lock has {name} "
                f"{locked.get(name, '(not locked)')}"
            )
    return problems


def check(tasks: Collection) -> list[str]:
    """Every parity problem of the repository, each naming the file, the job and the difference."""
    try:
        all_jobs = workflow.all_workflows()
    except workflow.WorkflowError as error:
        return [str(error)]
    ci_jobs = all_jobs.get(workflow.CI_WORKFLOW)
    if ci_jobs is None:
        return [f"{workflow.CI_WORKFLOW}: missing"]
    problems = []
    for jobs in all_jobs.values():
        problems += check_steps(jobs.values())
    problems += check_tasks(all_jobs, tasks)
    problems += check_env(all_jobs, tasks)
    problems += check_python_versions(ci_jobs)
    problems += check_uv_version(all_jobs)
    problems += check_pre_commit()
    return problems


def enforce(tasks: Collection) -> None:
    """The `parity` task: print every problem and fail, or say that all agree."""
    problems = check(tasks)
    if problems:
        print("\n".join(f"parity: {problem}" for problem in problems), file=sys.stderr)
        message = f"parity: {len(problems)} difference(s) between CI and the local tasks"
        raise Exit(message, code=1)
    print("parity: the workflows and the local tasks agree")
