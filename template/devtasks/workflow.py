"""Read the CI workflow: its jobs, their `needs:` order, matrices and the one task each calls."""

import itertools
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CI_WORKFLOW = Path(".github/workflows/ci.yml")
WORKFLOWS = Path(".github/workflows")
TASK_PREFIX = ("uv", "run", "--locked", "invoke")
DOCKER_SETUP = frozenset({"docker/setup-buildx-action", "docker/setup-qemu-action"})
MATRIX_REF = re.compile(r"\$\{\{\s*matrix\.([A-Za-z0-9_-]+)\s*\}\}")


class WorkflowError(Exception):
    """The workflow cannot be read as a job graph."""


@dataclass(frozen=True)
class Step:
    """One step of a job."""

    uses: str | None
    run: str | None
    env: Mapping[str, str] = field(default_factory=dict)
    with_: Mapping[str, Any] = field(default_factory=dict)

    @property
    def action(self) -> str | None:
        """The action's `owner/name`, without its ref."""
        return self.uses.split("@", 1)[0] if self.uses else None


@dataclass(frozen=True)
class Job:
    """One job of a workflow."""

    path: Path
    id: str
    needs: tuple[str, ...]
    matrix: Mapping[str, tuple[str, ...]]
    steps: tuple[Step, ...]
    env: Mapping[str, str]

    @property
    def needs_docker(self) -> bool:
        """Whether the job sets up Docker tooling, so it needs an engine to run."""
        return any(step.action in DOCKER_SETUP for step in self.steps)

    @property
    def run_steps(self) -> list[Step]:
        """The steps that run a shell command."""
        return [step for step in self.steps if step.run is not None]

    @property
    def command(self) -> list[str] | None:
        """The job's `uv run --locked invoke <task> ...` command, split, if it has exactly one."""
        return self.command_with({})

    def command_with(self, matrix: Mapping[str, str]) -> list[str] | None:
        """The job's task command with `${{ matrix.* }}` replaced by the given values."""
        runs = self.run_steps
        if len(runs) != 1 or runs[0].run is None:
            return None

        def value(match: re.Match[str]) -> str:
            return matrix.get(match.group(1), match.group(0))

        argv = shlex.split(MATRIX_REF.sub(value, runs[0].run))
        if tuple(argv[: len(TASK_PREFIX)]) != TASK_PREFIX or len(argv) <= len(TASK_PREFIX):
            return None
        return argv

    @property
    def task(self) -> str | None:
        """The invoke task the job calls."""
        argv = self.command
        return argv[len(TASK_PREFIX)] if argv else None

    def entries(self) -> Iterator["MatrixEntry"]:
        """Expand the job's matrix; a job without one has a single entry."""
        keys = sorted(self.matrix)
        for values in itertools.product(*(self.matrix[key] for key in keys)):
            chosen = dict(zip(keys, values, strict=True))
            yield MatrixEntry(job=self, values=chosen, argv=self.command_with(chosen) or [])


@dataclass(frozen=True)
class MatrixEntry:
    """One concrete run of a job: the job, its matrix values and its command."""

    job: Job
    values: Mapping[str, str]
    argv: list[str]

    @property
    def label(self) -> str:
        """`key=value` pairs, or '-' for a job without a matrix."""
        return ", ".join(f"{k}={v}" for k, v in self.values.items()) or "-"


def _as_list(value: object) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def _string_map(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _matrix(strategy: object, where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(strategy, dict):
        return {}
    matrix = strategy.get("matrix") or {}
    if isinstance(matrix, str) or not isinstance(matrix, dict):
        msg = f"{where}: only a literal matrix can be run locally"
        raise WorkflowError(msg)
    unsupported = {"include", "exclude"} & set(matrix)
    if unsupported:
        msg = f"{where}: matrix {', '.join(sorted(unsupported))} is not supported locally"
        raise WorkflowError(msg)
    return {str(k): tuple(str(v) for v in _as_list(values)) for k, values in matrix.items()}


def load(path: Path = CI_WORKFLOW) -> dict[str, Job]:
    """Parse a workflow file into its jobs, in file order."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        msg = f"{path}: cannot read the workflow ({error})"
        raise WorkflowError(msg) from error
    if not isinstance(document, dict) or not isinstance(document.get("jobs"), dict):
        msg = f"{path}: no `jobs:` mapping"
        raise WorkflowError(msg)
    jobs: dict[str, Job] = {}
    for job_id, body in document["jobs"].items():
        where = f"{path}: job `{job_id}`"
        if not isinstance(body, dict):
            msg = f"{where} is not a mapping"
            raise WorkflowError(msg)
        steps = tuple(
            Step(
                uses=step.get("uses"),
                run=step.get("run"),
                env=_string_map(step.get("env")),
                with_=dict(step.get("with") or {}),
            )
            for step in _as_list(body.get("steps"))
            if isinstance(step, dict)
        )
        jobs[str(job_id)] = Job(
            path=path,
            id=str(job_id),
            needs=tuple(str(n) for n in _as_list(body.get("needs"))),
            matrix=_matrix(body.get("strategy"), where),
            steps=steps,
            env={**_string_map(document.get("env")), **_string_map(body.get("env"))},
        )
    return jobs


def ordered(jobs: Mapping[str, Job]) -> list[Job]:
    """Jobs in an order that respects `needs:`, keeping file order among independent jobs."""
    done: list[Job] = []
    placed: set[str] = set()
    pending = list(jobs.values())
    while pending:
        ready = next((job for job in pending if set(job.needs) <= placed), None)
        if ready is None:
            names = ", ".join(job.id for job in pending)
            msg = f"jobs {names} need jobs that do not exist or form a cycle"
            raise WorkflowError(msg)
        pending.remove(ready)
        placed.add(ready.id)
        done.append(ready)
    return done


def all_workflows() -> dict[Path, dict[str, Job]]:
    """Every workflow of the repository, parsed."""
    return {path: load(path) for path in sorted(WORKFLOWS.glob("*.y*ml"))}
