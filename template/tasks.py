"""Tasks that mirror the CI jobs one for one: `invoke ci` runs what CI runs.

The job graph lives in `.github/workflows/ci.yml` only; `invoke ci` reads it, and
`invoke parity` fails when the workflows and these tasks drift apart (`invoke parity --rules`
prints what it holds). Add a job: a `@ci_task` here plus a job in ci.yml calling it.
"""

import contextlib
import os
import sys
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

# The Docker modules are imported inside the tasks that need them: python_on_whales takes
# longer to import than `invoke parity` takes to run.
from devtasks import config, plan, runner, update
from devtasks import parity as parity_check
from devtasks import security as security_checks
from devtasks.jobs import ci_task, lint_python_and_github, require_python, run

ROOT = Path(__file__).resolve().parent
REPORTS = Path("reports")
CURRENT_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
# Tasks run from the service's root, wherever `invoke` was started (it finds this file).
os.chdir(ROOT)


@ci_task()
def lint(c: Context) -> None:
    """Lint code, workflows and the Dockerfile; check parity with CI and leftover conflicts."""
    update.check_no_conflict_markers(ROOT)
    lint_python_and_github(c)
    if Path("Dockerfile").exists():
        run(c, "hadolint", "Dockerfile")
    parity(c)


@ci_task()
def typecheck(c: Context) -> None:
    """Type-check everything with mypy in strict mode."""
    run(c, "mypy")


@ci_task(help={"python": "Python version to test on (default: the running one)"})
def test(c: Context, python: str = CURRENT_PYTHON) -> None:
    """Run the test suite with coverage on one Python version, through nox."""
    require_python(python)
    REPORTS.mkdir(exist_ok=True)
    run(c, "nox", "--session", f"tests-{python}")


@ci_task()
def security(_: Context) -> None:
    """Audit uv.lock against OSV and scan the repository for secrets and misconfiguration."""
    security_checks.run_job(ROOT, config.load(ROOT))


@ci_task(help={"image": "Repository to tag (default: [tool.shipshape] image)"})
def docker(_: Context, image: str = "") -> None:
    """Build the ci and prod images, test inside, run prod locked down and probe it."""
    from devtasks import docker as docker_job  # noqa: PLC0415 - Docker tasks only

    docker_job.run_job(config.load(ROOT), image or None)


@ci_task(help={"image": "Repository to push to (default: [tool.shipshape] image)"})
def publish(_: Context, image: str = "") -> None:
    """Build, test and probe the images like `docker`, then push them from a tag or main."""
    from devtasks import docker as docker_job  # noqa: PLC0415 - Docker tasks only

    docker_job.run_job(config.load(ROOT), image or None, publish=True)


@task(name="compose-config")
def compose_config(_: Context) -> None:
    """Check that every combination of the compose files is valid."""
    from devtasks import docker as docker_job  # noqa: PLC0415 - Docker tasks only

    docker_job.compose_config()


@task(name="format")
def format_code(c: Context) -> None:
    """Fix what the linters can fix: ruff's safe fixes, then formatting."""
    run(c, "ruff", "check", "--fix", ".")
    run(c, "ruff", "format", ".")


@task(help={"rules": "Print the rules parity holds the workflows to, and stop"})
def parity(_: Context, rules: bool = False) -> None:  # noqa: FBT001, FBT002 - invoke flags
    """Fail when the workflows and these tasks disagree on what CI runs."""
    parity_check.task(ROOT, ns, rules_only=rules)


@task(
    help={
        "fail_fast": "Stop at the first failed job instead of running the rest",
        "dry_run": "Print the jobs, matrix entries and commands without running them",
        "in_container": "Run the jobs inside the ci image (the docker job stays on the host)",
        "jobs": "How many jobs to run side by side when their needs are met (default 1)",
        "json": "Print the results as JSON on stdout (job output goes to stderr)",
        "event": "The event to run for: pull_request (default) or push",
        "ref": "The git ref to run for (default: the PR merge ref, or the current branch)",
    }
)
def ci(  # noqa: PLR0913, PLR0917 - one parameter per flag
    c: Context,
    fail_fast: bool = False,  # noqa: FBT001, FBT002 - invoke flags
    dry_run: bool = False,  # noqa: FBT001, FBT002
    in_container: bool = False,  # noqa: FBT001, FBT002
    jobs: int = 1,
    json: bool = False,  # noqa: FBT001, FBT002
    event: str = "pull_request",
    ref: str = "",
) -> None:
    """Run every CI job, in the workflow's order, exactly as the workflow runs it."""
    del c
    if dry_run:
        plan.print_plan(ROOT, event, ref, as_json=json)
        return
    place = plan.HOST
    if in_container:
        from devtasks import container  # noqa: PLC0415 - Docker tasks only

        # With --json, stdout carries the results document only.
        with contextlib.redirect_stdout(sys.stderr if json else sys.stdout):
            place = container.ci_image_place()
    runner.run_ci(
        ROOT,
        event_name=event,
        ref=ref,
        jobs=jobs,
        fail_fast=fail_fast,
        place=place,
        as_json=json,
    )


@ci_task(
    workflow="template-update",
    env=(update.TOKEN_VARIABLE,),
    help={
        "vcs_ref": "Template release (tag) to update to (default: the newest release)",
        "pull_request": "Commit to a branch, push it and open a pull request (needs GH_TOKEN)",
    },
)
def template_update(
    c: Context,
    vcs_ref: str = "",
    pull_request: bool = False,  # noqa: FBT001, FBT002 - invoke flags
) -> None:
    """Merge the template's newest release into this service, re-lock and run `invoke ci`."""
    update.update(c, vcs_ref=vcs_ref, pull_request=pull_request)


ns = Collection(
    lint,
    typecheck,
    test,
    security,
    docker,
    publish,
    compose_config,
    format_code,
    parity,
    ci,
    template_update,
)
