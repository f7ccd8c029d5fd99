"""`invoke ci`: run ci.yml's jobs on this machine the way GitHub's runner runs them.

Only what the workflow model (`model.py`) mirrors reaches here: a job parity refuses is
reported FAILED with parity's reason, never run differently. Jobs start when their `needs:`
are done (up to `--jobs` entries side by side, each job's output printed as one block);
`if:`, fail-fast, timeouts, continue-on-error and post-steps behave as on GitHub.
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from invoke.collection import Collection
from invoke.exceptions import Exit

from devtasks import config
from devtasks.jobs import docker_tasks
from devtasks.local.plan import (
    HOST,
    Event,
    Outcome,
    Place,
    Planned,
    Result,
    Scene,
    job_gate,
    load_ci,
    local_event,
    plan_entry,
)
from devtasks.local.processes import Interrupted, Processes, sigterm_as_interrupt
from devtasks.workflow import expressions, model, rules

INTERRUPTED = 130
POLL_SECONDS = 0.2


@dataclass
class _Task:
    planned: Planned
    pid: int | None = None


class Run:
    """One `invoke ci`: jobs scheduled by `needs:`, up to `parallel` entries at once."""

    def __init__(
        self,
        scene: Scene,
        settings: config.Config,
        *,
        parallel: int = 1,
        fail_fast: bool = False,
        log: TextIO = sys.stdout,
    ) -> None:
        """A run that has not started."""
        self.scene = scene
        self.actions = rules.action_rules(settings)
        self.parallel = max(1, parallel)
        self.fail_fast = fail_fast
        self.log = log
        self.processes = Processes()
        self.print_lock = threading.Lock()
        self.outcomes: dict[str, list[Outcome]] = {}
        self.left: dict[str, int] = {}  # entries of a started job not finished yet
        self.pending = model.ordered(scene.workflow.jobs)
        self.queue: list[_Task] = []
        self.running: dict[Future[Outcome], _Task] = {}
        self.stopped = False

    # -- one entry ---------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        with self.print_lock:
            print(text, file=self.log, flush=True)

    def _argv(self, planned: Planned, script: Path) -> list[str]:
        place = self.scene.place
        if not place.in_container:
            return [*planned.shell, str(script)]
        env = [arg for k, v in planned.env.items() for arg in ("--env", f"{k}={v}")]
        *options, image = place.prefix
        return [*options, *env, image, *planned.shell, "-c", planned.script]

    def _spawn(self, task: _Task, scratch: Path) -> tuple[int, bool, bool]:
        """Run the entry's script; (exit code, timed out, cancelled)."""
        planned = task.planned
        script = scratch / "step.sh"
        script.write_text(planned.script + "\n", encoding="utf-8")
        header = f"\n==> {planned.job.id} [{planned.entry.label}]: {planned.script}"
        grouped = self.parallel > 1
        output_path = scratch / "output.log"
        with output_path.open("wb") as output:
            if not grouped:
                self._say(header)
            fileno = output.fileno() if grouped else self.log.fileno()
            process = self.processes.start(
                self._argv(planned, script),
                cwd=self.scene.root if self.scene.place.in_container else planned.cwd,
                env={**os.environ, **planned.env},
                output=fileno if (grouped or self.log is not sys.stdout) else None,
            )
            task.pid = process.pid
            timed_out = False
            try:
                code = process.wait(timeout=planned.timeout_seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
                self.processes.cancel({process.pid})
                code = process.wait()
            finally:
                self.processes.finished(process)
        if grouped:
            text = output_path.read_text(encoding="utf-8", errors="replace").rstrip()
            self._say(f"{header}\n{text}")
        cancelled = self.processes.was_cancelled(process) and not timed_out
        return code, timed_out, cancelled

    def _post_step_failure(self, planned: Planned, *, succeeded: bool) -> str | None:
        """Run the post-steps' checks GitHub's actions make: the files they publish exist."""
        step = planned.job.task_step
        index = step.index if step is not None else len(planned.job.steps)
        for post in planned.job.steps[index + 1 :]:
            rule = self.actions.get(post.action or "")
            if rule is None or rule.path_input is None:
                continue
            context = expressions.Context(values=planned.context.values, succeeded=succeeded)
            if not expressions.condition(post.if_, context):
                continue
            if rule.name == "actions/upload-artifact" and (
                str(post.with_.get("if-no-files-found", "warn")) != "error"
            ):
                continue
            raw = expressions.substitute(str(post.with_.get(rule.path_input, "")), context)
            wanted = [line.strip() for line in raw.splitlines() if line.strip()]
            missing = [
                path
                for path in wanted
                if not path.startswith("!") and not any(self.scene.root.glob(path.rstrip("/")))
            ]
            if missing or not wanted:
                return f"{rule.name} finds no {', '.join(missing) or 'path'}"
        return None

    def execute(self, task: _Task) -> Outcome:
        """Run one entry and judge it as GitHub would."""
        planned = task.planned
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="invoke-ci-") as scratch:
            code, timed_out, cancelled = self._spawn(task, Path(scratch))
        seconds = time.monotonic() - started
        if cancelled:
            return planned.outcome(Result.CANCELLED, seconds, "cancelled", exit_code=code)
        failure = ""
        if timed_out:
            failure = f"timed out after {planned.timeout_seconds / 60:g} minute(s)"
        elif code != 0:
            failure = f"exit code {code}"
        # A step with continue-on-error concludes as success: post-steps see success().
        step_ok = not failure or planned.step_continues
        post_failure = self._post_step_failure(planned, succeeded=step_ok)
        if not failure and not post_failure:
            return planned.outcome(Result.PASSED, seconds, exit_code=code)
        reasons = "; ".join(r for r in (failure, post_failure) if r)
        if (step_ok and not post_failure) or planned.job_continues:
            reason = f"continue-on-error: {reasons}"
            return planned.outcome(Result.ALLOWED_FAILURE, seconds, reason, exit_code=code)
        return planned.outcome(Result.FAILED, seconds, reasons, exit_code=code)

    # -- the graph ---------------------------------------------------------------------------

    def _succeeded(self, job_id: str) -> bool:
        outcomes = self.outcomes.get(job_id, [])
        return bool(outcomes) and all(o.result.succeeded for o in outcomes)

    def _plan_job(self, job: model.Job) -> None:
        """Decide the job's `if:`, queue its runnable entries, record the rest."""
        entries = [plan_entry(self.scene, entry) for entry in job.entries()]
        gate = job_gate(job, self.scene.event, self._succeeded)
        decided: list[Outcome] = []
        if gate.refused:
            decided = [p.outcome(Result.FAILED, reason=gate.reason) for p in entries]
        if self.stopped:
            decided = [
                p.outcome(Result.SKIPPED, reason="--fail-fast: a job failed") for p in entries
            ]
        elif not gate.runs and not decided:
            decided = [p.outcome(Result.SKIPPED, reason=gate.reason) for p in entries]
        elif gate.runs:
            for planned in entries:
                if planned.refused:
                    decided.append(planned.outcome(Result.FAILED, reason=planned.refused))
                elif planned.skip:
                    decided.append(planned.outcome(Result.SKIPPED, reason=planned.skip))
                else:
                    self.queue.append(_Task(planned))
        self.outcomes[job.id] = decided
        self.left[job.id] = len(entries) - len(decided)

    def _start_ready_jobs(self) -> None:
        for job in list(self.pending):
            if all(self.left.get(need) == 0 for need in job.needs):
                self.pending.remove(job)
                self._plan_job(job)

    def _drop_queued(self, job_id: str | None, result: Result, reason: str) -> None:
        for task in [t for t in self.queue if job_id in {None, t.planned.job.id}]:
            self.queue.remove(task)
            self._record(task.planned.outcome(result, reason=reason))

    def _record(self, outcome: Outcome) -> None:
        self.outcomes.setdefault(outcome.job, []).append(outcome)
        self.left[outcome.job] -= 1

    def _on_failure(self, task: _Task, outcome: Outcome) -> None:
        job = task.planned.job
        if self.fail_fast:
            self.stopped = True
            self._drop_queued(None, Result.SKIPPED, "--fail-fast: a job failed")
            self.processes.cancel({t.pid for t in self.running.values() if t.pid})
        elif job.fail_fast and len(job.matrix.combinations()) > 1:
            self._drop_queued(job.id, Result.CANCELLED, f"fail-fast: [{outcome.entry}] failed")
            pids = {t.pid for t in self.running.values() if t.planned.job.id == job.id and t.pid}
            self.processes.cancel(pids)

    def _collect(self) -> None:
        done, _ = wait(self.running, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
        for future in done:
            task = self.running.pop(future)
            outcome = future.result()
            self._record(outcome)
            if outcome.result is Result.FAILED:
                self._on_failure(task, outcome)

    def run(self) -> list[Outcome]:
        """Run every job; on Ctrl-C or SIGTERM stop all of it at once and raise Interrupted."""
        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            try:
                while True:
                    self._start_ready_jobs()
                    while self.queue and len(self.running) < self.parallel:
                        task = self.queue.pop(0)
                        self.running[pool.submit(self.execute, task)] = task
                    if not self.running:
                        break
                    self._collect()
            except KeyboardInterrupt:
                self.processes.cancel()
                for future, task in self.running.items():
                    future.cancel()
                    self.outcomes.setdefault(task.planned.job.id, []).append(
                        task.planned.outcome(Result.CANCELLED, reason="interrupted")
                    )
                raise Interrupted from None
        return self.all_outcomes()

    def all_outcomes(self) -> list[Outcome]:
        """Outcomes in workflow order, each job's entries in matrix order."""
        jobs = model.ordered(self.scene.workflow.jobs)
        order = {job.id: index for index, job in enumerate(jobs)}
        labels = {
            (job.id, entry.label): index
            for job in jobs
            for index, entry in enumerate(job.entries())
        }
        found = [outcome for outcomes in self.outcomes.values() for outcome in outcomes]
        return sorted(found, key=lambda o: (order[o.job], labels.get((o.job, o.entry), 0)))


def summary(outcomes: Sequence[Outcome]) -> str:
    """The job / matrix entry / result / seconds table, then why anything did not pass."""
    rows = [("job", "matrix", "result", "seconds")]
    rows += [(o.job, o.entry, o.result.value, f"{o.seconds:.1f}") for o in outcomes]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [""]
    for index, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    lines += [f"{o.job} [{o.entry}] {o.result.value}: {o.reason}" for o in outcomes if o.reason]
    counts = {result: sum(o.result is result for o in outcomes) for result in Result}
    lines.append(
        f"ci: {counts[Result.PASSED]} passed, {counts[Result.FAILED]} failed, "
        f"{counts[Result.ALLOWED_FAILURE]} failed but allowed, "
        f"{counts[Result.SKIPPED]} skipped, {counts[Result.CANCELLED]} cancelled"
    )
    return "\n".join(lines)


def exit_code(outcomes: Sequence[Outcome]) -> int:
    """1 when anything failed or was cancelled, as GitHub marks the run failed; else 0."""
    return 1 if any(o.result in {Result.FAILED, Result.CANCELLED} for o in outcomes) else 0


def run_ci(  # noqa: PLR0913 - each a flag of `invoke ci`
    root: Path,
    *,
    event_name: str = "pull_request",
    ref: str = "",
    jobs: int = 1,
    fail_fast: bool = False,
    place: Place = HOST,
    as_json: bool = False,
    tasks: Collection | None = None,
) -> list[Outcome]:
    """Run ci.yml's jobs here; print the table (or JSON); exit 1 on failure, 130 on Ctrl-C.

    `tasks` is tasks.py's collection: its `@ci_task(needs_docker=True)` jobs skip without Docker.
    """
    workflow, settings = load_ci(root, tasks)
    event: Event = local_event(root, event_name, ref, settings)
    pinned = (root / ".python-version").read_text(encoding="utf-8").strip()
    scene = Scene(root, workflow, event, place, pinned, docker_tasks(tasks))
    # With --json, stdout carries the JSON document only; job output goes to stderr.
    log = sys.stderr if as_json else sys.stdout
    run = Run(scene, settings, parallel=jobs, fail_fast=fail_fast, log=log)
    interrupted = False
    with sigterm_as_interrupt():
        try:
            outcomes = run.run()
        except Interrupted:
            interrupted = True
            outcomes = run.all_outcomes()
    code = INTERRUPTED if interrupted else exit_code(outcomes)
    if as_json:
        document = {
            "workflow": str(rules.CI_WORKFLOW),
            "event": event.name,
            "ref": event.ref,
            "exit_code": code,
            "entries": [o.as_json() for o in outcomes],
        }
        print(json.dumps(document, indent=2))
    else:
        print(summary(outcomes))
    if interrupted:
        message = "ci: interrupted; every job was stopped"
        raise Exit(message, code=INTERRUPTED)
    if code:
        failed = sorted({o.job for o in outcomes if o.result in {Result.FAILED, Result.CANCELLED}})
        message = f"ci: failed: {', '.join(failed)}"
        raise Exit(message, code=1)
    return outcomes
