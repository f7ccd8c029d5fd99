"""Fixtures shared by the template's tests."""

from pathlib import Path

import pytest

from helpers import copy_project


@pytest.fixture(scope="session")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One service rendered with every default, shared by read-only tests."""
    return copy_project(tmp_path_factory.mktemp("defaults") / "my-service")
