"""`invoke ci --in-container`: a service's CI jobs run inside its own `ci` image."""

import re
import sys
from pathlib import Path

import pytest

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
    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
    found = re.search(r"^ARG PYTHON_IMAGE=(\S+)", dockerfile, re.MULTILINE)
    assert found is not None
    try:
        base_images.ensure_base_images(
            UV_VERSION, [found.group(1), f"ghcr.io/astral-sh/uv:{UV_VERSION}"]
        )
    except base_images.HarnessError as error:
        pytest.skip(f"{found.group(1)} cannot be made here: {error}")
    return project


@pytest.mark.docker
def test_ci_jobs_run_inside_the_ci_image(service: Path) -> None:
    try:
        result = run(
            ["uv", "run", "--locked", "invoke", "ci", "--in-container"], service, timeout=1800
        )
    finally:
        run(
            ["docker", "image", "rm", "--force", "ghcr.io/example-org/boxed-service:ci"],
            service,
            check=False,
        )
    output = result.stdout
    assert "running the CI jobs inside ghcr.io/example-org/boxed-service:ci (Python 3.13" in output
    for job in ("lint", "typecheck"):
        assert re.search(rf"^{job}\s+-\s+passed", output, re.MULTILINE), output
    assert re.search(r"^test\s+python-version=3\.13\s+passed", output, re.MULTILINE), output
    assert "docker [-] skipped: not run inside the container" in output
    assert "ci: 3 passed, 0 failed, 1 skipped" in output
    assert "docker run --rm" in output
    # The test job's reports land on the host, where the workflow uploads them from.
    assert (service / "reports" / "junit-3.13.xml").is_file()
