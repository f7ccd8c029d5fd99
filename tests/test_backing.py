"""Backing services: every `database` x `cache` answer renders exactly its own files.

With `none` nothing of a backing service is rendered: no module, test, dependency, setting,
marker or job. The matrix comes from copier.yml's own choices, so a new option is never
left untested.
"""

import itertools
import re
import tomllib
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml

from helpers import ROOT, copier_config, copy_project, questions

DATABASES = [str(choice) for choice in questions()["database"]["choices"]]
CACHES = [str(choice) for choice in questions()["cache"]["choices"]]
COMBINATIONS = [
    pytest.param(database, cache, id=f"database={database},cache={cache}")
    for database, cache in itertools.product(DATABASES, CACHES)
]
# What each option renders under src/<package>/ and tests/, beyond a service without it.
OWN_MODULES = {
    "postgres": {"db.py", "items.py", "problems.py", "repository.py", "migrations"},
    "redis": {"cache.py"},
}
OWN_TESTS = {"postgres": {"test_db.py", "test_items.py"}, "redis": {"test_cache.py"}}
OWN_DEPENDENCIES = {
    "postgres": {"alembic", "asyncpg", "sqlalchemy"},
    "redis": {"redis"},
}


def backing_dependency_names() -> dict[str, list[str]]:
    default: Any = copier_config()["backing_dependency_names"]["default"]
    names = yaml.safe_load(default) if isinstance(default, str) else default
    assert isinstance(names, dict)
    return {str(key): [str(name) for name in value] for key, value in names.items()}


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=~! ]", requirement, maxsplit=1)[0] for requirement in requirements}


def lock_names(project: Path) -> set[str]:
    lock = tomllib.loads((project / "uv.lock").read_text(encoding="utf-8"))
    return {re.sub(r"[-.]", "_", package["name"].lower()) for package in lock["package"]}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """One service per combination, rendered once for the module."""
    work = tmp_path_factory.mktemp("backing")
    return {
        (database, cache): copy_project(
            work / f"{database}-{cache}", git=False, database=database, cache=cache
        )
        for database, cache in itertools.product(DATABASES, CACHES)
    }


@pytest.mark.parametrize(("database", "cache"), COMBINATIONS)
def test_each_combination_renders_its_own_files_only(
    rendered: dict[tuple[str, str], Path], database: str, cache: str
) -> None:
    project = rendered[database, cache]
    chosen = {database, cache} - {"none"}
    modules = {path.name for path in (project / "src" / "my_service").iterdir()}
    tests = {path.name for path in (project / "tests").iterdir()}
    for option, own in OWN_MODULES.items():
        assert (own <= modules) == (option in chosen), (option, sorted(modules))
        assert not (own & modules) or option in chosen, (option, sorted(modules))
    for option, own in OWN_TESTS.items():
        assert (own <= tests) == (option in chosen), (option, sorted(tests))
    assert ("test_setting_files.py" in tests) == bool(chosen)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    dependencies = requirement_names(pyproject["project"]["dependencies"])
    dev = requirement_names(pyproject["dependency-groups"]["dev"])
    for option, own in OWN_DEPENDENCIES.items():
        assert (own <= dependencies) == (option in chosen), (option, sorted(dependencies))
    assert ("testcontainers" in dev) == bool(chosen)
    pytest_options = pyproject["tool"]["pytest"]["ini_options"]
    assert ("markers" in pytest_options) == bool(chosen)
    assert ("alembic" in pyproject["tool"]) == ("postgres" in chosen)
    settings = (project / "src" / "my_service" / "settings.py").read_text(encoding="utf-8")
    assert ("database_password: SecretStr" in settings) == ("postgres" in chosen)
    assert ("redis_password: SecretStr" in settings) == ("redis" in chosen)
    assert ("_FILE" in settings) == bool(chosen)
    leftovers = [
        path for path in project.rglob("*") if "{%" in path.name or path.name.endswith(".jinja")
    ]
    assert leftovers == []


def test_nothing_of_a_backing_service_is_in_a_service_without_one(
    rendered: dict[tuple[str, str], Path],
) -> None:
    project = rendered["none", "none"]
    words = re.compile(r"sqlalchemy|asyncpg|alembic|redis|testcontainers|integration", re.I)
    for path in project.rglob("*"):
        if not path.is_file() or ".git" in path.parts or path.name == "uv.lock":
            continue
        if "devtasks" in path.parts:
            continue  # the sealed machinery is the same in every service
        text = path.read_text(encoding="utf-8", errors="replace")
        assert not words.search(text), f"{path.relative_to(project)}: {words.search(text)}"


def test_the_lists_of_taken_names_cover_what_each_option_locks(
    rendered: dict[tuple[str, str], Path],
) -> None:
    base = lock_names(rendered["none", "none"])
    taken = backing_dependency_names()
    for (database, cache), project in rendered.items():
        added = lock_names(project) - base
        listed = {name for option in (database, cache) for name in taken.get(option, [])}
        assert added <= listed, f"add to backing_dependency_names: {sorted(added - listed)}"
        assert listed <= lock_names(project), f"stale: {sorted(listed - lock_names(project))}"


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (
            {"package_name": "sqlalchemy", "database": "postgres"},
            "package_name 'sqlalchemy' is taken by a dependency that database=postgres brings",
        ),
        (
            {"package_name": "redis", "cache": "redis"},
            "package_name 'redis' is taken by a dependency that cache=redis brings",
        ),
    ],
    ids=["database", "cache"],
)
def test_a_package_name_a_backing_dependency_takes_is_refused(
    tmp_path: Path, answers: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        copier.run_copy(
            str(ROOT),
            tmp_path / "service",
            data=answers,
            defaults=True,
            unsafe=True,
            vcs_ref="HEAD",
            quiet=True,
        )
    assert not (tmp_path / "service").exists()


def test_the_same_name_is_fine_without_that_option(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "service", git=False, package_name="redis")
    assert (project / "src" / "redis" / "app.py").is_file()
