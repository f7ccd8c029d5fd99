"""Slow tier: rendered services run their own tooling, exactly as their CI would."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import choice_values, copy_project, run

FULL_CI = [
    pytest.param({}, id="defaults"),
    pytest.param(
        {
            "project_name": "Billing API",
            "python_version": "3.11",
            "license": "Apache-2.0",
            "http_port": 9123,
            "github_owner": "acme",
        },
        id="billing-api-py311-apache",
    ),
]
DEFAULTS = {"python_version": "3.13", "license": "MIT", "database": "none", "cache": "none"}
OTHER_CHOICES = [
    pytest.param({question: value}, id=f"{question}={value}")
    for question, value in choice_values()
    if DEFAULTS.get(question) != value
]


def ci_results(project: Path) -> list[dict[str, Any]]:
    """Run the service's `invoke ci --json`; its entries: job, matrix, result, reason."""
    result = run(["uv", "run", "--locked", "invoke", "ci", "--json"], project, timeout=1800)
    document = json.loads(result.stdout)
    assert document["exit_code"] == 0, result.stderr[-3000:]
    entries: list[dict[str, Any]] = document["entries"]
    return entries


@pytest.mark.slow
@pytest.mark.parametrize("answers", FULL_CI)
def test_generated_ci_is_green(tmp_path: Path, answers: dict[str, Any]) -> None:
    project = copy_project(tmp_path / "service", **answers)
    entries = ci_results(project)
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text(encoding="utf-8"))
    order = [entry["job"] for entry in entries]
    assert set(order) == set(workflow["jobs"]), entries
    for job, body in workflow["jobs"].items():
        for needed in body.get("needs", []):
            assert order.index(needed) < order.index(job), f"{job} ran before {needed}"
    by_job = {entry["job"]: entry for entry in entries}
    for job in ("lint", "typecheck"):
        assert by_job[job]["result"] == "passed", by_job[job]
    # Docker jobs are skipped only when no engine answers, and say so.
    assert by_job["docker"]["result"] == "passed" or "Docker" in by_job["docker"]["reason"]
    assert by_job["publish"]["result"] == "skipped"
    assert "is false for a local pull_request" in by_job["publish"]["reason"]
    python_entries = [entry for entry in entries if "python-version" in entry["matrix"]]
    matrix = workflow["jobs"]["test"]["strategy"]["matrix"]["python-version"]
    assert [entry["matrix"]["python-version"] for entry in python_entries] == matrix
    assert all(e["result"] == "passed" for e in python_entries), "every interpreter is here"
    assert (project / "reports").is_dir()
    for version in matrix:
        assert (project / "reports" / f"junit-{version}.xml").is_file()
        assert (project / "reports" / f"coverage-{version}.xml").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("answers", OTHER_CHOICES)
def test_other_choices_lint_and_typecheck(tmp_path: Path, answers: dict[str, Any]) -> None:
    project = copy_project(tmp_path / "service", **answers)
    run(["uv", "run", "--locked", "invoke", "lint"], project)
    run(["uv", "run", "--locked", "invoke", "typecheck"], project)


@pytest.mark.slow
def test_missing_interpreter_is_a_one_line_error(default_project: Path) -> None:
    result = run(
        ["uv", "run", "--locked", "invoke", "test", "--python", "3.4"], default_project, check=False
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Python 3.4 is not installed on this machine: install it first"
    ), result.stderr


@pytest.mark.slow
def test_missing_tool_is_a_one_line_error(default_project: Path) -> None:
    run(["uv", "sync", "--locked"], default_project)
    venv_bin = default_project / ".venv" / "bin"
    result = run(
        [str(venv_bin / "invoke"), "typecheck"],
        default_project,
        env={"PATH": f"{venv_bin}:/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (venv_bin / "mypy").rename(venv_bin / "mypy.hidden")
    try:
        result = run(
            [str(venv_bin / "invoke"), "typecheck"],
            default_project,
            env={"PATH": f"{venv_bin}:/usr/bin:/bin"},
            check=False,
        )
    finally:
        (venv_bin / "mypy.hidden").rename(venv_bin / "mypy")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "`mypy` is not installed or not on PATH: run `uv sync` to install the dev tools"
    ), result.stderr
