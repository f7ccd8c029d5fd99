"""An existing service turns Postgres and Redis on with `copier update --data`, keeping its edits.

Slow tier: a throwaway copy of this repository with the working tree tagged as the next
release; a service rendered there without backing services, edited and committed as a team
would, then updated to the same release with new answers.
"""

from pathlib import Path

import pytest
import yaml

from helpers import copier_update, copy_project, git_commit, run
from template_repo import clone_with_worktree, next_release

pytestmark = pytest.mark.slow

OURS = "<<<<<<< before updating"
TEAM_SETTING = '    feature_greeting: str = "Hi there"  # the team\'s own setting\n'
TEAM_VARIABLE = "MY_SERVICE_FEATURE_GREETING=Hi there\n"
TEAM_NOTE = "Owned by the payments team.\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    repo = clone_with_worktree(tmp_path_factory.mktemp("backing-update") / "shipshape")
    release = next_release()
    run(["git", "tag", release], repo)
    return repo, release


def insert_after(path: Path, anchor: str, text: str) -> None:
    content = path.read_text(encoding="utf-8")
    assert content.count(anchor) == 1, f"{path}: {anchor!r} not exactly once; refresh this test"
    path.write_text(content.replace(anchor, anchor + text), encoding="utf-8")


def test_turning_backing_services_on_keeps_the_teams_edits(
    template: tuple[Path, str], tmp_path: Path
) -> None:
    repo, release = template
    service = copy_project(tmp_path / "service", template=repo, vcs_ref=release)
    package = service / "src" / "my_service"
    assert not (package / "db.py").exists()
    insert_after(package / "settings.py", '    git_revision: str = "unknown"\n', TEAM_SETTING)
    # as the service's own test_env_example asks of a new setting
    insert_after(service / ".env.example", "MY_SERVICE_GIT_REVISION=unknown\n", TEAM_VARIABLE)
    routes = package / "routes.py"
    routes.write_text(routes.read_text(encoding="utf-8").replace("Hello", "Hi there"))
    tests = service / "tests" / "test_routes.py"
    tests.write_text(tests.read_text(encoding="utf-8").replace("Hello", "Hi there"))
    readme = service / "README.md"
    title, rest = readme.read_text(encoding="utf-8").split("\n", 1)
    readme.write_text(f"{title}\n\n{TEAM_NOTE}{rest}", encoding="utf-8")
    git_commit(service, "The team's edits")

    copier_update(service, release, database="postgres", cache="redis")

    answers = yaml.safe_load((service / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert (answers["database"], answers["cache"]) == ("postgres", "redis")
    for name in ("db.py", "repository.py", "items.py", "cache.py", "migrations/env.py"):
        assert (package / name).is_file(), name
    assert (service / "tests" / "integration" / "test_postgres.py").is_file()
    assert TEAM_SETTING in (package / "settings.py").read_text(encoding="utf-8")
    assert TEAM_VARIABLE in (service / ".env.example").read_text(encoding="utf-8")
    assert "database_password: SecretStr" in (package / "settings.py").read_text(encoding="utf-8")
    assert "Hi there" in routes.read_text(encoding="utf-8")
    assert TEAM_NOTE in readme.read_text(encoding="utf-8")
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], service)
    conflicts = [
        name
        for name in listed.stdout.splitlines()
        if (service / name).is_file()
        and OURS in (service / name).read_text(encoding="utf-8", errors="replace").splitlines()
    ]
    assert conflicts == []
    run(["uv", "lock", "--check"], service)  # the update's last migration locked it
    for task in ("lint", "typecheck", "test"):
        run(["uv", "run", "--locked", "invoke", task], service, timeout=900)
