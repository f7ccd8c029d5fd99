"""`invoke parity` passes on a clean service and fails, naming the problem, on every drift."""

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers import run

Drift = Callable[[Path], None]


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    """Replace text in a file, failing loudly if the text is not there."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def workflow(project: Path) -> Path:
    return project / ".github/workflows/ci.yml"


def extra_run_step(project: Path) -> None:
    edit(
        workflow(project),
        "      - run: uv run --locked invoke lint\n",
        "      - run: uv run --locked invoke lint\n      - run: echo extra\n",
    )


def other_command(project: Path) -> None:
    edit(workflow(project), "uv run --locked invoke typecheck", "uv run mypy")


def unlocked_command(project: Path) -> None:
    edit(workflow(project), "uv run --locked invoke typecheck", "uv run invoke typecheck")


def foreign_action(project: Path) -> None:
    edit(
        workflow(project),
        "      - run: uv run --locked invoke lint\n",
        "      - uses: actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065 # v5.6.0\n"
        "      - run: uv run --locked invoke lint\n",
    )


def renamed_job(project: Path) -> None:
    edit(workflow(project), "  typecheck:\n", "  types:\n")


def removed_task(project: Path) -> None:
    edit(project / "tasks.py", "lint, typecheck, test, ", "lint, test, ")


def uncalled_ci_task(project: Path) -> None:
    edit(
        project / "tasks.py",
        "\n\nns = Collection(",
        '\n\n@task\n@ci_job()\ndef audit(c: Context) -> None:\n    """Audit."""\n\n\n'
        "ns = Collection(audit, ",
    )


def matrix_version_added(project: Path) -> None:
    text = workflow(project).read_text(encoding="utf-8")
    last = re.findall(r'          - "(3\.\d+)"\n', text)[-1]
    edit(
        workflow(project), f'          - "{last}"\n', f'          - "{last}"\n          - "3.14"\n'
    )


def classifier_added(project: Path) -> None:
    edit(
        project / "pyproject.toml",
        '    "Programming Language :: Python :: 3.13",\n',
        '    "Programming Language :: Python :: 3.13",\n'
        '    "Programming Language :: Python :: 3.14",\n',
    )


def python_version_file(project: Path) -> None:
    (project / ".python-version").write_text("3.12\n", encoding="utf-8")


def requires_python(project: Path) -> None:
    edit(project / "pyproject.toml", 'requires-python = ">=3.13"', 'requires-python = ">=3.12"')


def nox_restated(project: Path) -> None:
    edit(
        project / "noxfile.py",
        "@nox.session(python=PYTHON_VERSIONS)",
        '@nox.session(python=["3.13"])',
    )


def workflow_uv_pin(project: Path) -> None:
    edit(workflow(project), 'version: "0.13.9"', 'version: "0.13.8"')


def required_uv(project: Path) -> None:
    edit(project / "pyproject.toml", 'required-version = "==0.13.9"', 'required-version = ">=0.13"')


def new_env_var(project: Path) -> None:
    edit(
        workflow(project),
        "  lint:\n    runs-on: ubuntu-24.04\n",
        "  lint:\n    runs-on: ubuntu-24.04\n    env:\n      STRICTNESS: high\n",
    )


def step_env_var(project: Path) -> None:
    edit(
        workflow(project),
        "      - run: uv run --locked invoke typecheck\n",
        "      - run: uv run --locked invoke typecheck\n"
        "        env:\n          MYPY_FORCE_COLOR: 1\n",
    )


def pre_commit_pinned_elsewhere(project: Path) -> None:
    edit(
        project / ".pre-commit-config.yaml",
        "repos:\n",
        "repos:\n  - repo: https://github.com/astral-sh/ruff-pre-commit\n    rev: v0.1.0\n"
        "    hooks:\n      - id: ruff\n",
    )


def pre_commit_unlocked(project: Path) -> None:
    edit(project / ".pre-commit-config.yaml", "entry: uv run --locked mypy", "entry: mypy")


def dockerfile_python(project: Path) -> None:
    dockerfile = project / "Dockerfile"
    if not dockerfile.exists():
        pytest.skip("this service has no Dockerfile yet")
    text = dockerfile.read_text(encoding="utf-8")
    default = re.compile(r"^(ARG PYTHON_IMAGE=python:)3\.\d+-", re.MULTILINE)
    changed = default.sub(r"\g<1>3.12-", text)
    dockerfile.write_text(changed, "utf-8")


def dockerfile_uv(project: Path) -> None:
    dockerfile = project / "Dockerfile"
    if not dockerfile.exists():
        pytest.skip("this service has no Dockerfile yet")
    edit(dockerfile, "ghcr.io/astral-sh/uv:0.13.9", "ghcr.io/astral-sh/uv:0.13.8")


DRIFTS: list[tuple[Drift, str]] = [
    (extra_run_step, r"ci\.yml: job `lint` has 2 `run:` steps"),
    (other_command, r"ci\.yml: job `typecheck` runs `uv run mypy`"),
    (unlocked_command, r"ci\.yml: job `typecheck` runs `uv run invoke typecheck`"),
    (foreign_action, r"ci\.yml: job `lint` uses `actions/setup-python`, which is not environment"),
    (renamed_job, r"ci\.yml: job `types` calls `invoke typecheck`; a CI job and its task share"),
    (removed_task, r"ci\.yml: job `typecheck` calls `invoke typecheck`, no such task"),
    (uncalled_ci_task, r"task `audit` is marked as a CI job but no job in .*ci\.yml calls it"),
    (matrix_version_added, r"ci\.yml: job `test` tests Python .*3\.14; pyproject\.toml lists"),
    (classifier_added, r"ci\.yml: job `test` tests Python .*; pyproject\.toml lists .*3\.14"),
    (python_version_file, r"\.python-version: 3\.12; pyproject\.toml's oldest is 3\.13"),
    (requires_python, r"pyproject\.toml: requires-python must be `>=3\.13`"),
    (nox_restated, r"noxfile\.py: Python versions must come from nox\.project\.python_versions"),
    (
        workflow_uv_pin,
        r"ci\.yml: job `lint` sets up uv 0\.13\.8; pyproject\.toml requires 0\.13\.9",
    ),
    (required_uv, r"pyproject\.toml: \[tool\.uv\] required-version must pin uv exactly"),
    (new_env_var, r"ci\.yml: job `lint` sets STRICTNESS, which task `lint` does not declare"),
    (step_env_var, r"job `typecheck` sets MYPY_FORCE_COLOR, which task `typecheck` does not"),
    (pre_commit_pinned_elsewhere, r"ruff-pre-commit is pinned to 0\.1\.0; uv\.lock has ruff \d"),
    (pre_commit_unlocked, r"hook `mypy` runs `mypy`; local hooks must run `uv run --locked"),
    (dockerfile_python, r"Dockerfile: default base image is Python 3\.12; \.python-version says"),
    (dockerfile_uv, r"Dockerfile: copies uv 0\.13\.8; pyproject\.toml requires 0\.13\.9"),
]


@pytest.fixture(scope="module")
def synced_project(default_project: Path) -> Path:
    """The default service with its locked environment installed."""
    run(["uv", "sync", "--locked"], default_project)
    return default_project


def parity(project: Path, venv_of: Path) -> tuple[int, str]:
    """Run the service's own `invoke parity` (from its installed environment) in `project`."""
    result = run([str(venv_of / ".venv/bin/invoke"), "parity"], project, check=False)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.slow
def test_clean_service_passes(synced_project: Path) -> None:
    code, output = parity(synced_project, synced_project)
    assert code == 0, output
    assert "the workflows and the local tasks agree" in output


@pytest.mark.slow
@pytest.mark.parametrize(("drift", "message"), DRIFTS, ids=[d.__name__ for d, _ in DRIFTS])
def test_drift_fails_with_a_message(
    tmp_path: Path, synced_project: Path, drift: Drift, message: str
) -> None:
    project = tmp_path / "service"
    shutil.copytree(synced_project, project, ignore=shutil.ignore_patterns(".venv", ".git"))
    drift(project)
    code, output = parity(project, synced_project)
    assert code == 1, output
    assert re.search(message, output), output
    assert "parity: " in output.splitlines()[-1]


@pytest.mark.slow
def test_every_parity_rule_has_a_drift() -> None:
    rules = {
        "steps": {extra_run_step, other_command, foreign_action},
        "tasks": {renamed_job, removed_task, uncalled_ci_task},
        "python versions": {matrix_version_added, python_version_file, nox_restated},
        "uv version": {workflow_uv_pin, required_uv},
        "pre-commit": {pre_commit_pinned_elsewhere, pre_commit_unlocked},
        "environment": {new_env_var, step_env_var},
    }
    tested = {drift for drift, _ in DRIFTS}
    for rule, drifts in rules.items():
        assert drifts <= tested, rule
    assert len(DRIFTS) >= 10


@pytest.mark.slow
def test_ci_plan_follows_the_workflow_and_picks_up_a_new_job(
    tmp_path: Path, synced_project: Path
) -> None:
    project = tmp_path / "service"
    shutil.copytree(synced_project, project, ignore=shutil.ignore_patterns(".venv", ".git"))
    invoke = str(synced_project / ".venv/bin/invoke")
    before = run([invoke, "ci", "--dry-run"], project).stdout.splitlines()
    jobs = list(dict.fromkeys(line.split("\t")[0] for line in before))
    assert jobs[:3] == ["lint", "typecheck", "test"]
    edit(
        workflow(project),
        "  typecheck:\n",
        "  audit:\n    needs: [lint]\n    runs-on: ubuntu-24.04\n    timeout-minutes: 5\n"
        "    permissions:\n      contents: read\n    steps:\n"
        "      - run: uv run --locked invoke audit\n\n  typecheck:\n",
    )
    edit(
        project / "tasks.py",
        "\n\nns = Collection(",
        '\n\n@task\n@ci_job()\ndef audit(c: Context) -> None:\n    """Audit."""\n'
        '    print("audit ran")\n\n\nns = Collection(audit, ',
    )
    code, output = parity(project, synced_project)
    assert code == 0, output
    after = run([invoke, "ci", "--dry-run"], project).stdout.splitlines()
    assert "audit\t-\tuv run --locked invoke audit" in after
    order = [line.split("\t")[0] for line in after]
    assert order.index("lint") < order.index("audit")
