"""Fixtures shared by the template's tests."""

import os
from pathlib import Path

import pytest

from helpers import TEST_RUNNER_ENVIRONMENT, copy_project


def pytest_configure() -> None:
    """Render and update services (copier runs `uv lock` in-process) as a user's shell would."""
    for name in TEST_RUNNER_ENVIRONMENT:
        os.environ.pop(name, None)


@pytest.fixture(scope="session")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One service rendered with every default, shared by read-only tests."""
    return copy_project(tmp_path_factory.mktemp("defaults") / "my-service")
