"""`invoke changes`: which named parts of the repository a change touches, as job outputs.

The groups are `[tool.shipshape.changes]` (`backend = ["src/**", "uv.lock"]`, paths from the
repository root, as a `paths` filter's are, in a monorepo too); each becomes a
step output `true` or `false`, written to `$GITHUB_OUTPUT`, so later jobs can run only for
the parts that changed (`if: needs.changes.outputs.backend == 'true'`). The changed files
are the ones a workflow's `paths` filter sees, matched by the same patterns: the same code
decides on GitHub and under `invoke ci` (which sets `GITHUB_EVENT_NAME` and
`GITHUB_BASE_REF` as the runner does). A push on GitHub is compared from the commit its
event payload names as `before`. On GitHub, check out with `fetch-depth: 0`, so the base
branch and that commit are there to compare with.
"""

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit

from devtasks import config
from devtasks.jobs import ci_task
from devtasks.jobs.outputs import set_outputs
from devtasks.local.changed import changed_files, pushed_before
from devtasks.workflow import globs

ROOT = Path(__file__).resolve().parents[2]


def touched(groups: Mapping[str, Sequence[str]], files: Sequence[str]) -> dict[str, str]:
    """Each group's output: `true` when a changed file matches its patterns, else `false`."""
    return {
        name: "true" if any(globs.included(patterns, path) for path in files) else "false"
        for name, patterns in groups.items()
    }


def change_outputs(root: Path) -> dict[str, str]:
    """The outputs for this run's event, printing which files decided each group."""
    settings = config.load(root)
    if not settings.changes:
        message = (
            "changes: [tool.shipshape.changes] names no groups; add one, e.g. "
            'backend = ["src/**", "uv.lock"]'
        )
        raise Exit(message, code=1)
    event = os.environ.get("GITHUB_EVENT_NAME") or "pull_request"
    base = os.environ.get("GITHUB_BASE_REF") or settings.default_branch
    before = pushed_before(os.environ.get("GITHUB_EVENT_PATH")) if event == "push" else ""
    found = changed_files(settings.checkout(root), event, base, before=before)
    if found.problem:
        message = f"changes: {found.problem.removeprefix('ci: ')}"
        raise Exit(message, code=1)
    outputs = touched(settings.changes, found.committed)
    print(f"changes: {len(found.committed)} file(s) changed ({event}, {found.compared})")
    for name, value in outputs.items():
        first = next(
            (f for f in found.committed if globs.included(settings.changes[name], f)), None
        )
        print(f"changes: {name}={value}" + (f" ({first}, ...)" if first else ""))
    return outputs


@ci_task()
def changes(_: Context) -> None:
    """Which [tool.shipshape.changes] groups this change touches: one true/false output each."""
    set_outputs(change_outputs(ROOT))
