"""`invoke ci --in-container`: a service's CI jobs run inside its own `ci` image."""

import json
import sys
from pathlib import Path

import pytest
from devtasks import dockerfile

from helpers import ROOT, copy_project, questions, run

sys.path.insert(0, str(ROOT / "harness"))
import base_images

UV_VERSION = str(questions()["uv_version"]["default"])


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        base_images.check_engine()
    except base_images.HarnessError as error:
        pytest.skip(str(error))
    project = copy_project(
        tmp_path_factory.mktemp("in-container") / "boxed-service", project_name="Boxed Service"
    )
    base = dockerfile.read(project).require_base_image()
    try:
        base_images.ensure_base_images(UV_VERSION, [base, f"ghcr.io/astral-sh/uv:{UV_VERSION}"])
    except base_images.HarnessError as error:
        pytest.skip(f"{base} cannot be made here: {error}")
    return project


@pytest.mark.docker
def test_ci_jobs_run_inside_the_ci_image(service: Path) -> None:
    try:
        result = run(
            ["uv", "run", "--locked", "invoke", "ci", "--in-container", "--json"],
            service,
            timeout=1800,
        )
    finally:
        run(
            ["docker", "image", "rm", "--force", "ghcr.io/example-org/boxed-service:runner"],
            service,
            check=False,
        )
    assert "running the CI jobs inside ghcr.io/example-org/boxed-service:runner (Python 3.13" in (
        result.stderr
    )
    entries = {e["job"]: e for e in json.loads(result.stdout)["entries"]}
    for job in ("lint", "typecheck"):
        assert entries[job]["result"] == "passed", entries[job]
    assert entries["test"]["matrix"] == {"python-version": "3.13"}
    assert entries["test"]["result"] == "passed", entries["test"]
    assert entries["docker"]["result"] == "skipped"
    assert (
        entries["docker"]["reason"]
        == "not run inside the container: it drives the host's Docker engine"
    )
    assert entries["security"]["reason"] == (
        "not run inside the container: Trivy is set up on the host, not in the ci image"
    )
    assert all(e["result"] in {"passed", "skipped"} for e in entries.values()), entries
    # The test job's reports land on the host, where the workflow uploads them from.
    assert (service / "reports" / "junit-3.13.xml").is_file()
