"""A service made at v0.1.0 updates across every breaking change since, keeping every edit.

v0.1.0 is the real release (its tag recovered from its release commit in the copy,
`template_repo`); the working tree is tagged as the next release. The service is edited the
way teams edit (`test_update.edit_like_a_team`) and gets a task of its own with its job in
ci.yml, written the v0.1.0 way (`@task` then `@ci_job(env=...)`, the task added to the one-line
task list, the job appended to ci.yml); in one variant the team also changed release.yml.
The update runs copier.yml's migrations for the next release (migrations/removed.py,
ci_jobs.py, ci_tasks.py, move_team_tasks.py); afterwards the team's task, moved to
team_tasks.py, still runs as a job of `invoke ci`,
`invoke parity` passes, `invoke ci` is green and a second update changes nothing.
"""

import ast
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from devtasks.jobs import docker_missing

from helpers import copy_project, git_commit, run
from template_repo import clone_with_worktree, next_release, release_tags
from test_update import (
    COPIER_UPDATE,
    TEAM_TEST_TIMEOUT,
    assert_team_edits_survived,
    conflicted,
    edit_like_a_team,
    job_timeout,
    keep_ours,
    recorded_release,
    rejects,
    replace_once,
    set_job_timeout,
)

pytestmark = pytest.mark.slow

FIRST_RELEASE = "v0.1.0"
CI_YML = Path(".github/workflows/ci.yml")
RELEASE_YML = Path(".github/workflows/release.yml")

# The team's task, written the v0.1.0 way, and what the migration makes of it.
TEAM_TASK = '''

@task(help={"greeting": "What to say (default: $SMOKE_GREETING)"})
@ci_job(env=("SMOKE_GREETING",))
def smoke(c: Context, greeting: str = "") -> None:
    """Say the job's greeting: the service's own CI job."""
    script = "import os, sys; print(sys.argv[1] or os.environ['SMOKE_GREETING'])"
    run(c, "python", "-c", script, greeting)
'''
MIGRATED_DECORATOR = (
    '@ci_task(env=("SMOKE_GREETING",), help={"greeting": "What to say (default: '
    '$SMOKE_GREETING)"})\ndef smoke('
)
TEAM_GREETING = "hello from the team's own job"
TEAM_RELEASE_TIMEOUT = 45


@dataclass(frozen=True)
class Template:
    """A throwaway copy of shipshape with its real releases and the working tree as the next."""

    path: Path
    newest: str


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    assert FIRST_RELEASE in release_tags(), f"{FIRST_RELEASE} has no tag and no release commit"
    repo = clone_with_worktree(tmp_path_factory.mktemp("breaking") / "shipshape")
    newest = next_release()
    run(["git", "tag", newest], repo)
    return Template(repo, newest)


def add_team_job_the_v0_1_0_way(service: Path) -> None:
    """A task of the team's own in tasks.py and the task list, and its job at the end of ci.yml."""
    tasks = service / "tasks.py"
    replace_once(tasks, "\n\nns = Collection(", TEAM_TASK + "\n\nns = Collection(")
    text = tasks.read_text(encoding="utf-8")
    listed = re.search(r"^ns = Collection\(\n    (.*)\n\)\n", text, re.MULTILINE)
    assert listed, "v0.1.0's task list has changed shape; refresh this test"
    replace_once(tasks, listed.group(1), f"{listed.group(1)}, smoke")
    workflow = service / CI_YML
    ci = workflow.read_text(encoding="utf-8")
    typecheck = re.search(r"^  typecheck:\n(?:(?!  \S).*\n|\n)*", ci, re.MULTILINE)
    assert typecheck, "v0.1.0's ci.yml has no typecheck job; refresh this test"
    job = typecheck.group(0).rstrip("\n").replace("typecheck", "smoke")
    job += f"\n        env:\n          SMOKE_GREETING: {TEAM_GREETING}\n"
    workflow.write_text(f"{ci}\n{job}", encoding="utf-8")


def migration_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("migration:")]


def ci_results(service: Path) -> dict[str, str]:
    """`invoke ci --json`: each entry's result, by job (and matrix entry)."""
    argv = ["uv", "run", "--locked", "invoke", "ci", "--json"]
    ran = run(argv, service, check=False, timeout=1800)
    report = json.loads(ran.stdout)
    results = {f"{e['job']} {e['entry']}".strip(" -"): e["result"] for e in report["entries"]}
    assert ran.returncode == 0, f"{results}\n{ran.stderr[-6000:]}"
    return results


def assert_team_job_migrated(service: Path) -> None:
    """The team's task is a @ci_task in team_tasks.py, its job is in ci.yml where it was."""
    tasks = (service / "tasks.py").read_text(encoding="utf-8")
    team = (service / "team_tasks.py").read_text(encoding="utf-8")
    assert MIGRATED_DECORATOR in team
    assert "def smoke(" not in tasks
    assert not re.search(r"\b(ci_job|reads_env)\b", tasks + team)
    listed = [
        node.value
        for node in ast.parse(tasks).body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "ns"
    ]
    assert "smoke" not in ast.unparse(listed[0]), "tasks.py still lists the team's task"
    workflow = (service / CI_YML).read_text(encoding="utf-8")
    jobs = yaml.safe_load(workflow)["jobs"]
    assert jobs["smoke"]["steps"][-1] == {
        "run": "uv run --locked invoke smoke",
        "env": {"SMOKE_GREETING": TEAM_GREETING},
    }
    order = list(jobs)
    assert order.index("smoke") == order.index("docker") + 1, "the team's job moved"
    assert job_timeout(workflow, "test") == TEAM_TEST_TIMEOUT
    assert not (service / "devtasks" / "workflow.py").exists()


@pytest.mark.parametrize("release_yml", ["untouched", "changed"])
def test_update_from_v0_1_0_keeps_every_edit_and_the_team_s_job(
    template: Template, tmp_path: Path, release_yml: str
) -> None:
    service = copy_project(tmp_path / "service", template=template.path, vcs_ref=FIRST_RELEASE)
    edit_like_a_team(service)
    add_team_job_the_v0_1_0_way(service)
    release = service / RELEASE_YML
    team_release = release.read_text(encoding="utf-8")
    if release_yml == "changed":
        team_release = team_release.replace(
            "timeout-minutes: 30", f"timeout-minutes: {TEAM_RELEASE_TIMEOUT}"
        )
        release.write_text(team_release, encoding="utf-8")
    # The team's edits are a valid v0.1.0 service: its own parity check agrees.
    run(["uv", "run", "--locked", "invoke", "parity"], service)
    git_commit(service, "The team's edits")

    updated = run([sys.executable, "-m", "copier", *COPIER_UPDATE], service, timeout=900)

    assert recorded_release(service) == template.newest
    assert rejects(service) == []
    assert conflicted(service) == set(), updated.stderr
    assert run(["git", "ls-files", "--unmerged"], service).stdout == ""
    assert_team_edits_survived(service)
    assert_team_job_migrated(service)
    lines = migration_lines(updated.stderr)
    assert "migration: tasks.py: smoke declared with one @ci_task now" in lines
    assert "migration: tasks.py: the task list is the template's and yours (smoke)" in lines
    moved = (
        "migration: tasks.py: smoke moved to team_tasks.py, which is yours: updates never touch it"
    )
    assert moved in lines
    waits = f"migration: {CI_YML}: publish waits for your job(s) smoke now (its `needs:`)"
    assert any(line.startswith(waits) for line in lines), lines

    if release_yml == "changed":
        assert release.read_text(encoding="utf-8") == team_release
        assert any(line.startswith(f"migration: {RELEASE_YML}: kept") for line in lines)
        parity = run(["uv", "run", "--locked", "invoke", "parity"], service, check=False)
        assert parity.returncode == 1
        # The kept file's jobs call ci.yml's tasks, which parity refuses, naming the file.
        said = parity.stdout + parity.stderr
        assert f"parity: {RELEASE_YML}: job `docker` calls `invoke docker`" in said, said
        # The team moves its change to where publishing is now, and deletes the file.
        set_job_timeout(service / CI_YML, "publish", TEAM_RELEASE_TIMEOUT)
        release.unlink()
    else:
        assert not release.exists()
        assert not any(str(RELEASE_YML) in line for line in lines)

    for name in conflicted(service):
        keep_ours(service / name)
    run(["uv", "lock", "--check"], service)
    run(["uv", "run", "--locked", "invoke", "parity"], service)
    results = ci_results(service)
    assert results["smoke"] == "passed"
    # publish runs for a push only; the Docker jobs are skipped (with the reason) without Docker.
    not_run = {"publish"} | ({"docker", "publish"} if docker_missing() else set())
    assert {job for job, result in results.items() if result != "passed"} == not_run
    git_commit(service, "Update from the template")
    again = run([sys.executable, "-m", "copier", *COPIER_UPDATE], service, timeout=900)
    status = run(["git", "status", "--porcelain"], service).stdout
    assert status == "", f"a second update changed the service:\n{status}"
    assert migration_lines(again.stderr) == []
