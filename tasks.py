"""The template repo's own tasks: each CI job of `.github/workflows/ci.yml` is one task here.

The job runner and the parity check are the ones every generated service ships
(`template/devtasks`), so shipshape is held to its own promise.
"""

import sys
from pathlib import Path

import yaml
from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "template"))
sys.path.insert(0, str(ROOT / "harness"))

import base_images  # noqa: E402 - a harness script
from devtasks import parity as parity_check  # noqa: E402 - the template's own machinery
from devtasks import runner  # noqa: E402
from devtasks.jobs import ci_job, lint_python_and_github, require_python, run  # noqa: E402

import releasing  # noqa: E402 - needs the template on the path too

CURRENT_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


@task
@ci_job()
def lint(c: Context) -> None:
    """Lint the template repo's code and workflows, and check its parity with CI."""
    lint_python_and_github(c)
    parity(c)


@task
@ci_job()
def typecheck(c: Context) -> None:
    """Type-check the template repo's tasks, noxfile, harness and tests (strict)."""
    run(c, "mypy")


@task(help={"python": "Python version to run the fast tier on (default: the running one)"})
@ci_job()
def test(c: Context, python: str = CURRENT_PYTHON) -> None:
    """Run the template's fast test tier (render, validate, consistency) on one Python."""
    require_python(python)
    run(c, "nox", "--session", f"tests-{python}")


@task
@ci_job(env=(base_images.PULL_ENV,))
def e2e(c: Context) -> None:
    """Render services and run their own `invoke ci`, lint and typecheck (slow tier)."""
    # The services' own `invoke ci` includes their docker job whenever an engine answers.
    if runner.docker_available():
        base_images_task(c)
    run(c, "nox", "--session", "e2e")


@task
@ci_job(env=(base_images.PULL_ENV,))
def docker(c: Context) -> None:
    """Build, run and probe rendered services' images and compose stacks (docker tier)."""
    run(c, "nox", "--session", "docker")


@task(
    name="base-images",
    help={
        "force": "Rebuild the stand-ins that exist",
        "pull": "Try `docker pull` first (default: SHIPSHAPE_PULL_BASE_IMAGES=1)",
    },
)
def base_images_task(_: Context, force: bool = False, pull: bool = False) -> None:  # noqa: FBT001, FBT002
    """Make the base images the generated Dockerfile names present: kept, pulled or built."""
    # The uv image the generated Dockerfile copies from: copier.yml's uv_version.
    copier = yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))
    uv_version = str(copier["uv_version"]["default"])
    try:
        built = base_images.ensure_base_images(uv_version, force=force, pull=pull or None)
    except base_images.HarnessError as error:
        message = f"base-images: {error}"
        raise Exit(message, code=1) from None
    print(f"base-images: built {', '.join(built)}" if built else "base-images: all present")


@task
def parity(_: Context) -> None:
    """Fail when the template repo's workflow and these tasks disagree."""
    parity_check.enforce(ns)


@task(
    help={
        "fail_fast": "Stop at the first failed job instead of running the rest",
        "dry_run": "Print the jobs, matrix entries and commands without running them",
    }
)
def ci(c: Context, fail_fast: bool = False, dry_run: bool = False) -> None:  # noqa: FBT001, FBT002
    """Run every CI job of the template repo, in the workflow's order."""
    if dry_run:
        runner.print_plan()
        return
    runner.run_ci(c, fail_fast=fail_fast)


@task(
    help={
        "version": "The release, MAJOR.MINOR.PATCH (tagged vMAJOR.MINOR.PATCH)",
        "date": "Release date for CHANGELOG.md, YYYY-MM-DD (default: today, UTC)",
    }
)
def release(c: Context, version: str, date: str = "") -> None:
    """Cut a template release: CHANGELOG's Unreleased becomes vX.Y.Z, committed and tagged."""
    releasing.release(c, version, date or None)


ns = Collection(lint, typecheck, test, e2e, docker, base_images_task, parity, ci, release)
