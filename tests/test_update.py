"""`copier update` keeps every edit a team made, brings the template's changes, and is green.

Each test works in a throwaway copy of this repository (`template_repo.clone_with_worktree`)
where the working tree is tagged as the next release. An older release is made there too:
the same template with a few changes undone (the `log.py` name, older README, CI and
.gitignore lines), so an update has real template changes to bring. Services are rendered at
an old release, edited the way teams edit them, committed, and updated.
"""

import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import copy_project, git_commit, run
from template_repo import (
    PULL_REQUEST_URL,
    clone_with_worktree,
    gh_arguments,
    migration_versions,
    next_release,
    pull_request_setup,
    release_tags,
    task_lines,
    template_update,
    version_numbers,
)

pytestmark = pytest.mark.slow

OLDER_RELEASE = "v0.0.1"
ANSWER_SETS = [
    pytest.param({}, id="defaults"),
    pytest.param({"python_version": "3.11", "license": "Apache-2.0"}, id="py311-apache"),
]
COPIER_UPDATE = ["update", "--trust", "--skip-answered", "--defaults", "--conflict", "inline"]
OURS, BASE, THEIRS = "<<<<<<< before updating", "=======", ">>>>>>> after updating"
PACKAGE = "src/{{package_name}}"

# The older release: what the template looked like before a few of its changes.
LOGGING_DOCSTRING = (
    '"""Structured logging: JSON lines in production, readable lines on a terminal."""'
)
OLD_LOGGING_DOCSTRING = '"""Logging set-up."""'
OLD_UPDATING_SECTION = """## Updating from the template

```sh
uvx copier update --trust --skip-answered
uv lock
uv run --locked invoke ci
```
"""
UPDATING_SECTION = re.compile(r"^## Updating a service\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
GITIGNORED_LATER = "dist/\n"
OLD_PRE_COMMIT_COMMENT = "# pre-commit hooks, as the older release had them.\n"

# What the team changes in its service.
TEAM_NOTE = "Owned by the payments team; on call: #payments-oncall."
GREETING = 'f"Hello, {name}!"'
TEAM_GREETING = 'f"Hi there, {name}!"'
GOODBYE_ENDPOINT = '''

@router.get("/goodbye/{name}")
async def goodbye(name: str) -> Greeting:
    """Say goodbye to someone by name."""
    return Greeting(message=f"Goodbye, {name}!")
'''
GOODBYE_TEST = """from fastapi.testclient import TestClient


def test_goodbye(client: TestClient) -> None:
    response = client.get("/goodbye/ada")
    assert response.status_code == 200
    assert response.json() == {"message": "Goodbye, ada!"}
"""
UVICORN_LOGGERS = '("uvicorn", "uvicorn.error", "uvicorn.access")'
TEAM_LOGGERS = '("uvicorn", "uvicorn.error", "uvicorn.access", "httpx")'
TEAM_TEST_TIMEOUT = 45
DELETED_BY_TEAM = ".pre-commit-config.yaml"


def replace_once(path: Path, old: str, new: str) -> None:
    """Replace text that must occur exactly once: a template change breaks the test loudly."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path}: expected {old!r} exactly once; refresh this test"
    path.write_text(text.replace(old, new), encoding="utf-8")


def job_timeout(workflow: str, job: str) -> int:
    """A job's `timeout-minutes` in a workflow's text."""
    match = re.search(
        rf"^  {job}:\n(?:(?!  \S).*\n)*?    timeout-minutes: (\d+)$", workflow, re.MULTILINE
    )
    assert match, f"job {job} has no timeout-minutes"
    return int(match.group(1))


def set_job_timeout(path: Path, job: str, minutes: int) -> None:
    """Set a job's `timeout-minutes` in a workflow file, touching only that line."""
    text = path.read_text(encoding="utf-8")
    pattern = rf"(^  {job}:\n(?:(?!  \S).*\n)*?    timeout-minutes: )\d+$"
    updated, count = re.subn(pattern, rf"\g<1>{minutes}", text, count=1, flags=re.MULTILINE)
    assert count == 1, f"{path}: job {job} has no timeout-minutes"
    path.write_text(updated, encoding="utf-8")


@dataclass(frozen=True)
class TemplateRepo:
    """A throwaway copy of shipshape with an older release and the next one tagged."""

    path: Path
    older: str
    newest: str
    test_timeout: int  # the `test` job's timeout in the newest release


def make_older_release(repo: Path) -> None:
    """Undo a few of the template's changes on a side branch and tag it as an old release."""
    template = repo / "template"
    run(["git", "switch", "--quiet", "--create", "older-release"], repo)
    run(["git", "mv", f"{PACKAGE}/logging_config.py", f"{PACKAGE}/log.py"], template)
    replace_once(template / PACKAGE / "log.py", LOGGING_DOCSTRING, OLD_LOGGING_DOCSTRING)
    replace_once(
        template / PACKAGE / "__main__.py.jinja",
        "from .logging_config import",
        "from .log import",
    )
    replace_once(
        template / "tests" / "test_main.py.jinja",
        'from_import(package_name ~ ".logging_config"',
        'from_import(package_name ~ ".log"',
    )
    readme = template / "README.md.jinja"
    text, count = UPDATING_SECTION.subn(OLD_UPDATING_SECTION, readme.read_text(encoding="utf-8"))
    assert count == 1, "README.md.jinja has no 'Updating a service' section; refresh this test"
    readme.write_text(text, encoding="utf-8")
    workflow = template / ".github" / "workflows" / "ci.yml.jinja"
    timeout = job_timeout(workflow.read_text(encoding="utf-8"), "test")
    set_job_timeout(workflow, "test", timeout - 5)
    replace_once(template / ".gitignore", GITIGNORED_LATER, "")
    pre_commit = template / ".pre-commit-config.yaml"
    pre_commit.write_text(OLD_PRE_COMMIT_COMMENT + pre_commit.read_text(encoding="utf-8"))
    git_commit(repo, "An older release")
    run(["git", "tag", OLDER_RELEASE], repo)
    run(["git", "switch", "--quiet", "-"], repo)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> TemplateRepo:
    """shipshape's history and real releases, an older release, and the working tree as next."""
    assert OLDER_RELEASE not in release_tags(), f"{OLDER_RELEASE} is a real release"
    assert all(version_numbers(OLDER_RELEASE) < version_numbers(v) for v in migration_versions())
    repo = clone_with_worktree(tmp_path_factory.mktemp("update") / "shipshape")
    workflow = (repo / "template" / ".github" / "workflows" / "ci.yml.jinja").read_text()
    make_older_release(repo)
    newest = next_release()
    run(["git", "tag", newest], repo)
    return TemplateRepo(repo, OLDER_RELEASE, newest, job_timeout(workflow, "test"))


def render(
    template: TemplateRepo, destination: Path, release: str, answers: dict[str, Any]
) -> Path:
    """A service rendered at `release`, committed like a team's first commit."""
    return copy_project(destination, template=template.path, vcs_ref=release, **answers)


def package_dir(service: Path) -> Path:
    answers = yaml.safe_load((service / ".copier-answers.yml").read_text(encoding="utf-8"))
    return service / "src" / str(answers["package_name"])


def edit_like_a_team(service: Path) -> None:
    """The edits teams make: code, tests, a dependency, docs, a deleted file, CI timeouts."""
    package = package_dir(service)
    routes = package / "routes.py"
    replace_once(routes, GREETING, TEAM_GREETING)
    routes.write_text(routes.read_text(encoding="utf-8") + GOODBYE_ENDPOINT, encoding="utf-8")
    replace_once(service / "tests" / "test_routes.py", '"Hello, ada!"', '"Hi there, ada!"')
    (service / "tests" / "test_goodbye.py").write_text(GOODBYE_TEST, encoding="utf-8")
    run(["uv", "add", "--quiet", "--no-sync", "anyio"], service)
    readme = service / "README.md"
    title, rest = readme.read_text(encoding="utf-8").split("\n", 1)
    readme.write_text(f"{title}\n\n{TEAM_NOTE}\n{rest}", encoding="utf-8")
    (service / DELETED_BY_TEAM).unlink()
    workflow = service / ".github" / "workflows" / "ci.yml"
    lint_timeout = job_timeout(workflow.read_text(encoding="utf-8"), "lint")
    set_job_timeout(workflow, "lint", lint_timeout + 5)
    set_job_timeout(workflow, "test", TEAM_TEST_TIMEOUT)


def files(service: Path) -> list[Path]:
    """The service's files: tracked and new, not ignored ones."""
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], service)
    return [service / name for name in listed.stdout.splitlines() if (service / name).is_file()]


def conflicted(service: Path) -> set[str]:
    """Files with an inline conflict, relative to the service."""
    return {
        str(path.relative_to(service))
        for path in files(service)
        if OURS in path.read_text(encoding="utf-8", errors="replace").splitlines()
    }


def rejects(service: Path) -> list[str]:
    """`.rej` files: changes copier could not merge (there must be none)."""
    return [
        str(path.relative_to(service))
        for path in service.rglob("*.rej")
        if not {".git", ".venv"} & set(path.parts)
    ]


def keep_ours(path: Path) -> None:
    """Resolve every inline conflict of a file by keeping the service's side."""
    kept: list[str] = []
    side = None
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        marker = line.rstrip("\n")
        if marker == OURS:
            side = "ours"
        elif marker == BASE and side == "ours":
            side = "theirs"
        elif marker == THEIRS and side == "theirs":
            side = None
        elif side in {None, "ours"}:
            kept.append(line)
    path.write_text("".join(kept), encoding="utf-8")


def copier_update(service: Path) -> None:
    run([sys.executable, "-m", "copier", *COPIER_UPDATE], service, timeout=900)


def recorded_release(service: Path) -> str:
    answers = yaml.safe_load((service / ".copier-answers.yml").read_text(encoding="utf-8"))
    return str(answers["_commit"])


def assert_team_edits_survived(service: Path) -> None:
    package = package_dir(service)
    routes = (package / "routes.py").read_text(encoding="utf-8")
    assert TEAM_GREETING in routes, "the changed handler was lost"
    assert GOODBYE_ENDPOINT.strip() in routes, "the added endpoint was lost"
    assert '"Hi there, ada!"' in (service / "tests" / "test_routes.py").read_text()
    assert (service / "tests" / "test_goodbye.py").read_text() == GOODBYE_TEST
    pyproject = (service / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^    "anyio>=', pyproject, re.MULTILINE), (
        "the `uv add`ed dependency was lost"
    )
    assert TEAM_NOTE in (service / "README.md").read_text(encoding="utf-8")
    assert not (service / DELETED_BY_TEAM).exists(), "a file the team deleted came back"


def assert_green_and_idempotent(service: Path) -> None:
    """Resolve conflicts the team's way, run the service's CI, and update a second time."""
    for name in conflicted(service):
        keep_ours(service / name)
    workflow = (service / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    assert job_timeout(workflow, "test") == TEAM_TEST_TIMEOUT
    run(["uv", "lock", "--check"], service)
    run(["uv", "run", "--locked", "invoke", "ci"], service, timeout=1800)
    git_commit(service, "Update from the template")
    copier_update(service)
    status = run(["git", "status", "--porcelain"], service).stdout
    assert status == "", f"a second update changed the service:\n{status}"


@pytest.mark.parametrize("answers", ANSWER_SETS)
def test_update_from_an_older_release_keeps_every_edit(
    template: TemplateRepo, tmp_path: Path, answers: dict[str, Any]
) -> None:
    service = render(template, tmp_path / "service", template.older, answers)
    assert recorded_release(service) == template.older
    edit_like_a_team(service)
    replace_once(package_dir(service) / "log.py", UVICORN_LOGGERS, TEAM_LOGGERS)
    git_commit(service, "The team's edits")

    copier_update(service)

    assert recorded_release(service) == template.newest
    assert rejects(service) == []
    # The one line both sides changed, the test job's timeout, is the one conflict.
    assert conflicted(service) == {".github/workflows/ci.yml"}
    workflow = (service / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    conflict = f"{OURS}\n    timeout-minutes: {TEAM_TEST_TIMEOUT}\n{BASE}\n"
    conflict += f"    timeout-minutes: {template.test_timeout}\n{THEIRS}\n"
    assert conflict in workflow
    assert_team_edits_survived(service)
    package = package_dir(service)
    # The renamed module kept the team's edit and took the template's change.
    assert not (package / "log.py").exists()
    logging_config = (package / "logging_config.py").read_text(encoding="utf-8")
    assert TEAM_LOGGERS in logging_config
    assert logging_config.startswith(LOGGING_DOCSTRING)
    assert "from .logging_config import" in (package / "__main__.py").read_text()
    # The template's other changes arrived.
    readme = (service / "README.md").read_text(encoding="utf-8")
    assert "## Updating a service" in readme
    assert "## Updating from the template" not in readme
    assert GITIGNORED_LATER in (service / ".gitignore").read_text(encoding="utf-8")
    assert (service / ".github" / "workflows" / "template-update.yml").is_file()

    assert_green_and_idempotent(service)


# Every real release: tagged, or recovered from its release commit in the test's copy.
REAL_RELEASES = release_tags()


def test_there_are_real_releases_to_update_from() -> None:
    # An empty list would make the test below pass vacuously, as it once did.
    assert REAL_RELEASES, "no release tags and no release commits to recover them from"


@pytest.mark.parametrize("release", REAL_RELEASES, ids=str)
@pytest.mark.parametrize("answers", ANSWER_SETS)
def test_update_from_each_real_release_keeps_every_edit(
    template: TemplateRepo, tmp_path: Path, release: str, answers: dict[str, Any]
) -> None:
    service = render(template, tmp_path / "service", release, answers)
    edit_like_a_team(service)
    git_commit(service, "The team's edits")

    copier_update(service)

    assert recorded_release(service) == template.newest
    assert rejects(service) == []
    edited = {"README.md", "pyproject.toml", ".github/workflows/ci.yml"}
    assert conflicted(service) <= edited, "a conflict in a file only the template changed"
    assert_team_edits_survived(service)
    assert_green_and_idempotent(service)


@pytest.fixture
def current_service(template: TemplateRepo, tmp_path: Path) -> Path:
    return render(template, tmp_path / "service", template.newest, {})


def snapshot(service: Path) -> dict[str, str]:
    """Everything `git` sees of the service: HEAD, status and every file's text."""
    state = {
        "HEAD": run(["git", "rev-parse", "HEAD"], service).stdout,
        "status": run(["git", "status", "--porcelain"], service).stdout,
    }
    state.update({str(p): p.read_text(encoding="utf-8", errors="replace") for p in files(service)})
    return state


DIRTY_REFUSAL = (
    "template-update: 2 uncommitted change(s) in the working tree; commit or stash them"
    " first, so the update is a change of its own"
)
NO_REPOSITORY_REFUSAL = (
    "template-update: not a git repository; copier merges updates with git: `git init` and commit"
)


def test_template_update_refuses_a_dirty_tree_or_no_repository(current_service: Path) -> None:
    service = current_service
    (service / "README.md").write_text("work in progress\n", encoding="utf-8")
    (service / "notes.txt").write_text("not committed yet\n", encoding="utf-8")
    before = snapshot(service)

    dirty = template_update(service)

    assert dirty.returncode == 1, dirty.stdout + dirty.stderr
    assert task_lines(dirty.stderr) == [DIRTY_REFUSAL]
    assert "Traceback" not in dirty.stderr
    assert snapshot(service) == before

    shutil.move(service / ".git", service.parent / "git-aside")
    try:
        outside = template_update(service)
    finally:
        shutil.move(service.parent / "git-aside", service / ".git")
    assert outside.returncode == 1, outside.stdout + outside.stderr
    assert task_lines(outside.stderr) == [NO_REPOSITORY_REFUSAL]
    assert snapshot(service) == before


def test_template_update_stops_when_check_update_finds_nothing_new(current_service: Path) -> None:
    service = current_service
    before = snapshot(service)

    checked = template_update(service)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    newest = recorded_release(service)
    assert task_lines(checked.stdout) == [
        f"template-update: up to date with the template's newest release ({newest})"
    ]
    assert "Updating to template version" not in checked.stderr, "copier update ran anyway"
    assert snapshot(service) == before


def test_template_update_to_a_release_that_does_not_exist_is_one_line(
    current_service: Path,
) -> None:
    service = current_service
    before = snapshot(service)

    missing = template_update(service, "--vcs-ref", "v99.0.0-no-such-release")

    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert "Traceback" not in missing.stderr, missing.stderr
    (line,) = task_lines(missing.stderr)
    assert line.startswith("template-update: `copier update` failed (exit code 1): "), line
    assert "v99.0.0-no-such-release" in line, line
    assert snapshot(service) == before


RELATIVE_SOURCE_REFUSAL = (
    "template-update: the template location '.' (_src_path) holds no copier.yml, relative to "
    "this service: run `invoke template-update --src <the template's absolute path or git URL>` "
    "once (it records it), or write it as _src_path in .copier-answers.yml and commit"
)
# `--src` commits the location it records; a machine without a git identity needs one here.
IDENTITY = {
    f"GIT_{role}_{part}": value
    for role in ("AUTHOR", "COMMITTER")
    for part, value in (("NAME", "test"), ("EMAIL", "test@example.com"))
}


def test_template_update_names_the_fix_when_src_path_leads_nowhere(
    template: TemplateRepo, current_service: Path
) -> None:
    service = current_service
    answers = service / ".copier-answers.yml"
    text, count = re.subn(r"(?m)^_src_path: .*$", "_src_path: .", answers.read_text())
    assert count == 1
    answers.write_text(text, encoding="utf-8")
    git_commit(service, "The template's location as `copier copy ... . ../my-service` records it")
    before = snapshot(service)

    refused = template_update(service)
    elsewhere = template_update(service, "--src", str(service), env=IDENTITY)

    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert task_lines(refused.stderr) == [RELATIVE_SOURCE_REFUSAL]
    assert "Traceback" not in refused.stderr
    assert elsewhere.returncode == 1, elsewhere.stdout + elsewhere.stderr
    assert task_lines(elsewhere.stderr) == [
        f"template-update: --src {service}: the template location '{service}' holds no copier.yml"
    ]
    assert snapshot(service) == before

    fixed = template_update(service, "--src", str(template.path), env=IDENTITY)

    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert task_lines(fixed.stdout) == [
        (
            f"template-update: recorded the template at {template.path} in .copier-answers.yml "
            "(committed)"
        ),
        f"template-update: up to date with the template's newest release ({template.newest})",
    ]
    assert yaml.safe_load(answers.read_text())["_src_path"] == str(template.path)
    assert run(["git", "status", "--porcelain"], service).stdout == ""
    subject = run(["git", "log", "-1", "--format=%s"], service).stdout.strip()
    assert subject == f"Record the template's location for updates: {template.path}"


def test_template_update_opens_a_pull_request(template: TemplateRepo, tmp_path: Path) -> None:
    service = render(template, tmp_path / "service", template.older, {})
    env = pull_request_setup(service, tmp_path)
    origin = tmp_path / "origin.git"

    opened = template_update(service, "--pull-request", env=env)

    assert opened.returncode == 0, opened.stdout + opened.stderr
    branch = f"template-update/{template.newest}"
    assert f"template-update: opened {PULL_REQUEST_URL}" in opened.stdout
    pushed = run(["git", "log", "-1", "--format=%an%n%s", branch], origin).stdout.splitlines()
    title = f"Update from the template: {template.older} to {template.newest}"
    assert pushed == ["github-actions[bot]", title]
    answers = run(["git", "show", f"{branch}:.copier-answers.yml"], origin).stdout
    assert f"_commit: {template.newest}" in answers
    gh = gh_arguments(env)
    expected = ["pr", "create", "--base", "main", "--head", branch, "--title", title, "--body"]
    assert gh[: len(expected)] == expected
    body = "\n".join(gh[len(expected) :])
    assert "- `invoke ci`: passed" in body
    assert "- conflicts: none" in body

    # Next week's run finds the branch, so it opens no second pull request.
    run(["git", "switch", "--quiet", "main"], service)
    again = template_update(service, "--pull-request", env=env)

    assert again.returncode == 0, again.stdout + again.stderr
    assert f"branch {branch} exists already" in again.stdout
