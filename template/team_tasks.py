"""The team's own invoke tasks: this file is yours; the template renders it once, never again.

tasks.py (the template's) adds every task defined here to the collection, so
`uv run --locked invoke <name>` runs it. A `@ci_task` (from `devtasks.jobs`) is the task of a
CI job: add the job to `.github/workflows/ci.yml`, and `invoke parity` holds the two together
as it does the template's own (README: "Adding a CI job"). Deleting this file is fine too.
"""
