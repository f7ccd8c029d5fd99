"""Ownership is explicit: ownership.yml is the one table of who owns each generated file.

Fast tier: every file of a new service has exactly one entry and every entry a file; the
team-owned entries are copier.yml's `_skip_if_exists` and update-time `_exclude`; the
service's README renders the table; no other file needs the sample unit. Slow tier: a service
without the sample unit passes its own checks, and `copier update` never brings any part of
the unit back, nor touches a kept one.
"""

import ast
import enum
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import copier
import jinja2
import pytest
import yaml

from helpers import ROOT, choice_values, copier_config, copier_update, copy_project, git_commit, run
from template_repo import clone_with_worktree, next_release, release_tags

OWNERSHIP = ROOT / "ownership.yml"
PACKAGE = "{{ package_name }}"


class Owner(enum.StrEnum):
    """The classes of ownership.yml; a row naming another owner fails to load."""

    TEMPLATE = "template"
    SHARED = "shared"
    TEAM = "team"


@dataclass(frozen=True)
class Entry:
    """One row of the table: a path (or `dir/**`), its owner and what the file is."""

    path: str
    owner: Owner
    what: str

    def rendered(self, package: str) -> str:
        """The path in a service whose package is `package`."""
        return self.path.replace(PACKAGE, package)

    def covers(self, path: str, package: str) -> bool:
        pattern = self.rendered(package)
        if pattern.endswith("/**"):
            return path.startswith(pattern.removesuffix("**"))
        return path == pattern


@cache
def ownership() -> dict[str, Any]:
    table: dict[str, Any] = yaml.safe_load(OWNERSHIP.read_text(encoding="utf-8"))
    return table


def entries() -> list[Entry]:
    return [Entry(row["path"], Owner(row["owner"]), row["what"]) for row in ownership()["files"]]


def team_owned() -> list[Entry]:
    return [entry for entry in entries() if entry.owner is Owner.TEAM]


def service_files(service: Path) -> list[str]:
    """Everything a new service has in git: rendered files and the lock."""
    return run(["git", "ls-files"], service).stdout.splitlines()


def owners(path: str, package: str) -> list[Entry]:
    return [entry for entry in entries() if entry.covers(path, package)]


def test_the_table_has_three_classes_and_every_row_one_of_them() -> None:
    classes = ownership()["classes"]
    assert set(classes) == set(Owner)
    for name, described in classes.items():
        assert described["title"], name
        assert described["on_update"], name
    for entry in entries():
        assert entry.what, entry
        assert PACKAGE in entry.path or "{" not in entry.path, f"{entry.path}: only {PACKAGE}"
    paths = [entry.path for entry in entries()]
    assert len(paths) == len(set(paths)), "a path listed twice"


@pytest.fixture(scope="module")
def every_shape(
    default_project: Path, tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[str, set[str]]]:
    """(package, files) of a new service with the defaults and with each choice's each value.

    The defaults' service is the one with a lock (copier's task writes it); the others are
    rendered without tasks, which changes no rendered file.
    """
    shapes = [("my_service", set(service_files(default_project)))]
    for question, value in choice_values():
        destination = tmp_path_factory.mktemp("shape") / "service"
        copier.run_copy(
            str(ROOT),
            destination,
            data={"project_name": "Ledger Sync", question: value},
            defaults=True,
            unsafe=True,
            vcs_ref="HEAD",
            quiet=True,
            skip_tasks=True,
        )
        rendered = {str(p.relative_to(destination)) for p in destination.rglob("*") if p.is_file()}
        shapes.append(("ledger_sync", rendered))
    return shapes


def test_every_file_of_a_new_service_has_exactly_one_owner(
    every_shape: list[tuple[str, set[str]]],
) -> None:
    matched: set[str] = set()
    for package, files in every_shape:
        for path in sorted(files):
            found = owners(path, package)
            assert len(found) == 1, (
                f"{path}: {len(found)} entries in {OWNERSHIP.name} ({found}); give it one"
            )
            matched.add(found[0].path)
    unmatched = {entry.path for entry in entries()} - matched
    assert not unmatched, f"entries of {OWNERSHIP.name} no new service has: {sorted(unmatched)}"


@pytest.mark.parametrize("service_dir", ["", "backend"])
def test_team_owned_files_are_skipped_on_copy_and_excluded_on_update(service_dir: str) -> None:
    """In a monorepo, the same files under the service's folder, and its .github left out."""
    config = copier_config()
    prefix = f"{service_dir}/" if service_dir else ""
    team = [f"{prefix}{entry.path}" for entry in team_owned()]
    environment = jinja2.Environment(autoescape=False)  # noqa: S701 - paths, not HTML

    def rendered(patterns: list[str], operation: str) -> list[str]:
        answers = {
            "_copier_operation": operation,
            "package_name": PACKAGE,
            "service_dir": service_dir,
            "_copier_conf": {"answers_file": ".copier-answers.yml"},
        }
        texts = [environment.from_string(pattern).render(**answers) for pattern in patterns]
        return [text for text in texts if text]

    assert rendered(config["_skip_if_exists"], "copy") == team
    nested = [f"{prefix}.github", f"{prefix}.copier-answers.yml"] if service_dir else []
    assert rendered(config["_exclude"], "update") == [*team, *nested]
    assert rendered(config["_exclude"], "copy") == nested


def test_the_readme_renders_the_table(default_project: Path) -> None:
    readme = (default_project / "README.md").read_text(encoding="utf-8")
    classes = ownership()["classes"]
    always = [
        Entry(r["path"], Owner(r["owner"]), r["what"])
        for r in ownership()["files"]
        if "only_with" not in r
    ]
    for entry in always:
        row = f"| `{entry.rendered('my_service')}` | {classes[entry.owner]['title']} |"
        assert f"{row} {entry.what} |" in readme, f"README lacks the row for {entry.path}"
    for described in classes.values():
        assert f"- **{described['title']}**: {' '.join(described['on_update'].split())}." in readme


def mentions_of_the_sample_unit(path: Path) -> list[str]:
    """Imports of the routes module and requests to the sample route in a Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] == "routes":
            found.append(f"line {node.lineno}: imports {node.module}")
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith("/hello")
        ):
            found.append(f"line {node.lineno}: requests {node.value}")
    return found


def test_no_other_file_needs_the_sample_unit(default_project: Path) -> None:
    team = {entry.rendered("my_service") for entry in team_owned()}
    mentions = {
        path: found
        for path in service_files(default_project)
        if path.endswith(".py")
        and path not in team
        and (found := mentions_of_the_sample_unit(default_project / path))
    }
    assert mentions == {}


# Slow tier: the unit deleted, kept or edited, through a service's own checks and an update.


@pytest.mark.slow
def test_a_service_without_the_sample_unit_passes_its_own_checks(tmp_path: Path) -> None:
    service = copy_project(tmp_path / "service")
    for entry in team_owned():
        (service / entry.rendered("my_service")).unlink()
    git_commit(service, "Delete the sample unit")
    for task in ["lint", "typecheck", "test"]:
        run(["uv", "run", "--locked", "invoke", task], service, timeout=1800)


ROUTES = "template/src/{{package_name}}/routes.py"
ROUTES_TEST = "template/tests/test_routes.py"
TEAM_EDIT = "\n# The team's own change.\n"


@dataclass(frozen=True)
class Releases:
    """A throwaway copy of shipshape: the working tree as one release, and a next one."""

    repo: Path
    current: str
    edited: str  # the next release, which changes the sample route and its test


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Releases:
    repo = clone_with_worktree(tmp_path_factory.mktemp("ownership") / "shipshape")
    current = next_release()
    run(["git", "tag", current], repo)
    for name in [ROUTES, ROUTES_TEST]:
        path = repo / name
        path.write_text(path.read_text().replace("Hello, ", "Greetings, "), encoding="utf-8")
    git_commit(repo, "The sample route greets differently")
    major, minor, patch = current.removeprefix("v").split(".")
    edited = f"v{major}.{minor}.{int(patch) + 1}"
    run(["git", "tag", edited], repo)
    return Releases(repo, current, edited)


def unit_paths(service: Path) -> list[Path]:
    return [service / entry.rendered("my_service") for entry in team_owned()]


def assert_update_leaves_the_unit_alone(
    service: Path, deleted: list[Path], release: str, *, nothing_else_changes: bool = True
) -> None:
    kept = {p: p.read_bytes() for p in unit_paths(service) if p not in deleted and p.exists()}
    for path in deleted:
        path.unlink()
    git_commit(service, "The team's changes to the sample unit")

    copier_update(service, release)

    for path in deleted:
        assert not path.exists(), f"the update brought back {path.name}"
    for path, content in kept.items():
        assert path.read_bytes() == content, f"the update changed {path.name}"
    assert not [p for p in service.rglob("*.rej") if ".git" not in p.parts]
    if nothing_else_changes:  # the release changed the unit only: no file may change
        changed = run(["git", "status", "--porcelain", "--untracked-files=all"], service).stdout
        assert {line[3:] for line in changed.splitlines()} <= {".copier-answers.yml", "uv.lock"}


UNIT_CHOICES = {
    "both-deleted": ["routes.py", "test_routes.py"],
    "route-deleted": ["routes.py"],
    "test-deleted": ["test_routes.py"],
    "both-kept-and-edited": [],
}


@pytest.mark.slow
@pytest.mark.parametrize("deleted", UNIT_CHOICES.values(), ids=UNIT_CHOICES.keys())
def test_an_update_never_brings_back_or_changes_the_unit(
    releases: Releases, tmp_path: Path, deleted: list[str]
) -> None:
    service = copy_project(tmp_path / "service", template=releases.repo, vcs_ref=releases.current)
    for path in unit_paths(service):
        if path.name not in deleted:
            path.write_text(path.read_text(encoding="utf-8") + TEAM_EDIT, encoding="utf-8")
    gone = [path for path in unit_paths(service) if path.name in deleted]
    assert_update_leaves_the_unit_alone(service, gone, releases.edited)


OLDEST = release_tags()[:1]


@pytest.mark.slow
@pytest.mark.skipif(not OLDEST, reason="no release to update from")
def test_an_update_from_the_first_release_does_not_bring_the_unit_back(
    releases: Releases, tmp_path: Path
) -> None:
    # The first release had no `_exclude`; copier renders old releases with the new one's.
    service = copy_project(tmp_path / "service", template=releases.repo, vcs_ref=OLDEST[0])
    # The first release had no team_tasks.py; the update's migration adds it, as its own.
    had = [path for path in unit_paths(service) if path.exists()]
    assert [path.name for path in had] == ["routes.py", "test_routes.py"]
    assert_update_leaves_the_unit_alone(service, had, releases.edited, nothing_else_changes=False)
    assert (service / "team_tasks.py").is_file()


def test_files_only_some_services_have_are_marked_and_left_out_of_the_others(
    default_project: Path,
) -> None:
    present = service_files(default_project)
    readme = (default_project / "README.md").read_text(encoding="utf-8")
    for row in ownership()["files"]:
        entry = Entry(row["path"], Owner(row["owner"]), row["what"])
        has_it = any(entry.covers(path, "my_service") for path in present)
        assert has_it is ("only_with" not in row), row
        assert (f"`{entry.rendered('my_service')}`" in readme) is has_it, row
