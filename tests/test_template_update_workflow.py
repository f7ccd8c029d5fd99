"""The scheduled template update: setup and one task call, and an optional GitHub App token.

The workflow keeps the shape every job has (setup steps, then one `uv run --locked invoke`),
so the decision to skip a week with nothing new (`copier check-update`) lives in the task.
Its GitHub App token step ships commented out; enabling it as the workflow's comments say
must leave a workflow the service's own checks accept: `invoke parity`, the workflow schema
and zizmor.
"""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import copy_project, run

WORKFLOW = Path(".github/workflows/template-update.yml")
TASK_STEP = "uv run --locked invoke template-update --pull-request"
APP_STEP = "# - id: app-token"
# Lines of the workflow that name where the token comes from, not tokens.
DEFAULT_TOKEN = "GH_TOKEN: ${{ secrets.GITHUB_TOKEN }}"  # noqa: S105
APP_TOKEN = "GH_TOKEN: ${{ steps.app-token.outputs.token }}"  # noqa: S105
PINNED = re.compile(r"^[\w-]+/[\w-]+@[0-9a-f]{40}$")


def steps(text: str) -> list[dict[str, Any]]:
    document = yaml.safe_load(text)
    assert list(document["jobs"]) == ["template-update"]
    found: list[dict[str, Any]] = document["jobs"]["template-update"]["steps"]
    return found


def enable_app_token(text: str) -> str:
    """The workflow as a team enables the App token: the step uncommented, GH_TOKEN from it."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip() == APP_STEP)
    indent = lines[start][: lines[start].index("#")]
    end = start
    while lines[end].startswith(f"{indent}# "):
        end += 1
    uncommented = [indent + line[len(indent) + 2 :] for line in lines[start:end]]
    enabled = "".join([*lines[:start], *uncommented, *lines[end:]])
    default, app = f"{DEFAULT_TOKEN}\n", f"# {APP_TOKEN}\n"
    assert enabled.count(default) == 1, "GH_TOKEN no longer comes from GITHUB_TOKEN"
    assert enabled.count(app) == 1, "the commented GH_TOKEN line for the App is gone"
    return enabled.replace(default, "").replace(app, f"{APP_TOKEN}\n")


def test_the_workflow_is_setup_then_one_task_step(default_project: Path) -> None:
    text = (default_project / WORKFLOW).read_text(encoding="utf-8")
    found = steps(text)

    *setup, task = found
    assert all("uses" in step and "run" not in step for step in setup)
    assert task["run"] == TASK_STEP
    assert task["env"] == {"GH_TOKEN": "${{ secrets.GITHUB_TOKEN }}"}
    assert APP_STEP in text, "the optional App token step is gone"


@pytest.mark.slow
def test_enabling_the_app_token_passes_the_service_checks(tmp_path: Path) -> None:
    service = copy_project(tmp_path / "service")
    workflow = service / WORKFLOW
    workflow.write_text(enable_app_token(workflow.read_text(encoding="utf-8")), encoding="utf-8")
    app, *setup, task = steps(workflow.read_text(encoding="utf-8"))
    assert app["id"] == "app-token"
    assert PINNED.match(app["uses"]), app["uses"]
    assert app["with"]["permission-workflows"] == "write"
    assert all("uses" in step for step in setup)
    assert task == {"run": TASK_STEP, "env": {"GH_TOKEN": "${{ steps.app-token.outputs.token }}"}}

    schema = ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)]
    run(["uv", "run", "--locked", *schema], service)
    run(["uv", "run", "--locked", "zizmor", "--offline", "--quiet", ".github"], service)
    run(["uv", "run", "--locked", "invoke", "parity"], service)
