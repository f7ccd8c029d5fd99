"""Tasks that mirror the CI jobs one for one: `invoke ci` runs what CI runs.

The job graph lives in `.github/workflows/ci.yml` only; `invoke ci` reads it, and
`invoke parity` fails when the workflow and these tasks drift apart.
"""

import sys
from pathlib import Path

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

# The Docker modules are imported inside the tasks that need them: python_on_whales takes
# longer to import than `invoke parity` takes to run.
from devtasks import images, runner, update
from devtasks import parity as parity_check
from devtasks.jobs import ci_job, lint_python_and_github, reads_env, require_python, run

REPORTS = Path("reports")
CURRENT_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


@task
@ci_job()
def lint(c: Context) -> None:
    """Lint code, workflows and the Dockerfile, and check parity with CI."""
    lint_python_and_github(c)
    if Path("Dockerfile").exists():
        run(c, "hadolint", "Dockerfile")
    parity(c)


@task
@ci_job()
def typecheck(c: Context) -> None:
    """Type-check everything with mypy in strict mode."""
    run(c, "mypy")


@task(help={"python": "Python version to test on (default: the running one)"})
@ci_job()
def test(c: Context, python: str = CURRENT_PYTHON) -> None:
    """Run the test suite with coverage on one Python version, through nox."""
    require_python(python)
    REPORTS.mkdir(exist_ok=True)
    run(c, "nox", "--session", f"tests-{python}")


@task(help={"image": "Repository to tag and push (default: ghcr.io/<owner>/<name>)"})
@ci_job(env=(images.PUBLISH_ENV,))
def docker(_: Context, image: str = "") -> None:
    """Build the ci and prod images, test inside, run prod locked down, probe it; maybe push."""
    from devtasks import docker as docker_job  # noqa: PLC0415 - Docker tasks only

    docker_job.run_job(image or None)


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


@task
def parity(_: Context) -> None:
    """Fail when the workflows and these tasks disagree on what CI runs."""
    parity_check.enforce(ns)


@task(
    help={
        "fail_fast": "Stop at the first failed job instead of running the rest",
        "dry_run": "Print the jobs, matrix entries and commands without running them",
        "in_container": "Run the jobs inside the ci image (the docker job stays on the host)",
    }
)
def ci(
    c: Context,
    fail_fast: bool = False,  # noqa: FBT001, FBT002 - invoke flags
    dry_run: bool = False,  # noqa: FBT001, FBT002
    in_container: bool = False,  # noqa: FBT001, FBT002
) -> None:
    """Run every CI job, in the workflow's order, exactly as the workflow runs it."""
    if dry_run:
        runner.print_plan()
        return
    place = runner.HOST
    if in_container:
        from devtasks import container  # noqa: PLC0415 - Docker tasks only

        place = container.ci_image_place()
    runner.run_ci(c, fail_fast=fail_fast, place=place)


@task(
    help={
        "vcs_ref": "Template release (tag) to update to (default: the newest release)",
        "pull_request": "Commit to a branch, push it and open a pull request (needs GH_TOKEN)",
    }
)
@reads_env("GH_TOKEN")
def template_update(
    c: Context,
    vcs_ref: str = "",
    pull_request: bool = False,  # noqa: FBT001, FBT002 - invoke flags
) -> None:
    """Merge the template's newest release into this service, re-lock and run `invoke ci`."""
    update.update(c, vcs_ref=vcs_ref, pull_request=pull_request)


ns = Collection(
    lint, typecheck, test, docker, compose_config, format_code, parity, ci, template_update
)
