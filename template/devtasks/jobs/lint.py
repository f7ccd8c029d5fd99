"""The lint job's shared body: ruff, the GitHub files' schemas and zizmor."""

from pathlib import Path

from invoke.context import Context

from devtasks.machine import run


def lint_python_and_github(c: Context) -> None:
    """Ruff, then the GitHub files: workflow and Dependabot schemas, and zizmor's audits."""
    run(c, "ruff", "check", ".")
    run(c, "ruff", "format", "--check", ".")
    workflows = sorted(str(path) for path in Path(".github/workflows").glob("*.y*ml"))
    run(c, "check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)
    run(c, "check-jsonschema", "--builtin-schema", "vendor.dependabot", ".github/dependabot.yml")
    run(c, "zizmor", "--offline", "--quiet", ".github")
