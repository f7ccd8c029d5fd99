"""`invoke parity` passes on a clean service and fails, naming the problem, on every drift."""

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from devtasks.checks import parity as parity_checks
from devtasks.workflow import rules

from helpers import git_commit, run

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


def or_true(project: Path) -> None:
    edit(
        workflow(project),
        "uv run --locked invoke typecheck",
        "uv run --locked invoke typecheck || true",
    )


def second_line(project: Path) -> None:
    edit(
        workflow(project),
        "      - run: uv run --locked invoke typecheck\n",
        "      - run: |\n          uv run --locked invoke typecheck\n          echo done\n",
    )


def typecheck_words(words: str) -> Drift:
    """The typecheck job's task call with `words` after the task name."""

    def drift(project: Path) -> None:
        edit(
            workflow(project),
            "uv run --locked invoke typecheck\n",
            f"uv run --locked invoke typecheck {words}\n",
        )

    kind = "option" if words.startswith("-") else "word"
    drift.__name__ = f"typecheck_{kind}_{words.strip('-')}"
    return drift


TYPECHECK_HELP = typecheck_words("--help")


def matrix_python_help(project: Path) -> None:
    edit(
        workflow(project),
        "invoke test --python ${{ matrix.python-version }}",
        "invoke test --python ${{ matrix.python-version }} --help",
    )


def foreign_action(project: Path) -> None:
    edit(
        workflow(project),
        "      - run: uv run --locked invoke lint\n",
        "      - uses: actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065 # v5.6.0\n"
        "      - run: uv run --locked invoke lint\n",
    )


def unpinned_action(project: Path) -> None:
    edit(
        workflow(project),
        "actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8 # v5.0.0",
        "actions/checkout@v5",
    )


def job_key(key: str, value: str) -> Drift:
    def drift(project: Path) -> None:
        edit(
            workflow(project),
            "  lint:\n    runs-on: ubuntu-24.04\n",
            f"  lint:\n    runs-on: ubuntu-24.04\n    {key}: {value}\n",
        )

    drift.__name__ = f"job_{key.replace('-', '_')}"
    return drift


def step_key(key: str, value: str) -> Drift:
    def drift(project: Path) -> None:
        edit(
            workflow(project),
            "      - run: uv run --locked invoke lint\n",
            f"      - run: uv run --locked invoke lint\n        {key}: {value}\n",
        )

    drift.__name__ = f"step_{key.replace('-', '_')}"
    return drift


def windows_runner(project: Path) -> None:
    edit(
        workflow(project),
        "  lint:\n    runs-on: ubuntu-24.04\n",
        "  lint:\n    runs-on: windows-2022\n",
    )


def needs_nothing(project: Path) -> None:
    edit(workflow(project), "needs: [lint, typecheck]", "needs: [lint, typecheck, tests]")


def no_pull_request(project: Path) -> None:
    edit(workflow(project), "  pull_request:\n", "  workflow_dispatch:\n")


def paths_and_paths_ignore(project: Path) -> None:
    edit(
        workflow(project),
        "    branches: [main]\n",
        "    branches: [main]\n    paths: [src/**]\n    paths-ignore: [docs/**]\n",
    )


def target_trigger(project: Path) -> None:
    edit(
        project / ".github/workflows/template-update.yml",
        "  workflow_dispatch:\n",
        "  workflow_dispatch:\n  pull_request_target:\n",
    )


def other_workflow_or_true(project: Path) -> None:
    edit(
        project / ".github/workflows/template-update.yml",
        "invoke template-update --pull-request",
        "invoke template-update --pull-request || true",
    )


def renamed_job(project: Path) -> None:
    edit(workflow(project), "  typecheck:\n", "  types:\n")


def removed_task(project: Path) -> None:
    edit(project / "tasks.py", "    lint,\n    typecheck,\n", "    lint,\n")


def plain_task(project: Path) -> None:
    edit(project / "tasks.py", "@ci_task()\ndef typecheck(", "@task\ndef typecheck(")


def uncalled_ci_task(project: Path) -> None:
    edit(
        project / "tasks.py",
        "\n\nns = Collection(",
        '\n\n@ci_task()\ndef audit(c: Context) -> None:\n    """Audit."""\n\n\n'
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


def setup_uv_python(project: Path) -> None:
    edit(
        workflow(project),
        "python-version: ${{ matrix.python-version }}",
        'python-version: "3.12"',
    )


def python_argument(project: Path) -> None:
    edit(
        workflow(project),
        "invoke test --python ${{ matrix.python-version }}",
        "invoke test --python 3.12",
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
        "repos:\n  - repo: git@github.com:astral-sh/ruff-pre-commit.git\n    rev: v0.1.0\n"
        "    hooks:\n      - id: ruff\n",
    )


def pre_commit_unknown_repo(project: Path) -> None:
    edit(
        project / ".pre-commit-config.yaml",
        "repos:\n",
        "repos:\n  - repo: https://github.com/psf/black\n    rev: 24.1.0\n"
        "    hooks:\n      - id: black\n",
    )


def pre_commit_with_pin(project: Path) -> None:
    edit(
        project / ".pre-commit-config.yaml",
        "entry: uv run --locked mypy",
        "entry: uv run --locked --with mypy==1.0.0 mypy",
    )


def pre_commit_unlocked(project: Path) -> None:
    edit(project / ".pre-commit-config.yaml", "entry: uv run --locked mypy", "entry: mypy")


def dockerfile_python(project: Path) -> None:
    dockerfile = project / "Dockerfile"
    text = dockerfile.read_text(encoding="utf-8")
    default = re.compile(r"^(FROM python:)3\.\d+-", re.MULTILINE)
    dockerfile.write_text(default.sub(r"\g<1>3.12-", text), "utf-8")


def dockerfile_from(project: Path) -> None:
    edit(project / "Dockerfile", "FROM python AS base", "FROM python:3.12-slim AS base")


def dockerfile_uv(project: Path) -> None:
    edit(project / "Dockerfile", "ghcr.io/astral-sh/uv:0.13.9", "ghcr.io/astral-sh/uv:0.13.8")


def devtasks_edited(project: Path) -> None:
    edit(project / "devtasks/local/runner.py", "INTERRUPTED = 130", "INTERRUPTED = 0")


def devtasks_added(project: Path) -> None:
    (project / "devtasks/extra.py").write_text('"""Mine."""\n', encoding="utf-8")


def prod_runs_as_root(project: Path) -> None:
    text = (project / "Dockerfile").read_text(encoding="utf-8")
    before, user, after = text.rpartition("USER 10001:10001")  # the prod stage's, last
    assert user, "the prod stage names its user"
    (project / "Dockerfile").write_text(before + "USER root" + after, encoding="utf-8")


def publish_misses_a_job(project: Path) -> None:
    edit(workflow(project), "test, security, docker]", "test, docker]")


def unknown_setting(project: Path) -> None:
    edit(project / "pyproject.toml", "[tool.shipshape]\n", "[tool.shipshape]\nfast = true\n")


DRIFTS: list[tuple[Drift, str]] = [
    (extra_run_step, r"ci\.yml: job `lint`: has 2 `run:` steps"),
    (other_command, r"ci\.yml: job `typecheck`: runs `uv run mypy`"),
    (unlocked_command, r"ci\.yml: job `typecheck`: runs `uv run invoke typecheck`"),
    (or_true, r"job `typecheck`: runs `uv run --locked invoke typecheck \|\| true`"),
    (second_line, r"job `typecheck`: runs `uv run --locked invoke typecheck\necho done`"),
    (foreign_action, r"job `lint`: step 3 \(`actions/setup-python`\) is neither environment"),
    (unpinned_action, r"job `lint`: step 1 \(`actions/checkout`\) must be pinned to a full"),
    (job_key("container", "debian:12"), r"job `lint`: job key `container` is refused: "),
    (job_key("services", "{}"), r"job `lint`: job key `services` is refused: a task starts"),
    (job_key("if", "github.event.pull_request.draft"), r"job `lint`: if: .* is not a github"),
    (job_key("timeout-minutes", "${{ 5 }}"), r"ci\.yml: cannot read the workflow .*duplicate key"),
    (job_key("if", "always()\n    if: false"), r"duplicate key `if`"),
    (step_key("shell", "pwsh"), r"job `lint`: step 3 shell `pwsh` is refused"),
    (step_key("working-directory", "/srv"), r"job `lint`: step 3 working-directory `/srv` must"),
    (step_key("if", "hashFiles('uv.lock') != ''"), r"job `lint`: step 3 if: .*`hashFiles`"),
    (step_key("background", "true"), r"job `lint`: step key `background` is refused"),
    (step_key("if", "github.event_name == 'push'"), r"job `lint`: the task step has an `if:`"),
    (step_key("continue-on-error", "${{ github.ref }}"), r"continue-on-error .* must be true"),
    (windows_runner, r"job `lint`: runs-on `windows-2022` is refused"),
    (needs_nothing, r"job `docker`: needs `tests`, which is no job of this workflow"),
    (no_pull_request, r"ci\.yml: `on:` lacks pull_request"),
    (paths_and_paths_ignore, r"ci\.yml: on\.push has both paths and paths-ignore, which GitHub"),
    (target_trigger, r"template-update\.yml: on\.pull_request_target is refused: .*use pull"),
    (other_workflow_or_true, r"template-update\.yml: job `template-update`: runs `uv run"),
    (TYPECHECK_HELP, r"job `typecheck`: calls `invoke typecheck --help`: `--help` is an option"),
    (typecheck_words("-h"), r"job `typecheck`: calls `invoke typecheck -h`: `-h` is an option of"),
    (typecheck_words("--list"), r"job `typecheck`: .*`--list` is an option of invoke itself"),
    (typecheck_words("lint"), r"job `typecheck`: .*`lint` is a second task, which the job would"),
    (typecheck_words("strict"), r"job `typecheck`: .*invoke refuses it \(No idea what 'strict'"),
    (typecheck_words("--strict"), r"job `typecheck`: .*No idea what '--strict' is!"),
    (matrix_python_help, r"job `test`: for matrix entry python-version=3\.\d+, `invoke test --py"),
    (renamed_job, r"ci\.yml: job `types` calls `invoke typecheck`; a CI job and its task share"),
    (removed_task, r"ci\.yml: job `typecheck` calls `invoke typecheck`, no such task"),
    (plain_task, r"job `typecheck` calls `invoke typecheck`, which is not a @ci_task"),
    (uncalled_ci_task, r"task `audit` is a @ci_task of ci\.yml but no job there calls it"),
    (matrix_version_added, r"ci\.yml: job `test` tests Python .*3\.14; pyproject\.toml lists"),
    (classifier_added, r"ci\.yml: job `test` tests Python .*; pyproject\.toml lists .*3\.14"),
    (setup_uv_python, r"job `test` names Python 3\.12; it must be `\$\{\{ matrix\.python-version"),
    (python_argument, r"job `test` sets up Python .*3\.12.*: setup-uv's python-version and the"),
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
    (pre_commit_pinned_elsewhere, r"ruff-pre-commit\.git is pinned to 0\.1\.0; uv\.lock has ruff"),
    (pre_commit_unknown_repo, r"psf/black runs a tool uv\.lock does not pin"),
    (pre_commit_with_pin, r"hook `mypy` installs mypy 1\.0\.0; uv\.lock has"),
    (pre_commit_unlocked, r"hook `mypy` runs `mypy`; local hooks must run `uv run --locked"),
    (dockerfile_python, r"Dockerfile:\d+: names Python 3\.12; \.python-version says 3\.13"),
    (dockerfile_from, r"Dockerfile:\d+: names Python 3\.12; \.python-version says 3\.13"),
    (dockerfile_uv, r"Dockerfile:\d+: names uv 0\.13\.8; pyproject\.toml requires 0\.13\.9"),
    (devtasks_edited, r"devtasks/local/runner\.py: edited; devtasks/ is sealed: instead, change"),
    (devtasks_added, r"devtasks/extra\.py: added to the sealed devtasks/"),
    (unknown_setting, r"pyproject\.toml: \[tool\.shipshape\] has unknown key\(s\) fast"),
    (prod_runs_as_root, r"Dockerfile:\d+: stage `prod` ends as root \(`USER root`\)"),
    (publish_misses_a_job, r"job `publish` publishes without waiting for security: add it to"),
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


def test_every_parity_check_has_drifts() -> None:
    names = {check.name for check in parity_checks.CHECKS}
    covered: dict[str, set[Drift]] = {
        "workflow model": {or_true, foreign_action, windows_runner, no_pull_request},
        "tasks": {renamed_job, removed_task, uncalled_ci_task, plain_task},
        "task calls": {TYPECHECK_HELP, matrix_python_help},
        "environment": {new_env_var, step_env_var},
        "versions": {matrix_version_added, setup_uv_python, dockerfile_from, workflow_uv_pin},
        "pre-commit": {pre_commit_pinned_elsewhere, pre_commit_with_pin, pre_commit_unlocked},
        "seal": {devtasks_edited, devtasks_added},
        "publish": {publish_misses_a_job},
        "image users": {prod_runs_as_root},
    }
    assert set(covered) == names, "a check without drifts, or a drift table for no check"
    tested = {drift for drift, _ in DRIFTS}
    for check, drifts in covered.items():
        assert drifts <= tested, check
    refused_job_keys = {
        rule.key
        for rule in rules.KEY_RULES
        if rule.level is rules.Level.JOB and rule.kind is rules.KeyClass.REFUSED
    }
    assert {"container", "services"} <= refused_job_keys
    # Job outputs are mirrored now: needs.<job>.outputs reads them (test_expressions.py).
    assert rules.RULES[rules.Level.JOB, "outputs"].kind is rules.KeyClass.MIRRORED
    assert len(DRIFTS) >= 40


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
    edit(workflow(project), ", docker]\n", ", docker, audit]\n")  # publish's needs
    edit(
        project / "tasks.py",
        "\n\nns = Collection(",
        '\n\n@ci_task()\ndef audit(c: Context) -> None:\n    """Audit."""\n'
        '    print("audit ran")\n\n\nns = Collection(audit, ',
    )
    code, output = parity(project, synced_project)
    assert code == 0, output
    after = run([invoke, "ci", "--dry-run"], project).stdout.splitlines()
    assert "audit\t-\tuv run --locked invoke audit" in after
    order = [line.split("\t")[0] for line in after]
    assert order.index("lint") < order.index("audit")


def recipe_block(readme: str, name: str) -> str:
    """The fenced block under `<!-- recipe:<name> -->` in the service's README."""
    marker = f"<!-- recipe:{name} -->\n```"
    assert marker in readme, f"the README has no {name} recipe"
    block = readme.split(marker, 1)[1].split("\n", 1)[1]
    return block.split("\n```", 1)[0] + "\n"


def service_with_a_job(tmp_path: Path, synced_project: Path, job: str, recipe: str) -> Path:
    """A copy of the synced service with the README's `recipe` job in ci.yml, needed by publish."""
    project = tmp_path / "service"
    shutil.copytree(synced_project, project, ignore=shutil.ignore_patterns(".venv", ".git"))
    readme = (project / "README.md").read_text(encoding="utf-8")
    edit(workflow(project), "\njobs:\n", "\njobs:\n" + recipe_block(readme, recipe) + "\n")
    edit(workflow(project), ", docker]\n", f", docker, {job}]\n")  # publish's needs
    return project


@pytest.mark.slow
def test_the_readme_recipe_for_a_new_job_works_verbatim(
    tmp_path: Path, synced_project: Path
) -> None:
    project = service_with_a_job(tmp_path, synced_project, "audit", "add-a-job:ci.yml")
    readme = (project / "README.md").read_text(encoding="utf-8")
    team_tasks = project / "team_tasks.py"
    recipe = recipe_block(readme, "add-a-job:team_tasks.py")
    team_tasks.write_text(f"{team_tasks.read_text(encoding='utf-8')}\n{recipe}", encoding="utf-8")
    code, output = parity(project, synced_project)
    assert code == 0, output
    invoke = str(synced_project / ".venv/bin/invoke")
    plan = run([invoke, "ci", "--dry-run"], project).stdout.splitlines()
    assert "audit\t-\tuv run --locked invoke audit" in plan
    assert run([invoke, "audit"], project).returncode == 0
    assert (project / "tasks.py").read_bytes() == (synced_project / "tasks.py").read_bytes()
    ruff = str(synced_project / ".venv/bin/ruff")
    run([ruff, "check", "--no-cache", "team_tasks.py"], project)
    run([ruff, "format", "--check", "--no-cache", "team_tasks.py"], project)


@pytest.mark.slow
def test_the_readme_pre_commit_job_runs_the_hooks_and_fails_on_what_they_find(
    tmp_path: Path, synced_project: Path
) -> None:
    project = service_with_a_job(tmp_path, synced_project, "hooks", "pre-commit-job")
    run(["git", "init", "--quiet"], project)
    git_commit(project, "a pre-commit job")  # pre-commit reads the files git tracks
    code, output = parity(project, synced_project)
    assert code == 0, output
    invoke = str(synced_project / ".venv/bin/invoke")

    def hooks() -> dict[str, Any]:
        done = run([invoke, "ci", "--only", "hooks", "--json"], project, check=False)
        document: dict[str, Any] = json.loads(done.stdout)
        (entry,) = (e for e in document["entries"] if e["job"] == "hooks")
        assert entry["command"].startswith("uv run --locked pre-commit run"), entry
        found: dict[str, Any] = entry
        return found

    assert hooks()["result"] == "passed"
    module = next((project / "src").glob("*/__init__.py"))
    module.write_text(module.read_text(encoding="utf-8") + "x=1\n", encoding="utf-8")
    git_commit(project, "unformatted")
    found = hooks()
    assert found["result"] == "failed", found
    # The hook reformatted the file in the working tree, as `pre-commit run` does.
    assert module.read_text(encoding="utf-8").endswith("x = 1\n")
