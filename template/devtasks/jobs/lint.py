"""The lint job's shared body: ruff, the GitHub files' schemas and zizmor."""

import os
from pathlib import Path

from invoke.context import Context

from devtasks import config
from devtasks.machine import run
from devtasks.workflow import reader


def lint_python_and_github(c: Context, settings: config.Config | None = None) -> None:
    """Ruff, then the GitHub files: workflow and Dependabot schemas, and zizmor's audits.

    The GitHub files are the repository's the service is checked out in (`[tool.shipshape]
    workspace`): the service's folder itself, or a monorepo's root, less the workflows
    `other-workflows` names. `settings`: the `[tool.shipshape]` the caller read (else read here,
    as a tasks.py older than the argument calls it).
    """
    run(c, "ruff", "check", ".")
    run(c, "ruff", "format", "--check", ".")
    here = Path.cwd()
    if settings is None:
        settings = config.load(here)
    workspace = settings.checkout(here)
    github = Path(os.path.relpath(workspace / ".github", here))
    workflows = [str(github.parent / path) for path in reader.workflow_paths(workspace, settings)]
    run(c, "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)
    dependabot = str(github / "dependabot.yml")
    run(c, "check-jsonschema", "--builtin-schema", "vendor.dependabot", dependabot)
    # The service's own GitHub files: another part's workflows (other-workflows) are theirs.
    run(c, "zizmor", "--offline", "--quiet", *workflows, dependabot)
