"""The template repo's own tasks: each CI job of `.github/workflows/ci.yml` is one task here.

The job runner and the parity check are the ones every generated service ships
(`template/devtasks`), so shipshape is held to its own promise.
"""

import os
import sys
from pathlib import Path

import yaml
from devtasks.checks import parity as parity_check
from devtasks.checks import seal
from devtasks.jobs import (
    ci_task,
    docker_missing,
    lint_python_and_github,
    require_python,
    run,
    update,
)
from devtasks.local import plan, runner
from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

import releasing

ROOT = Path(__file__).resolve().parent
# The harness is scripts, not a package; it is test machinery only.
sys.path.insert(0, str(ROOT / "harness"))
import base_images  # noqa: E402

os.chdir(ROOT)

CURRENT_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


@ci_task()
def lint(c: Context) -> None:
    """Lint the template repo's code and workflows, check its parity with CI, find conflicts."""
    update.check_no_conflict_markers(ROOT)
    lint_python_and_github(c)
    parity(c)


@ci_task()
def typecheck(c: Context) -> None:
    """Type-check the template repo's tasks, noxfile, harness and tests (strict)."""
    run(c, "mypy")


@ci_task(help={"python": "Python version to run the fast tier on (default: the running one)"})
def test(c: Context, python: str = CURRENT_PYTHON) -> None:
    """Run the template's fast test tier (render, validate, consistency) on one Python."""
    require_python(python)
    run(c, "nox", "--session", f"tests-{python}")


@ci_task(env=(base_images.PULL_ENV,))
def e2e(c: Context) -> None:
    """Render services and run their own `invoke ci`, lint and typecheck (slow tier)."""
    # The services' own `invoke ci` includes their docker job whenever an engine answers.
    if docker_missing() is None:
        base_images_task(c)
    run(c, "nox", "--session", "e2e")


@ci_task(env=(base_images.PULL_ENV,))
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
        built = base_images.ensure_base_images(
            uv_version,
            force=force,
            pull=pull or None,
            say=lambda line: print(f"base-images: {line}", flush=True),
        )
    except base_images.HarnessError as error:
        message = f"base-images: {error}"
        raise Exit(message, code=1) from None
    print(f"base-images: built {', '.join(built)}" if built else "base-images: all present")


@task(help={"rules": "Print the rules parity holds the workflows to, and stop"})
def parity(_: Context, rules: bool = False) -> None:  # noqa: FBT001, FBT002 - invoke flags
    """Fail when the template repo's workflow and these tasks disagree."""
    parity_check.task(ROOT, ns, rules_only=rules)


@task(name="seal")
def seal_devtasks(_: Context) -> None:
    """Record the hashes of template/devtasks/ that every service's parity checks."""
    print(f"seal: wrote {seal.write().relative_to(ROOT)}")


@task(
    help={
        "fail_fast": "Stop at the first failed job instead of running the rest",
        "dry_run": "Print the jobs, matrix entries and commands without running them",
        "jobs": "How many jobs to run side by side when their needs are met (default 1)",
        "json": "Print the results as JSON on stdout (job output goes to stderr)",
        "event": "The event to run for: pull_request (default) or push",
    }
)
def ci(
    _: Context,
    fail_fast: bool = False,  # noqa: FBT001, FBT002 - invoke flags
    dry_run: bool = False,  # noqa: FBT001, FBT002
    jobs: int = 1,
    json: bool = False,  # noqa: FBT001, FBT002
    event: str = "pull_request",
) -> None:
    """Run every CI job of the template repo, in the workflow's order."""
    if dry_run:
        plan.print_plan(ROOT, event, "", as_json=json, tasks=ns)
        return
    runner.run_ci(ROOT, event_name=event, jobs=jobs, fail_fast=fail_fast, as_json=json, tasks=ns)


@task(
    help={
        "version": "The release, MAJOR.MINOR.PATCH (tagged vMAJOR.MINOR.PATCH)",
        "date": "Release date for CHANGELOG.md, YYYY-MM-DD (default: today, UTC)",
    }
)
def release(c: Context, version: str, date: str = "") -> None:
    """Cut a template release: CHANGELOG's Unreleased becomes vX.Y.Z, committed and tagged."""
    releasing.release(c, version, date or None)


ns = Collection(
    lint, typecheck, test, e2e, docker, base_images_task, parity, seal_devtasks, ci, release
)
