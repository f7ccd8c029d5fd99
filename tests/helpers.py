"""Render the template and run commands in the result, with output in every failure."""

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import copier
import yaml

ROOT = Path(__file__).resolve().parent.parent
COPIER_YML = ROOT / "copier.yml"


@cache
def copier_config() -> dict[str, Any]:
    """The template's copier.yml, parsed."""
    config: dict[str, Any] = yaml.safe_load(COPIER_YML.read_text(encoding="utf-8"))
    return config


def questions() -> dict[str, dict[str, Any]]:
    """Every question of copier.yml (settings start with `_`)."""
    return {k: v for k, v in copier_config().items() if not k.startswith("_")}


def asked_questions() -> dict[str, dict[str, Any]]:
    """The questions a user answers (derived values are `when: false`)."""
    return {k: v for k, v in questions().items() if v.get("when") is not False}


def choice_values() -> list[tuple[str, str]]:
    """(question, value) for every value of every choice question."""
    return [
        (name, str(value))
        for name, question in questions().items()
        for value in question.get("choices", [])
    ]


def check_answers(answers: Mapping[str, object]) -> None:
    """Copier silently ignores unknown answers; a typo in a test must fail instead."""
    unknown = set(answers) - set(questions())
    if unknown:
        message = f"not questions in copier.yml: {', '.join(sorted(unknown))}"
        raise AssertionError(message)


# What nox sets for the session running these tests. Left in place, every `uv` command in a
# rendered service would target the session's virtualenv instead of the service's own.
TEST_RUNNER_ENVIRONMENT = frozenset({"VIRTUAL_ENV", "UV_PYTHON", "UV_PROJECT_ENVIRONMENT"})


def user_environment() -> dict[str, str]:
    """This process's environment minus the test runner's own virtualenv, like a user's shell."""
    return {k: v for k, v in os.environ.items() if k not in TEST_RUNNER_ENVIRONMENT}


def run(
    argv: Sequence[str],
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure, the assertion message carries its output."""
    result = subprocess.run(
        list(argv),
        cwd=cwd,
        env={**user_environment(), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        message = (
            f"`{' '.join(argv)}` exited {result.returncode} in {cwd}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
        raise AssertionError(message)
    return result


def git_init(path: Path) -> None:
    """Make the rendered service a git repository with one commit, like a team would."""
    run(["git", "init", "--quiet", "--initial-branch=main"], path)
    run(["git", "add", "--all"], path)
    run(
        [
            "git",
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.com",
            "commit",
            "--quiet",
            "--message",
            "Initial service",
        ],
        path,
    )


def git_commit(path: Path, message: str) -> None:
    """Commit everything in the repository at `path` (new files too), as a test identity."""
    run(["git", "add", "--all"], path)
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    run(["git", *identity, "commit", "--quiet", "--allow-empty", "--message", message], path)


def copy_project(
    destination: Path,
    *,
    template: Path = ROOT,
    vcs_ref: str = "HEAD",
    git: bool = True,
    **answers: object,
) -> Path:
    """Render the template into `destination` with the defaults plus `answers`."""
    check_answers(answers)
    copier.run_copy(
        str(template),
        destination,
        data=dict(answers),
        defaults=True,
        unsafe=True,
        vcs_ref=vcs_ref,
        quiet=True,
    )
    if git:
        git_init(destination)
    return destination


def copier_update(service: Path, release: str, **data: str) -> subprocess.CompletedProcess[str]:
    """`copier update` to `release` as a team runs it: kept answers, conflicts inline."""
    argv = [sys.executable, "-m", "copier", "update", "--trust", "--skip-answered", "--defaults"]
    argv += ["--conflict", "inline", "--vcs-ref", release]
    for name, value in data.items():
        argv += ["--data", f"{name}={value}"]
    return run(argv, service, timeout=900)


def uv() -> str:
    """Path of the uv binary, or a clear failure."""
    path = shutil.which("uv")
    if path is None:
        message = "uv is not on PATH; the template's tests need it"
        raise AssertionError(message)
    return path


# A test that ruff, mypy and the formatter accept, and that fails.
FAILING_TEST = (
    "\n\ndef test_broken() -> None:\n    assert sum([1, 1]) == 3  # lint-clean, and red\n"
)


def break_the_tests(project: Path) -> None:
    """Make a rendered service's own test suite fail, and nothing else."""
    health = project / "tests" / "test_health.py"
    health.write_text(health.read_text(encoding="utf-8") + FAILING_TEST, encoding="utf-8")
