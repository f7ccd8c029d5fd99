"""Backing services: every `database` x `cache` answer renders exactly its own files.

With `none` nothing of a backing service is rendered: no module, test, dependency, setting,
marker or job. The matrix comes from copier.yml's own choices, so a new option is never
left untested.
"""

import itertools
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml

from helpers import ROOT, copier_config, copy_project, questions

sys.path.insert(0, str(ROOT / "harness"))
import base_images

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


def requirement_names(requirements: list[str | dict[str, str]]) -> set[str]:
    """The distributions named; `{include-group = ...}` entries name none."""
    return {
        re.split(r"[\[<>=~! ]", requirement, maxsplit=1)[0]
        for requirement in requirements
        if isinstance(requirement, str)
    }


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
    groups = pyproject["dependency-groups"]
    dev = set().union(*(requirement_names(group) for group in groups.values()))
    for option, own in OWN_DEPENDENCIES.items():
        assert (own <= dependencies) == (option in chosen), (option, sorted(dependencies))
    assert ("testcontainers" in dev) == bool(chosen)
    pytest_options = pyproject["tool"]["pytest"]["ini_options"]
    # Every service registers the markers teams select by, backing services or not.
    assert [m.split(":")[0] for m in pytest_options["markers"]] == ["integration", "e2e"]
    assert ("alembic" in pyproject["tool"]) == ("postgres" in chosen)
    settings = (project / "src" / "my_service" / "settings.py").read_text(encoding="utf-8")
    assert ("database_password: SecretStr" in settings) == ("postgres" in chosen)
    assert ("redis_password: SecretStr" in settings) == ("redis" in chosen)
    assert ("_FILE" in settings) == bool(chosen)
    leftovers = [
        path for path in project.rglob("*") if "{%" in path.name or path.name.endswith(".jinja")
    ]
    assert leftovers == []


MARKERS = re.compile(r"^# Every marker.*?^markers = \[.*?^\]\n", re.MULTILINE | re.DOTALL)


def test_nothing_of_a_backing_service_is_in_a_service_without_one(
    rendered: dict[tuple[str, str], Path],
) -> None:
    project = rendered["none", "none"]
    words = re.compile(
        r"sqlalchemy|asyncpg|alembic|redis|testcontainers|integration", re.IGNORECASE
    )
    for path in project.rglob("*"):
        if not path.is_file() or ".git" in path.parts or path.name == "uv.lock":
            continue
        if path.name == "README.md":
            continue  # it renders ownership.yml, the table of every option's files
        if "devtasks" in path.parts:
            continue  # the sealed machinery is the same in every service
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.name == "pyproject.toml":
            # The registered markers name the integration suite in every service, so that
            # `pytest -m "not integration"` works; nothing else may.
            text = MARKERS.sub("", text)
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


@pytest.mark.parametrize(("database", "cache"), COMBINATIONS)
def test_an_integration_job_and_task_exactly_with_a_backing_service(
    rendered: dict[tuple[str, str], Path], database: str, cache: str
) -> None:
    project = rendered[database, cache]
    chosen = bool({database, cache} - {"none"})
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text(encoding="utf-8"))
    assert ("integration" in workflow["jobs"]) == chosen
    tasks = (project / "tasks.py").read_text(encoding="utf-8")
    assert ("def integration(" in tasks) == chosen
    assert ((project / "tests" / "integration").is_dir()) == chosen
    if chosen:
        job = workflow["jobs"]["integration"]
        assert "services" not in job
        assert "container" not in job
        runs = [step["run"] for step in job["steps"] if "run" in step]
        assert runs == ["uv run --locked invoke integration"]
        assert "integration" in workflow["jobs"]["publish"]["needs"]


def compose(project: Path, name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((project / name).read_text(encoding="utf-8"))
    return document


def test_compose_runs_the_official_images_the_harness_stands_in_for(
    rendered: dict[tuple[str, str], Path],
) -> None:
    services = compose(rendered["postgres", "redis"], "compose.yaml")["services"]
    images = {services[name]["image"] for name in ("postgres", "redis")}
    assert images == set(base_images.SERVICE_STAND_INS)
    for image in images:
        assert re.fullmatch(r"(postgres|redis):\d+", image), f"{image}: pin a major version"


def test_dependabot_bumps_the_compose_images(rendered: dict[tuple[str, str], Path]) -> None:
    project = rendered["postgres", "redis"]
    config = yaml.safe_load((project / ".github/dependabot.yml").read_text(encoding="utf-8"))
    ecosystems = {update["package-ecosystem"]: update for update in config["updates"]}
    assert ecosystems["docker-compose"]["directory"] == "/"
    assert (project / "compose.yaml").is_file()


def test_compose_backing_services_dev_and_prod(rendered: dict[tuple[str, str], Path]) -> None:
    project = rendered["postgres", "redis"]
    base = compose(project, "compose.yaml")
    dev = compose(project, "compose.dev.yaml")["services"]
    prod = compose(project, "compose.prod.yaml")
    services = base["services"]
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    assert "postgres-data" in base["volumes"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"].startswith("/run/secrets/")
    assert "POSTGRES_PASSWORD" not in services["postgres"]["environment"]
    assert "file" in base["secrets"]["postgres-password"]
    app = services["app"]
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"][-1] == "migrate"
    assert all("ports" not in services[name] for name in ("postgres", "redis", "migrate"))
    for name in ("postgres", "redis"):
        assert all(port.startswith("127.0.0.1:") for port in dev[name]["ports"]), dev[name]
        assert "ports" not in prod["services"][name]
        assert prod["services"][name]["networks"] == ["backend"]
    assert prod["networks"]["backend"]["internal"] is True
    assert prod["services"]["migrate"]["read_only"] is True
    assert set(prod["services"]["app"]["networks"]) == {"default", "backend"}


def test_the_secret_files_stay_out_of_git_and_the_image(
    rendered: dict[tuple[str, str], Path],
) -> None:
    project = rendered["postgres", "none"]
    assert "secrets/" in (project / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "secrets" in (project / ".dockerignore").read_text(encoding="utf-8").splitlines()
