"""`invoke ci`: run ci.yml's jobs on this machine the way GitHub's runner runs them.

Only what the workflow model (`model.py`) mirrors reaches here: a job parity refuses is
reported FAILED with parity's reason, never run differently. Jobs start when their `needs:`
are done (up to `--jobs` entries side by side, each job's output printed as one block,
with a live status line on a terminal, or `[job] line` streaming where output is not one);
`if:`, fail-fast, timeouts, continue-on-error and post-steps behave as on GitHub. A failed
job's reason is its task's own last line, so the summary says the cause, not a symptom.
"""

import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from invoke.collection import Collection
from invoke.exceptions import Exit

from devtasks import config
from devtasks.local import file_commands, tools, values
from devtasks.local.plan import (
    ALL_SELECTED,
    ASKED_NOTHING,
    HOST,
    Asked,
    Chosen,
    Event,
    Outcome,
    Place,
    Planned,
    Result,
    Scene,
    Selection,
    considered,
    job_gate,
    plan_entry,
    scene_of,
    selection_for,
    uncommitted_note,
)
from devtasks.local.processes import (
    GRACE_SECONDS,
    Interrupted,
    Process,
    Processes,
    sigterm_as_interrupt,
)
from devtasks.workflow import contexts, expressions, model, rules
from devtasks.workflow.contexts import Location

INTERRUPTED = 130
OUTPUT = file_commands.OUTPUT_VARIABLE
OUTPUTS = "github_output"  # the step's $GITHUB_OUTPUT, in its scratch directory
CONTAINER_OUTPUT = "/github/file_commands/output"
POLL_SECONDS = 0.2
# How often the status line is redrawn on a terminal, and printed as a line elsewhere.
STATUS_SECONDS = {True: 1.0, False: 15.0}
# Colours and cursor moves a task prints: not part of the line a reason quotes.
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class _Task:
    planned: Planned
    pid: int | None = None
    started: float | None = None

    @property
    def name(self) -> str:
        """`job` or `job [entry]`, as the log prefixes and the status line name it."""
        entry = self.planned.entry.label
        return self.planned.job.id if entry == "-" else f"{self.planned.job.id} [{entry}]"


class Run:
    """One `invoke ci`: jobs scheduled by `needs:`, up to `parallel` entries at once."""

    def __init__(  # noqa: PLR0913 - each a setting of the run
        self,
        scene: Scene,
        settings: config.Config,
        *,
        parallel: int = 1,
        fail_fast: bool = False,
        log: TextIO = sys.stdout,
        selection: Selection = ALL_SELECTED,
    ) -> None:
        """A run that has not started."""
        self.scene = scene
        self.selection = selection
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
        # Why running entries were stopped: by job id, or "" for every job (--fail-fast).
        self.cancelled_because: dict[str, str] = {}
        self.terminal = self.log.isatty()
        self.status_shown = False
        # Every secret the workflow reads is masked in each line this run prints.
        self.mask = values.Masker.for_workflow(scene.workflow)
        # Job outputs so far, merged over a job's entries in the order they finished.
        self.job_outputs: dict[str, dict[str, str]] = {}
        # `--fetch-tools` downloads, once per tool version: None, or why it failed.
        self.fetched: dict[str, str | None] = {}

    # -- output ------------------------------------------------------------------------------

    def _clear_status(self) -> None:
        with self.print_lock:
            if self.status_shown:
                self.log.write("\r\x1b[K")
                self.status_shown = False

    def _say(self, text: str) -> None:
        self._clear_status()
        with self.print_lock:
            print(self.mask(text), file=self.log, flush=True)

    def _status(self) -> str:
        now = time.monotonic()
        running = [t for t in list(self.running.values()) if t.started is not None]
        times = ", ".join(f"{t.name} {now - (t.started or now):.0f}s" for t in running)
        return f"[ci] running: {times}" if times else ""

    def _show_status(self, stop: threading.Event) -> None:
        """Which jobs run and for how long: redrawn in place on a terminal, else a line."""
        while not stop.wait(STATUS_SECONDS[self.terminal]):
            status = self._status()
            if not status:
                continue
            if not self.terminal:
                self._say(status)
                continue
            with self.print_lock:
                self.log.write(f"\r\x1b[K{status}")
                self.log.flush()
                self.status_shown = True

    def _pump(self, task: _Task, process: Process, sink: BinaryIO, last: list[str]) -> None:
        """Copy the task's output into its log; stream it (prefixed when jobs run side by side)."""
        assert process.stdout is not None  # noqa: S101 - started with a pipe
        grouped = self.parallel > 1
        for raw in iter(process.stdout.readline, b""):
            if sink.closed:  # the entry is over: an escaped grandchild's output is not its log
                return
            line = self.mask(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
            sink.write(line.encode("utf-8") + b"\n")
            # A progress bar redraws with \r: the line is what was drawn last.
            shown = ESCAPES.sub("", line.rsplit("\r", 1)[-1]).strip()
            if shown:
                last[0] = shown
            if not grouped:
                self._say(line)
            elif not self.terminal:
                self._say(f"[{task.name}] {line}")
        sink.flush()

    # -- one entry ---------------------------------------------------------------------------

    def _argv(self, planned: Planned, script: Path) -> list[str]:
        place = self.scene.place
        if not place.in_container:
            return [*planned.shell, str(script)]
        env = [arg for k, v in planned.env.items() for arg in ("--env", f"{k}={v}")]
        # The step's $GITHUB_OUTPUT, at a path inside the container.
        output = script.parent / OUTPUTS
        files = [
            "--volume",
            f"{output}:{CONTAINER_OUTPUT}",
            "--env",
            f"{OUTPUT}={CONTAINER_OUTPUT}",
        ]
        *options, image = place.prefix
        return [*options, *env, *files, image, *planned.shell, "-c", planned.script]

    def _spawn(self, task: _Task, scratch: Path) -> tuple[int, bool, bool, str]:
        """Run the entry's script; (exit code, timed out, cancelled, its last line of output)."""
        planned = task.planned
        script = scratch / "step.sh"
        script.write_text(planned.script + "\n", encoding="utf-8")
        header = f"\n==> {planned.job.id} [{planned.entry.label}]: {planned.script}"
        grouped = self.parallel > 1
        self._say(f"[{task.name}] started: {planned.script}" if grouped else header)
        output_path = scratch / "output.log"
        # The file the step writes its outputs to, empty to begin with, as the runner makes it.
        (scratch / OUTPUTS).write_text("", encoding="utf-8")
        last = [""]
        with output_path.open("wb") as output:
            process = self.processes.start(
                self._argv(planned, script),
                cwd=self.scene.root if self.scene.place.in_container else planned.cwd,
                env={**os.environ, **planned.env, OUTPUT: str(scratch / OUTPUTS)},
                output=subprocess.PIPE,
            )
            task.pid, task.started = process.pid, time.monotonic()
            # A daemon: a grandchild that escaped the group must not keep `invoke ci` alive.
            pump = threading.Thread(
                target=self._pump, args=(task, process, output, last), daemon=True
            )
            pump.start()
            timed_out = False
            try:
                code = process.wait(timeout=planned.timeout_seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
                self.processes.cancel({process.pid})
                code = process.wait()
            finally:
                self.processes.finished(process)
            # Such a grandchild may hold the pipe open: do not wait for it.
            pump.join(timeout=GRACE_SECONDS)
        if grouped:
            text = output_path.read_text(encoding="utf-8", errors="replace").rstrip()
            self._say(f"{header}\n{text}")
        cancelled = self.processes.was_cancelled(process) and not timed_out
        return code, timed_out, cancelled, last[0]

    def _scope(
        self, location: Location, planned: Planned, steps: dict[str, str], *, succeeded: bool
    ) -> expressions.Context:
        """The Context of a place after the task step: its outcome and outputs as `steps`."""
        return contexts.scope(
            location,
            self.scene.values,
            matrix=planned.matrix,
            needs=planned.needs,
            env=planned.job_env,
            steps=dict(steps),
            succeeded=succeeded,
        )

    def _post_step_failure(
        self, planned: Planned, steps: dict[str, str], *, succeeded: bool
    ) -> str | None:
        """Run the post-steps' checks GitHub's actions make: the files they publish exist."""
        step = planned.job.task_step
        index = step.index if step is not None else len(planned.job.steps)
        for post in planned.job.steps[index + 1 :]:
            rule = self.actions.get(post.action or "")
            if rule is None or rule.path_input is None:
                continue
            context = self._scope(Location.STEP_IF, planned, steps, succeeded=succeeded)
            if not expressions.condition(post.if_, context):
                continue
            inputs = self._scope(Location.STEP_WITH, planned, steps, succeeded=succeeded)
            if rule.fails_when is not None:
                key, value = rule.fails_when
                given = expressions.substitute(model.text_of(post.with_.get(key, "")), inputs)
                if given.strip().casefold() != value:
                    continue  # the action only warns about missing files
            raw = expressions.substitute(str(post.with_.get(rule.path_input, "")), inputs)
            wanted = [p.strip() for p in raw.split(rule.path_separator) if p.strip()]
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
            code, timed_out, cancelled, last = self._spawn(task, Path(scratch))
            try:
                outputs, file_error = file_commands.read_outputs(Path(scratch) / OUTPUTS), ""
            except file_commands.FileCommandError as error:
                # The runner fails the step: "Unable to process file command 'output'".
                outputs, file_error = {}, f"$GITHUB_OUTPUT cannot be processed: {error}"
        seconds = time.monotonic() - started
        outcome = self._judge(
            planned,
            code,
            seconds,
            timed_out=timed_out,
            cancelled=cancelled,
            last=last,
            outputs=outputs,
            file_error=file_error,
        )
        if self.parallel > 1:
            self._say(f"[{task.name}] {outcome.result.value} after {seconds:.1f} s")
        return outcome

    def _judge(  # noqa: PLR0913 - what one finished entry left behind
        self,
        planned: Planned,
        code: int,
        seconds: float,
        *,
        timed_out: bool,
        cancelled: bool,
        last: str,
        outputs: dict[str, str],
        file_error: str = "",
    ) -> Outcome:
        if cancelled:
            because = self.cancelled_because
            why = because.get(planned.job.id) or because.get("") or "stopped before it finished"
            return planned.outcome(Result.CANCELLED, seconds, why, exit_code=code)
        failure = ""
        if timed_out:
            failure = f"timed out after {planned.timeout_seconds / 60:g} minute(s)"
        elif code != 0:
            # The task's own last line (an Exit message, a failing command's last words).
            failure = last or f"exit code {code}"
        elif file_error:
            failure = file_error
        # A step with continue-on-error concludes as success: post-steps see success().
        step_ok = not failure or planned.step_continues
        steps = self._task_steps(planned, outputs, failed=bool(failure), step_ok=step_ok)
        post_failure = self._post_step_failure(planned, steps, succeeded=step_ok)
        self._record_outputs(planned, steps, succeeded=step_ok and not post_failure)
        if not failure and not post_failure:
            return planned.outcome(Result.PASSED, seconds, exit_code=code)
        reasons = "; ".join(r for r in (failure, post_failure) if r)
        if (step_ok and not post_failure) or planned.job_continues:
            reason = f"continue-on-error: {reasons}"
            return planned.outcome(Result.ALLOWED_FAILURE, seconds, reason, exit_code=code)
        return planned.outcome(Result.FAILED, seconds, reasons, exit_code=code)

    @staticmethod
    def _task_steps(
        planned: Planned, outputs: dict[str, str], *, failed: bool, step_ok: bool
    ) -> dict[str, str]:
        """The `steps` context after the task step: its outputs, outcome and conclusion."""
        step = planned.job.task_step
        if step is None or step.id is None:
            return {}
        found = {f"{step.id}.outputs.{name}": value for name, value in outputs.items()}
        found[f"{step.id}.outcome"] = "failure" if failed else "success"
        found[f"{step.id}.conclusion"] = "success" if step_ok else "failure"
        return found

    def _record_outputs(self, planned: Planned, steps: dict[str, str], *, succeeded: bool) -> None:
        """Evaluate the job's `outputs:` at the end of the entry, as the runner does."""
        if not planned.job.outputs:
            return
        context = self._scope(Location.JOB_OUTPUTS, planned, steps, succeeded=succeeded)
        found = {}
        for name, text in planned.job.outputs.items():
            value = expressions.substitute(text, context)
            if self.mask.contains_secret(value):
                # GitHub does not pass on an output that holds a secret.
                self._say(f"[{planned.job.id}] skip output '{name}' since it may contain secret")
                continue
            found[name] = value
        with self.print_lock:
            merged = self.job_outputs.setdefault(planned.job.id, {})
            # A matrix entry's empty value does not overwrite another entry's.
            merged.update({k: v for k, v in found.items() if v or k not in merged})

    def finished(self) -> dict[str, values.Finished]:
        """Each job done so far: its result as `needs.<job>.result`, and its outputs."""
        return {
            job_id: values.Finished(
                result=values.result_of(o.result.value for o in outcomes),
                outputs=self.job_outputs.get(job_id, {}),
            )
            for job_id, outcomes in self.outcomes.items()
            if self.left.get(job_id) == 0
        }

    # -- the graph ---------------------------------------------------------------------------

    def _succeeded(self, job_id: str) -> bool:
        outcomes = self.outcomes.get(job_id, [])
        return bool(outcomes) and all(o.result.succeeded for o in outcomes)

    def _say_what_stays_github(self, job: model.Job) -> None:
        """One line for each part of a starting job that only GitHub does: logins, approvals."""
        for setup in job.steps:
            rule = self.actions.get(setup.action or "")
            if rule is not None and rule.logs_in:
                self._say(
                    f"[{job.id}] {rule.name} logs in on GitHub; locally it does nothing: "
                    "the task uses this machine's own credentials"
                )
        if job.environment is not None:
            self._say(
                f"[{job.id}] environment `{job.environment.name}`: its protection rules "
                "(required reviewers, wait timer, deployment branches) are GitHub's, "
                "not enforced locally"
            )

    def _plan_job(self, job: model.Job) -> None:
        """Decide the job's `if:`, queue its runnable entries, record the rest."""
        needs = values.needs_values(job, self.finished())
        entries = [plan_entry(self.scene, entry, needs) for entry in job.entries()]
        gate = job_gate(job, self.scene.event, self._succeeded, self.selection, needs=needs)
        if gate.runs:
            self._say_what_stays_github(job)
        decided: list[Outcome] = []
        if not gate.selected:
            decided = [p.outcome(Result.NOT_SELECTED, reason=gate.reason) for p in entries]
        elif gate.refused:
            decided = [p.outcome(Result.FAILED, reason=gate.reason) for p in entries]
        if self.stopped and gate.selected:
            fix = "run without --fail-fast to see it"
            decided = [
                p.outcome(Result.SKIPPED, reason="--fail-fast: a job failed", fix=fix)
                for p in entries
            ]
        elif not gate.runs and not decided:
            decided = [p.outcome(Result.SKIPPED, reason=gate.reason, fix=gate.fix) for p in entries]
        elif gate.runs:
            decided = [o for p in entries if (o := self._queue_or_decide(p)) is not None]
        self.outcomes[job.id] = decided
        self.left[job.id] = len(entries) - len(decided)

    def _queue_or_decide(self, planned: Planned) -> Outcome | None:
        """Queue an entry whose job runs; or its outcome when it cannot run here."""
        if planned.refused:
            return planned.outcome(Result.FAILED, reason=planned.refused)
        if planned.skip:
            return planned.outcome(Result.SKIPPED, reason=planned.skip, fix=planned.skip_fix)
        if missing := self._download(planned):
            return missing
        self.queue.append(_Task(planned))
        return None

    def _download(self, planned: Planned) -> Outcome | None:
        """Fetch the pinned tools `--fetch-tools` asked for; a skip when one cannot be had."""
        for download in planned.downloads:
            if download.label not in self.fetched:
                self._say(
                    f"[{planned.job.id}] downloading {download.label} (SHA-256 checked) "
                    f"into {download.directory}"
                )
                self.fetched[download.label] = tools.obtain(download)
            if failed := self.fetched[download.label]:
                fix = download.tool.how_for(download.version)
                return planned.outcome(Result.SKIPPED, reason=failed, fix=fix)
        return None

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
            self.cancelled_because[""] = f"--fail-fast: {job.id} failed"
            self.processes.cancel({t.pid for t in self.running.values() if t.pid})
        elif job.fail_fast and len(job.matrix.combinations()) > 1:
            self._drop_queued(job.id, Result.CANCELLED, f"fail-fast: [{outcome.entry}] failed")
            self.cancelled_because[job.id] = f"fail-fast: [{outcome.entry}] failed"
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
        stop_status = threading.Event()
        if self.parallel > 1:
            threading.Thread(target=self._show_status, args=(stop_status,), daemon=True).start()
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
            finally:
                stop_status.set()
                self._clear_status()
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


def summary(outcomes: Sequence[Outcome], *, several: bool = False) -> str:
    """The job / matrix entry / result / seconds table, then why anything did not pass.

    With `several` workflows, each job is labelled `<workflow file>:<job>`.
    """

    def name(outcome: Outcome) -> str:
        return f"{Path(outcome.workflow).name}:{outcome.job}" if several else outcome.job

    rows = [("job", "matrix", "result", "seconds")]
    rows += [(name(o), o.entry, o.result.value, f"{o.seconds:.1f}") for o in outcomes]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [""]
    for index, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    lines += [
        f"{name(o)} [{o.entry}] {o.result.value}: {o.reason}"
        for o in outcomes
        if o.reason and o.result not in {Result.NOT_SELECTED, Result.NOT_TRIGGERED}
    ]
    # A workflow the event does not trigger: one line for it, with the rule that decided.
    not_run = {o.workflow: o.reason for o in outcomes if o.result is Result.NOT_TRIGGERED}
    lines += [f"{workflow}: not triggered: {rule}" for workflow, rule in not_run.items()]
    counts = {result: sum(o.result is result for o in outcomes) for result in Result}
    line = (
        f"ci: {counts[Result.PASSED]} passed, {counts[Result.FAILED]} failed, "
        f"{counts[Result.ALLOWED_FAILURE]} failed but allowed, "
        f"{counts[Result.SKIPPED]} skipped, {counts[Result.CANCELLED]} cancelled"
    )
    if counts[Result.NOT_SELECTED]:
        line += f", {counts[Result.NOT_SELECTED]} not selected"
    if counts[Result.NOT_TRIGGERED]:
        line += f", {counts[Result.NOT_TRIGGERED]} not triggered"
    lines.append(line)
    # Last, what to do: one line per job (not per entry) that failed or was skipped.
    fixes = {o.job: o.fix for o in outcomes if o.fix and o.result in TO_DO}
    lines += [f"to do: {job}: {fix}" for job, fix in fixes.items()]
    return "\n".join(lines)


TO_DO = frozenset({Result.FAILED, Result.CANCELLED, Result.SKIPPED})


def exit_code(outcomes: Sequence[Outcome]) -> int:
    """1 when anything failed or was cancelled, as GitHub marks the run failed; else 0."""
    return 1 if any(o.result in {Result.FAILED, Result.CANCELLED} for o in outcomes) else 0


def jobs_flag(text: str) -> int:
    """`--jobs` as a count of jobs to run side by side; anything else is one line."""
    try:
        jobs = int(text)
    except ValueError:
        message = f"ci: --jobs {text}: give 1 or more jobs to run side by side"
        raise Exit(message, code=1) from None
    require_side_by_side(jobs)
    return jobs


def require_side_by_side(jobs: int) -> None:
    """Stop in one line unless `--jobs` is a count of jobs to run side by side."""
    if jobs < 1:
        message = f"ci: --jobs {jobs}: give 1 or more jobs to run side by side"
        raise Exit(message, code=1)


@dataclass(frozen=True)
class Report:
    """What one `invoke ci` found, as the table or the JSON document."""

    chosen: Sequence[Chosen]
    event: Event
    outcomes: Sequence[Outcome]
    outputs: Mapping[str, object]
    code: int

    def as_json(self) -> str:
        """The JSON document: event, changed files, verdicts, exit code, entries, outputs."""
        chosen = self.chosen
        document = {
            "workflow": str(chosen[0].workflow.path) if len(chosen) == 1 else None,
            "event": self.event.name,
            "ref": self.event.ref,
            "changed": list(self.event.changed),
            "uncommitted": list(self.event.uncommitted),
            "workflows": [
                {
                    "workflow": str(c.workflow.path),
                    "verdict": c.decision.verdict.value,
                    "rule": c.decision.rule,
                }
                for c in chosen
            ],
            "exit_code": self.code,
            "entries": [o.as_json() for o in self.outcomes],
            "outputs": dict(self.outputs),
        }
        return json.dumps(document, indent=2)

    def table(self) -> str:
        """The summary table, then the uncommitted files a path filter left out, if any."""
        text = summary(self.outcomes, several=len(self.chosen) > 1)
        note = uncommitted_note(self.chosen, self.event)
        return f"{text}\n{note}" if note else text


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
    only: Sequence[str] = (),
    skip: Sequence[str] = (),
    asked: Asked = ASKED_NOTHING,
) -> list[Outcome]:
    """Run the workflows the event triggers here; print the table (or JSON); exit 1 on failure.

    ci.yml, or the one `asked.workflow` names, or every one with `asked.all_workflows`; a
    workflow the event does not trigger is reported not triggered, with the rule, never run.
    Ctrl-C exits 130. `tasks` is tasks.py's collection: its `@ci_task(needs_docker=True)`
    jobs skip without Docker.
    """
    require_side_by_side(jobs)
    chosen, settings, event = considered(root, event_name, ref, asked, tasks)
    triggered = [c.workflow for c in chosen if c.decision.runs]
    # With --json, stdout carries the JSON document only; job output goes to stderr.
    log = sys.stderr if as_json else sys.stdout
    outcomes: list[Outcome] = []
    outputs: dict[str, object] = {}
    runs: list[Run] = []
    interrupted = False
    with sigterm_as_interrupt():
        for each in chosen:
            label = str(each.workflow.path)
            if not each.decision.runs:
                outcomes += [
                    Outcome(
                        job.id, "", Result.NOT_TRIGGERED, 0.0, each.decision.rule, workflow=label
                    )
                    for job in each.workflow.jobs.values()
                ]
                continue
            selection = selection_for(each.workflow, only, skip, among=triggered)
            scene = scene_of(root, settings, each, place, tasks, fetch_tools=asked.fetch_tools)
            run = Run(
                scene, settings, parallel=jobs, fail_fast=fail_fast, log=log, selection=selection
            )
            runs.append(run)
            try:
                done = run.run()
            except Interrupted:
                interrupted = True
                done = run.all_outcomes()
            outcomes += [dataclasses.replace(o, workflow=label) for o in done]
            outputs.update(
                {
                    f"{label}:{job}" if len(chosen) > 1 else job: v
                    for job, v in run.job_outputs.items()
                }
            )
            if interrupted:
                break

    def mask(text: str) -> str:
        for run in runs:
            text = run.mask(text)
        return text

    code = INTERRUPTED if interrupted else exit_code(outcomes)
    report = Report(chosen, event, outcomes, outputs, code)
    print(mask(report.as_json() if as_json else report.table()))
    if interrupted:
        message = "ci: interrupted; every job was stopped"
        raise Exit(message, code=INTERRUPTED)
    if code:
        failed = sorted({o.job for o in outcomes if o.result in {Result.FAILED, Result.CANCELLED}})
        message = f"ci: failed: {', '.join(failed)}"
        raise Exit(message, code=1)
    return outcomes
