"""Slow tier: rendered services run their own tooling, exactly as their CI would."""

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
DEFAULTS = {"python_version": "3.13", "license": "MIT"}
OTHER_CHOICES = [
    pytest.param({question: value}, id=f"{question}={value}")
    for question, value in choice_values()
    if DEFAULTS.get(question) != value
]


def summary_rows(output: str) -> list[list[str]]:
    """The rows of `invoke ci`'s summary table: job, matrix entry, result, seconds."""
    lines = output.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("job ") and "result" in line)
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip() or line.startswith("ci:") or "]" in line.split("  ")[0]:
            break
        rows.append(line.split())
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("answers", FULL_CI)
def test_generated_ci_is_green(tmp_path: Path, answers: dict[str, Any]) -> None:
    project = copy_project(tmp_path / "service", **answers)
    result = run(["uv", "run", "--locked", "invoke", "ci"], project, timeout=1800)
    rows = summary_rows(result.stdout)
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text(encoding="utf-8"))
    order = [row[0] for row in rows]
    assert set(order) == set(workflow["jobs"]), rows
    for job, body in workflow["jobs"].items():
        for needed in body.get("needs", []):
            assert order.index(needed) < order.index(job), f"{job} ran before {needed}"
    assert all(row[2] in {"passed", "skipped"} for row in rows), rows
    python_entries = [row for row in rows if row[1].startswith("python-version=")]
    matrix = workflow["jobs"]["test"]["strategy"]["matrix"]["python-version"]
    assert [row[1] for row in python_entries] == [f"python-version={v}" for v in matrix]
    assert all(row[2] == "passed" for row in python_entries), "every interpreter is on this machine"
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
