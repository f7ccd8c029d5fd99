"""A publishing job waits for every job that runs on the same event.

A job publishes when it calls the `publish` task or logs in to a registry
(`docker/login-action`). GitHub starts it as soon as its own `needs:` pass, so a job a team
adds but leaves out of `publish.needs` could still be running, or fail, after the image was
pushed. For each event a publishing job can run on (a pull request, a push to the default
branch, a tag push), every other job whose `if:` is not false for that event must be among
its needs, directly or through the jobs it needs.
"""

from collections.abc import Iterable

from devtasks.config import Config
from devtasks.workflow import expressions, model

PUBLISHING_TASKS = frozenset({"publish"})
PUBLISHING_ACTIONS = frozenset({"docker/login-action"})


def publishes(job: model.Job) -> bool:
    """Whether the job pushes something out: the publish task, or a registry login."""
    return job.task in PUBLISHING_TASKS or any(
        step.action in PUBLISHING_ACTIONS for step in job.steps
    )


def events(settings: Config) -> list[dict[str, expressions.Value]]:
    """The github values of the events a publishing job is told apart by."""
    branch = settings.default_branch
    runs = [
        ("pull_request", "refs/pull/1/merge", branch),
        ("push", f"refs/heads/{branch}", ""),
        ("push", "refs/tags/v1.0.0", ""),
    ]
    return [
        {
            "github.event_name": name,
            "github.ref": ref,
            "github.ref_name": ref.split("/", 2)[2],
            "github.ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
            "github.base_ref": base,
            "github.head_ref": "feature" if base else "",
        }
        for name, ref, base in runs
    ]


def may_run(job: model.Job, values: dict[str, expressions.Value]) -> bool:
    """Whether the job's `if:` can be true on this event (it reads more than github: yes)."""
    context = expressions.Context(values=values, readable=frozenset({"github"}))
    try:
        return expressions.condition(job.if_, context)
    except expressions.ExpressionError:
        return True


def needed_by(job: model.Job, jobs: model.Workflow) -> set[str]:
    """The jobs this one needs, directly or through the jobs it needs."""
    found: set[str] = set()
    wanted = list(job.needs)
    while wanted:
        name = wanted.pop()
        if name not in found and name in jobs.jobs:
            found.add(name)
            wanted.extend(jobs.jobs[name].needs)
    return found


def check(workflows: Iterable[model.Workflow], settings: Config) -> list[str]:
    """One line per publishing job that does not wait for every job of its events."""
    problems = []
    for workflow in workflows:
        for job in workflow.jobs.values():
            if not publishes(job):
                continue
            waits = needed_by(job, workflow)
            # Jobs that wait for this one (a deploy after the push) run after it anyway.
            after = {o.id for o in workflow.jobs.values() if job.id in needed_by(o, workflow)}
            missing: set[str] = set()
            for values in events(settings):
                if may_run(job, values):
                    missing.update(
                        other.id
                        for other in workflow.jobs.values()
                        if other.id not in {job.id, *waits, *after} and may_run(other, values)
                    )
            if missing:
                names = ", ".join(sorted(missing))
                problems.append(
                    f"{job.path}: job `{job.id}` publishes without waiting for {names}: "
                    f"add {'them' if len(missing) > 1 else 'it'} to its `needs:`"
                )
    return problems
