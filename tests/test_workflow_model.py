"""The workflow model, tested without rendering: completeness, expressions, matrices, plans.

Fast tier. The model must know every key the GitHub workflow schema allows, evaluate the
expressions it accepts the way GitHub does, and expand matrices exactly like GitHub.
"""

import dataclasses
import io
import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import check_jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from devtasks import config
from devtasks.checks import arguments
from devtasks.jobs import ci_task, docker_tasks
from devtasks.local import plan, runner, tools
from devtasks.local.plan import HOST, Event, Place, Scene, plan_entry
from devtasks.local.values import Masker
from devtasks.workflow import contexts, expressions, model, reader, rules
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit

SCHEMA = Path(check_jsonschema.__file__).parent / "builtin_schemas/vendor/github-workflows.json"
SHA = "08c6903cd8c0fde910a37f88322edcfb5dd907a8"
CHECKOUT = f"actions/checkout@{SHA}"
SETTINGS = config.Config()
PUSH_MAIN = Event("push", "refs/heads/main")
PULL_REQUEST = Event("pull_request", "refs/pull/1/merge", base_ref="main", head_ref="topic")


def schema_levels() -> dict[rules.Level, set[str]]:
    """Every property the GitHub workflow schema defines, per level of the model."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    definitions = schema["definitions"]
    normal = definitions["normalJob"]["properties"]
    reusable = definitions["reusableWorkflowCallJob"]["properties"]
    return {
        rules.Level.WORKFLOW: set(schema["properties"]),
        rules.Level.JOB: set(normal) | set(reusable),
        rules.Level.STRATEGY: set(normal["strategy"]["properties"]),
        rules.Level.STEP: set(definitions["step"]["properties"]),
        rules.Level.DEFAULTS_RUN: set(definitions["defaults"]["properties"]["run"]["properties"]),
    }


@pytest.mark.parametrize("level", list(schema_levels()), ids=lambda level: level.value)
def test_every_schema_key_is_in_exactly_one_class(level: rules.Level) -> None:
    keys = schema_levels()[level]
    unclassified = sorted(key for key in keys if (level, key) not in rules.RULES)
    assert not unclassified, f"{level.value}: no class for {unclassified}"
    at_level = [rule for rule in rules.KEY_RULES if rule.level is level]
    assert len({rule.key for rule in at_level}) == len(at_level), "a key is classified twice"
    assert all(rule.why for rule in at_level), "every class says why"


def write_workflow(root: Path, document: Mapping[str, Any], name: str = "ci.yml") -> Path:
    path = root / ".github/workflows" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(document), sort_keys=False), encoding="utf-8")
    return path.relative_to(root)


def job(run: str = "uv run --locked invoke lint", **keys: Any) -> dict[str, Any]:
    """A job in the shape parity accepts, with extra keys."""
    body: dict[str, Any] = {"runs-on": "ubuntu-24.04", "steps": [{"uses": CHECKOUT}, {"run": run}]}
    body.update(keys)
    return body


def workflow(jobs: Mapping[str, Any], **keys: Any) -> dict[str, Any]:
    return {"on": {"push": {"branches": ["main"]}, "pull_request": None}, **keys, "jobs": jobs}


def problems_of(tmp_path: Path, document: Mapping[str, Any], name: str = "ci.yml") -> list[str]:
    path = write_workflow(tmp_path, document, name)
    return [str(problem) for problem in reader.read(tmp_path, path, SETTINGS).problems]


def test_a_clean_workflow_has_no_problems(tmp_path: Path) -> None:
    assert problems_of(tmp_path, workflow({"lint": job()})) == []


REFUSED_JOB_KEYS = [
    rule.key
    for rule in rules.KEY_RULES
    if rule.level is rules.Level.JOB and rule.kind is rules.KeyClass.REFUSED
]
REFUSED_STEP_KEYS = [
    rule.key
    for rule in rules.KEY_RULES
    if rule.level is rules.Level.STEP and rule.kind is rules.KeyClass.REFUSED
]


@pytest.mark.parametrize("key", REFUSED_JOB_KEYS)
def test_a_refused_job_key_is_named_with_its_reason(tmp_path: Path, key: str) -> None:
    found = problems_of(tmp_path, workflow({"lint": job(**{key: "x"})}))
    assert any(f"job `lint`: job key `{key}` is refused: " in p for p in found), found


@pytest.mark.parametrize("key", REFUSED_STEP_KEYS)
def test_a_refused_step_key_is_named(tmp_path: Path, key: str) -> None:
    body = job()
    body["steps"][1][key] = True
    found = problems_of(tmp_path, workflow({"lint": body}))
    assert any(f"step key `{key}` is refused" in p for p in found), found


@given(key=st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12))
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_an_unknown_key_is_refused_at_every_level(tmp_path: Path, key: str) -> None:
    known = {rule.key for rule in rules.KEY_RULES}
    if key in known or key in {"on", "jobs"}:
        return
    step_body = job()
    step_body["steps"][1][key] = "x"
    for document, level in (
        (workflow({"lint": job()}, **{key: "x"}), "workflow"),
        (workflow({"lint": job(**{key: "x"})}), "job"),
        (workflow({"lint": step_body}), "step"),
    ):
        found = problems_of(tmp_path, document)
        assert any(f"{level} key `{key}` is not one parity knows" in p for p in found), found


@pytest.mark.parametrize(
    ("run", "accepted"),
    [
        ("uv run --locked invoke lint", True),
        ("uv run --locked invoke test --python ${{ matrix.python-version }}", True),
        ("uv run --locked invoke test --python=${{ matrix.python-version }}", True),
        ("uv run --locked invoke lint || true", False),
        ("uv run --locked invoke lint; echo done", False),
        ("uv run --locked invoke lint\necho second line", False),
        ("uv run --locked invoke lint > out.txt", False),
        ("uv run --locked invoke lint $(whoami)", False),
        ("uv run --locked invoke 'lint'", False),
        ("uv run invoke lint", False),
        ("uv run --locked invoke", False),
        ("echo uv run --locked invoke lint", False),
        ("uv run --locked invoke lint --flag ${{ github.event.pull_request.title }}", False),
    ],
)
def test_the_task_step_is_one_plain_task_call(tmp_path: Path, run: str, accepted: bool) -> None:  # noqa: FBT001
    body = job(run=run)
    if "matrix" in run:
        body["strategy"] = {"matrix": {"python-version": ["3.13"]}}
    found = problems_of(tmp_path, workflow({"lint": body}))
    assert (found == []) is accepted, found


@ci_task(help={"python": "Python version"})
def _test(_: Context, python: str = "3.13") -> None:
    """Test on one Python."""


@ci_task()
def _integration(_: Context) -> None:
    """Start containers."""


@ci_task()
def _typecheck(_: Context) -> None:
    """Typecheck."""


TASKS = Collection()
for _name, _body in {"test": _test, "integration": _integration, "typecheck": _typecheck}.items():
    TASKS.add_task(_body, name=_name)
TASKS.add_task(_typecheck, name="lint")
PYTHONS = {"strategy": {"matrix": {"python-version": ["3.13", "3.14"]}}}


def call_problems(tmp_path: Path, run: str, **keys: Any) -> list[str]:
    """What the arguments check says of a one-job workflow whose task step is `run`."""
    path = write_workflow(tmp_path, workflow({"job": job(run=run, **keys)}))
    parsed = reader.read(tmp_path, path, SETTINGS)
    assert parsed.problems == (), parsed.problems
    return [str(problem) for problem in arguments.problems(parsed, TASKS)]


@pytest.mark.parametrize(
    ("words", "keys"),
    [
        ("integration", {}),
        ("test --python 3.13", {}),
        ("test -p 3.13", {}),
        ("test --python=3.13", {}),
        ("test --python ${{ matrix.python-version }}", PYTHONS),
        ("test --python=${{ matrix.python-version }}", PYTHONS),
    ],
)
def test_a_task_step_may_pass_its_tasks_own_options(
    tmp_path: Path, words: str, keys: dict[str, Any]
) -> None:
    assert call_problems(tmp_path, f"uv run --locked invoke {words}", **keys) == []


@pytest.mark.parametrize(
    ("words", "keys", "message"),
    [
        ("integration --help", {}, r"`--help` is an option of invoke itself, not of task"),
        ("integration -h", {}, r"`-h` is an option of invoke itself"),
        ("integration --list", {}, r"`--list` is an option of invoke itself"),
        ("integration -l", {}, r"`-l` is an option of invoke itself"),
        ("integration --version", {}, r"`--version` is an option of invoke itself"),
        ("integration -V", {}, r"`-V` is an option of invoke itself"),
        ("integration --dry", {}, r"`--dry` is an option of invoke itself"),
        ("integration --complete", {}, r"`--complete` is an option of invoke itself"),
        ("integration -e", {}, r"`-e` is an option of invoke itself"),
        ("test --python 3.13 --help", {}, r"`--help` is an option of invoke itself"),
        ("integration typecheck", {}, r"`typecheck` is a second task, which the job would run"),
        ("integration words", {}, r"invoke refuses it \(No idea what 'words' is!\)"),
        ("integration --frobnicate", {}, r"No idea what '--frobnicate' is!"),
        ("test --python", {}, r"needed value and was not given one"),
        ("integration --", {}, r"`--` hands the words after it to the task unparsed"),
        ("integration ${{ matrix.t }}", {"strategy": {"matrix": {"t": ["--help"]}}}, r"`--help`"),
        (
            "test --python ${{ matrix.python-version }}",
            {"strategy": {"matrix": {"python-version": ["3.13 --help"]}}},
            r"has the word '3\.13 --help'; matrix values must be plain words",
        ),
    ],
)
def test_a_task_step_passing_anything_else_is_refused_naming_the_word(
    tmp_path: Path, words: str, keys: dict[str, Any], message: str
) -> None:
    found = call_problems(tmp_path, f"uv run --locked invoke {words}", **keys)
    assert len(found) == 1, found
    assert re.search(rf"ci\.yml: job `job`: .*{message}", found[0]), found


OPTION_WORDS = ["--python", "-p", "--python=3.13", "3.13", "3.14"]
OTHER_WORDS = ["--help", "-h", "--list", "-V", "--dry", "typecheck", "lint", "stray", "--x", "--"]


def foreign_word(words: list[str]) -> str | None:
    """Independently of invoke: a word that is neither `--python`, `-p`, `--python=V` nor V."""
    rest = list(words)
    while rest:
        word = rest.pop(0)
        if word == "--" or not (word.startswith("--python=") or word in {"--python", "-p"}):
            return word
        if not word.startswith("--python=") and rest:
            rest.pop(0)  # the option's value, whatever it looks like, as invoke takes it
    return None


@given(words=st.lists(st.sampled_from(OPTION_WORDS + OTHER_WORDS), max_size=5))
@settings(max_examples=150, deadline=None)
def test_a_word_that_is_no_option_of_the_task_is_always_refused(words: list[str]) -> None:
    found = arguments.call_problem(["test", *words], TASKS)
    if foreign_word(words) is not None:
        assert found is not None, words


@given(
    form=st.sampled_from([[], ["--python", "V"], ["-p", "V"], ["--python=V"]]),
    value=st.from_regex(r"[0-9][0-9a-z.]{0,6}", fullmatch=True),
)
@settings(max_examples=50, deadline=None)
def test_the_tasks_own_option_with_any_value_is_accepted(form: list[str], value: str) -> None:
    words = ["test", *(word.replace("V", value) for word in form)]
    assert arguments.call_problem(words, TASKS) is None, words


def test_invoke_ci_fails_a_job_whose_task_call_parity_refuses(tmp_path: Path) -> None:
    jobs = {"lint": job(), "integration": job(run="uv run --locked invoke integration --help")}
    write_workflow(tmp_path, workflow(jobs))
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    parsed, _ = plan.load_ci(tmp_path, TASKS)
    scene = Scene(tmp_path, parsed, PUSH_MAIN, HOST, "3.13")
    refused = {
        name: plan_entry(scene, next(j.entries())).refused for name, j in parsed.jobs.items()
    }
    assert refused["lint"] is None
    assert "`--help` is an option of invoke itself" in (refused["integration"] or "")
    assert plan.load_ci(tmp_path)[0].problems == ()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda b: b.update({"runs-on": "windows-2022"}), "runs-on `windows-2022` is refused"),
        (lambda b: b.update({"runs-on": "self-hosted"}), "runs-on `self-hosted` is refused"),
        (lambda b: b.update({"needs": ["nothing"]}), "needs `nothing`, which is no job"),
        (lambda b: b.update({"if": "github.event.pull_request.draft"}), "is not a github property"),
        (lambda b: b.update({"if": "hashFiles('x')"}), "`hashFiles` is not one"),
        (lambda b: b.update({"if": "matrix.os == 'x'"}), "gives jobs.<job_id>.if only github,"),
        (lambda b: b.update({"if": "secrets.TOKEN != ''"}), "gives jobs.<job_id>.if only github,"),
        (lambda b: b.update({"if": "runner.os == 'Linux'"}), "gives jobs.<job_id>.if only github,"),
        (lambda b: b.update({"timeout-minutes": "${{ matrix.t }}"}), "must be a positive number"),
        (lambda b: b.update({"timeout-minutes": "${{ 5 }}"}), "evaluates no expression here"),
        (lambda b: b["steps"][1].update({"shell": "pwsh"}), "shell `pwsh` is refused"),
        (lambda b: b["steps"][1].update({"shell": "bash -x {0}"}), "is refused"),
        (lambda b: b["steps"][1].update({"working-directory": "/srv"}), "must be a plain path"),
        (lambda b: b["steps"][1].update({"working-directory": "../x"}), "must be a plain path"),
        (lambda b: b["steps"].insert(0, {"uses": "actions/checkout@v5"}), "full commit SHA"),
        (lambda b: b["steps"].insert(0, {"uses": f"acme/deploy@{SHA}"}), "neither environment"),
        (lambda b: b["steps"].insert(0, {"uses": "./local-action"}), "local and Docker"),
        (lambda b: b["steps"].append({"uses": CHECKOUT}), "must come before the task"),
        (
            lambda b: b["steps"].insert(0, {"uses": f"actions/upload-artifact@{SHA}"}),
            "must come after it",
        ),
        (
            lambda b: b["steps"].insert(0, {"uses": CHECKOUT, "with": {"ref": "other"}}),
            "input `ref` is refused",
        ),
        (
            lambda b: b["steps"].insert(0, {"uses": CHECKOUT, "if": "always()"}),
            "setup steps run unconditionally",
        ),
        (lambda b: b.update({"defaults": {"run": {"shell": "sh"}}}), "shell `sh` is refused"),
        (lambda b: b.update({"strategy": {"matrix": "${{ fromJSON(x) }}"}}), "literal mapping"),
        (lambda b: b.update({"continue-on-error": "${{ github.ref }}"}), "must be true, false"),
        (lambda b: b.update({"env": {"X": "${{ steps.a.outputs.b }}"}}), "jobs.<job_id>.env only"),
        (lambda b: b.update({"env": {"X": "${{ strategy.job-index }}"}}), "supply the `strategy`"),
        (lambda b: b.update({"env": {"X": "${{ github.sha }}"}}), "not a github property"),
        (lambda b: b.update({"env": {"X": "${{ success() }}"}}), "only `if:` may call"),
        (lambda b: b.update({"env": {"X": "${{ toJSON(github) }}"}}), "`toJSON` is not one"),
        (
            lambda b: b.update({"if": "hashFiles('uv.lock') != ''"}),
            (
                "(it evaluates contains, startsWith, endsWith, format, always, cancelled, "
                "failure, success): compute the value in a task and read it as a step output"
            ),
        ),
        (
            lambda b: b.update({"outputs": {"x": "${{ steps.nope.outputs.x }}"}}),
            "only the task step's outputs exist locally",
        ),
        (lambda b: b.update({"environment": ["prod"]}), "environment must be a name or"),
    ],
)
def test_edits_that_cannot_be_mirrored_are_refused(tmp_path: Path, edit: Any, message: str) -> None:
    body = job()
    edit(body)
    found = problems_of(tmp_path, workflow({"lint": body}))
    assert any(message in p for p in found), found


def test_ci_must_run_for_push_and_pull_request(tmp_path: Path) -> None:
    document = {"on": {"workflow_dispatch": None}, "jobs": {"lint": job()}}
    found = problems_of(tmp_path, document)
    assert any("`on:` lacks pull_request, push" in p for p in found), found
    paths = workflow({"lint": job()})
    paths["on"]["push"]["paths"] = ["src/**"]
    assert problems_of(tmp_path, paths) == []


def test_another_workflow_may_run_on_changes(tmp_path: Path) -> None:
    document = {"on": {"push": {"tags": ["v*"], "paths": ["src/**"]}}, "jobs": {"docker": job()}}
    assert problems_of(tmp_path, document, "docker.yml") == []
    scheduled = {"on": {"schedule": [{"cron": "0 0 * * 1"}]}, "jobs": {"weekly": job()}}
    assert problems_of(tmp_path, scheduled, "weekly.yml") == []


# --- expressions --------------------------------------------------------------------------

CONTEXT = expressions.Context(
    values={
        "github.event_name": "push",
        "github.ref": "refs/heads/main",
        "matrix.os": "ubuntu-24.04",
    }
)


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("github.event_name == 'push'", True),
        ("github.event_name == 'PUSH'", True),  # GitHub compares strings ignoring case
        ("github.event_name != 'push'", False),
        ("startsWith(github.ref, 'refs/heads/')", True),
        ("startswith(github.ref, 'REFS/HEADS/')", True),
        ("endsWith(github.ref, '/main') && contains(matrix.os, 'ubuntu')", True),
        ("!(github.event_name == 'push')", False),
        ("github.event_name == 'pull_request' || github.ref == 'refs/heads/main'", True),
        ("'a' && 'b'", "b"),
        ("'' || 'fallback'", "fallback"),
        ("1 == '1'", True),
        ("null == ''", True),  # different types compare as numbers: 0 == 0
        ("'abc' == 0", False),  # NaN equals nothing
        ("true", True),
        ("success()", True),
        ("always()", True),
        ("failure()", False),
        ("'it''s'", "it's"),
    ],
)
def test_expressions_evaluate_like_github(source: str, value: expressions.Value) -> None:
    assert expressions.evaluate(source, CONTEXT) == value


@pytest.mark.parametrize(
    ("source", "succeeded", "runs"),
    [
        (None, True, True),
        (None, False, False),
        ("github.event_name == 'push'", False, False),  # an implied success() &&
        ("always()", False, True),
        ("failure()", False, True),
        ("failure()", True, False),
        ("${{ github.event_name == 'push' }}", True, True),
        ("!cancelled()", False, True),
    ],
)
def test_conditions_add_success_unless_a_status_function_is_used(
    source: str | None,
    *,
    succeeded: bool,
    runs: bool,
) -> None:
    context = expressions.Context(values=CONTEXT.values, succeeded=succeeded)
    assert expressions.condition(source, context) is runs


@pytest.mark.parametrize("source", ["fromJSON('{}')", "github.token", "env.X ==", "a ! b", "'x"])
def test_expressions_outside_the_subset_are_refused(source: str) -> None:
    """Unparsable, or parsed and refused statically, before anything is evaluated."""
    try:
        node = expressions.parse(source)
    except expressions.ExpressionError:
        return
    assert contexts.check(node, contexts.Location.STEP_IF) != []


# --- matrices, checked against an independent statement of GitHub's rules -------------------

values = st.sampled_from(["a", "b", "c"])
axes = st.dictionaries(
    st.sampled_from(["os", "py", "x"]),
    st.lists(values, min_size=1, max_size=3, unique=True),
    min_size=1,
    max_size=3,
)


def reference_expansion(matrix: model.Matrix) -> list[dict[str, Any]]:
    """GitHub's documented expansion, written independently of model.Matrix."""
    import itertools  # noqa: PLC0415 - local to the reference

    keys = list(matrix.axes)
    combos = [dict(zip(keys, vs, strict=True)) for vs in itertools.product(*matrix.axes.values())]
    combos = [
        c
        for c in combos
        if not any(all(c.get(k) == v for k, v in ex.items()) for ex in matrix.exclude)
    ]
    new: list[dict[str, Any]] = []
    for extra in matrix.include:
        # Added to each combination whose axis values it keeps, else a new one at the end.
        targets = [c for c in combos if all(c[k] == extra[k] for k in extra if k in keys)]
        for combo in targets:
            combo.update(extra)
        if not targets:
            new.append(dict(extra))
    combos = combos + new
    return combos or [{}]


@given(
    axes=axes,
    include=st.lists(
        st.dictionaries(st.sampled_from(["os", "py", "extra"]), values, min_size=1), max_size=3
    ),
    exclude=st.lists(
        st.dictionaries(st.sampled_from(["os", "py", "x"]), values, min_size=1), max_size=2
    ),
)
def test_matrix_expansion_matches_githubs_rules(
    axes: dict[str, list[str]], include: list[dict[str, str]], exclude: list[dict[str, str]]
) -> None:
    matrix = model.Matrix(
        axes={k: tuple(v) for k, v in axes.items()}, include=tuple(include), exclude=tuple(exclude)
    )
    assert matrix.combinations() == reference_expansion(matrix)


def test_githubs_documented_include_example() -> None:
    # docs.github.com: "Expanding or adding matrix configurations".
    matrix = model.Matrix(
        axes={"fruit": ("apple", "pear"), "animal": ("cat", "dog")},
        include=(
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ),
    )
    assert matrix.combinations() == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


# --- the plan follows the model --------------------------------------------------------------

IF_CONDITIONS = [
    None,
    "github.event_name == 'push'",
    "github.event_name == 'pull_request'",
    "github.ref == 'refs/heads/main'",
    "startsWith(github.ref, 'refs/tags/v')",
    "always()",
]


@given(
    condition=st.sampled_from(IF_CONDITIONS),
    event=st.sampled_from([PUSH_MAIN, PULL_REQUEST]),
    env=st.dictionaries(
        st.from_regex(r"[A-Z][A-Z0-9_]{0,6}", fullmatch=True),
        st.text(alphabet="abc123", max_size=5),
        max_size=3,
    ),
    directory=st.sampled_from([None, "src", "tests"]),
    explicit_bash=st.booleans(),
    minutes=st.sampled_from([None, 1, 5, 30]),
    continue_on_error=st.booleans(),
)
@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_plan_follows_the_model(  # noqa: PLR0917 - one parameter per generated key
    tmp_path: Path,
    condition: str | None,
    event: Event,
    env: dict[str, str],
    directory: str | None,
    explicit_bash: bool,  # noqa: FBT001
    minutes: int | None,
    continue_on_error: bool,  # noqa: FBT001
) -> None:
    body = job(run="uv run --locked invoke lint")
    if condition is not None:
        body["if"] = condition
    if env:
        body["env"] = env
    step = body["steps"][1]
    if directory:
        step["working-directory"] = directory
    if explicit_bash:
        step["shell"] = "bash"
    if minutes:
        body["timeout-minutes"] = minutes
    body["continue-on-error"] = continue_on_error
    path = write_workflow(tmp_path, workflow({"lint": body}))
    parsed = reader.read(tmp_path, path, SETTINGS)
    assert parsed.problems == ()
    entry = next(parsed.jobs["lint"].entries())
    planned = plan_entry(Scene(tmp_path, parsed, event, HOST, "3.13"), entry)
    assert planned.refused is None
    assert planned.script == "uv run --locked invoke lint"
    assert {k: planned.env[k] for k in env} == env
    assert planned.env["CI"] == "true"
    assert planned.cwd == (tmp_path / directory if directory else tmp_path)
    assert planned.shell[-2:] == (("-o", "pipefail") if explicit_bash else ("bash", "-e"))
    assert planned.timeout_seconds == (minutes or 360) * 60
    assert planned.job_continues is continue_on_error
    context = expressions.Context(values=event.values())
    expected = {
        None: True,
        "github.event_name == 'push'": event.name == "push",
        "github.event_name == 'pull_request'": event.name == "pull_request",
        "github.ref == 'refs/heads/main'": event.ref == "refs/heads/main",
        "startsWith(github.ref, 'refs/tags/v')": False,
        "always()": True,
    }[condition]
    assert expressions.condition(condition, context) is expected


def test_setup_uv_python_version_becomes_uv_python_with_its_own_environment(
    tmp_path: Path,
) -> None:
    body = job(run="uv run --locked invoke test --python ${{ matrix.python-version }}")
    body["strategy"] = {"matrix": {"python-version": ["3.12", "3.13"]}}
    body["steps"].insert(
        1,
        {
            "uses": f"astral-sh/setup-uv@{SHA}",
            "with": {"version": "0.13.9", "python-version": "${{ matrix.python-version }}"},
        },
    )
    path = write_workflow(tmp_path, workflow({"test": body}))
    parsed = reader.read(tmp_path, path, SETTINGS)
    assert parsed.problems == ()
    plans = [
        plan_entry(Scene(tmp_path, parsed, PUSH_MAIN, HOST, "3.13"), e)
        for e in parsed.jobs["test"].entries()
    ]
    assert [p.script for p in plans] == [
        "uv run --locked invoke test --python 3.12",
        "uv run --locked invoke test --python 3.13",
    ]
    assert [p.env["UV_PYTHON"] for p in plans] == ["3.12", "3.13"]
    assert plans[0].env["UV_PROJECT_ENVIRONMENT"].endswith(".venv-ci/3.12")
    assert "UV_PROJECT_ENVIRONMENT" not in plans[1].env


def test_an_os_axis_skips_other_oses_with_the_reason(tmp_path: Path) -> None:
    body = job(**{"runs-on": "${{ matrix.os }}"})
    body["strategy"] = {"matrix": {"os": ["ubuntu-24.04", "windows-2022", "macos-15"]}}
    path = write_workflow(tmp_path, workflow({"lint": body}))
    parsed = reader.read(tmp_path, path, SETTINGS)
    assert parsed.problems == ()
    plans = [
        plan_entry(Scene(tmp_path, parsed, PUSH_MAIN, HOST, "3.13"), e)
        for e in parsed.jobs["lint"].entries()
    ]
    if shutil.which("bash") and Path("/proc").exists():  # this machine runs Linux
        assert plans[0].skip is None
        assert plans[1].skip == "runs on windows-2022 (windows); this machine runs linux"
        assert plans[2].skip == "runs on macos-15 (macos); this machine runs linux"


@pytest.mark.skipif(plan.local_os() != "linux", reason="the skipped job is the non-Linux one")
def test_the_dry_run_skips_a_job_whose_needs_will_not_succeed_as_the_run_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `mac` is skipped here, so `after` never starts; `lint` runs, so `later` would run too.
    mac = job(**{"runs-on": "${{ matrix.os }}"})
    mac["strategy"] = {"matrix": {"os": ["macos-15"]}}
    jobs = {"mac": mac, "after": job(needs=["mac"]), "lint": job(), "later": job(needs=["lint"])}
    write_workflow(tmp_path, workflow(jobs))
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    (tmp_path / ".python-version").write_text("3.13\n", encoding="utf-8")
    plan.print_plan(tmp_path, "push", "", as_json=True)
    dry = {row["job"]: row["plan"] for row in json.loads(capsys.readouterr().out)["entries"]}
    assert dry["after"] == "skip (needs mac, which did not succeed)", dry
    assert dry["later"] == "uv run --locked invoke lint", dry
    # The real run decides `mac` and `after` without starting anything: the same reasons.
    parsed, _ = plan.load_ci(tmp_path)
    scene = Scene(tmp_path, parsed, PUSH_MAIN, HOST, "3.13")
    real = runner.Run(scene, SETTINGS, log=io.StringIO())
    for name in ("mac", "after"):
        real._plan_job(parsed.jobs[name])  # noqa: SLF001 - the runner's own decision, no process
    decided = {name: real.outcomes[name][0].reason for name in ("mac", "after")}
    assert dry["mac"] == f"skip ({decided['mac']})"
    assert dry["after"] == f"skip ({decided['after']})"


def test_a_task_that_needs_docker_skips_its_job_like_a_docker_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @ci_task(needs_docker=True)
    def integration(_: Context) -> None:
        """Start containers."""

    @ci_task()
    def lint(_: Context) -> None:
        """Lint."""

    tasks = Collection(integration, lint)
    jobs = {"lint": job(), "integration": job(run="uv run --locked invoke integration")}
    path = write_workflow(tmp_path, workflow(jobs))
    parsed = reader.read(tmp_path, path, SETTINGS)
    assert parsed.problems == ()

    def skips(place: Place, needing: frozenset[str]) -> dict[str, str | None]:
        scene = Scene(tmp_path, parsed, PUSH_MAIN, place, "3.13", needing)
        return {name: plan_entry(scene, next(j.entries())).skip for name, j in parsed.jobs.items()}

    assert docker_tasks(tasks) == {"integration"}
    assert docker_tasks(None) == frozenset()
    monkeypatch.setattr(plan, "docker_missing", lambda: "no Docker engine answers")
    assert skips(HOST, docker_tasks(tasks)) == {
        "lint": None,
        "integration": "no Docker engine answers",
    }
    # Undeclared, the job runs, and its task fails on its own.
    assert skips(HOST, frozenset()) == {"lint": None, "integration": None}
    in_container = Place(prefix=("docker", "run", "ci-image"), image_python="3.13")
    assert skips(in_container, docker_tasks(tasks)) == {
        "lint": None,
        "integration": (
            "not run inside the container: its task starts containers on the host's Docker engine"
        ),
    }
    monkeypatch.setattr(plan, "docker_missing", lambda: None)
    assert skips(HOST, docker_tasks(tasks)) == {"lint": None, "integration": None}


INERT_VALUES: dict[tuple[rules.Level, str], Any] = {
    (rules.Level.WORKFLOW, "name"): "CI",
    (rules.Level.WORKFLOW, "run-name"): "a run",
    (rules.Level.WORKFLOW, "permissions"): {"contents": "read"},
    (rules.Level.WORKFLOW, "concurrency"): {"group": "g", "cancel-in-progress": True},
    (rules.Level.JOB, "name"): "Lint",
    (rules.Level.JOB, "permissions"): {},
    (rules.Level.JOB, "concurrency"): "group",
    (rules.Level.STRATEGY, "max-parallel"): 2,
    (rules.Level.STEP, "name"): "Run the task",
    (rules.Level.TRIGGER, "schedule.timezone"): "Europe/Berlin",
}


def test_every_inert_key_has_a_sample_value() -> None:
    inert = {(r.level, r.key) for r in rules.KEY_RULES if r.kind is rules.KeyClass.INERT}
    # An inert event is one no local event is; it changes whether a workflow runs, so
    # tests/test_triggers.py holds it (never triggered locally), not this sample table.
    inert -= {(r.level, r.key) for r in rules.KEY_RULES if r.level is rules.Level.EVENT}
    assert inert == set(INERT_VALUES)


@given(chosen=st.sets(st.sampled_from(sorted(INERT_VALUES, key=str))))
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_inert_keys_change_neither_the_verdict_nor_the_plan(
    tmp_path: Path, chosen: set[tuple[rules.Level, str]]
) -> None:
    def plans(document: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        path = write_workflow(tmp_path, document)
        parsed = reader.read(tmp_path, path, SETTINGS)
        assert parsed.problems == ()
        scene = Scene(tmp_path, parsed, PUSH_MAIN, HOST, "3.13")
        return [
            (job.id, entry.label, plan_entry(scene, entry).script)
            for job in model.ordered(parsed.jobs)
            for entry in job.entries()
        ]

    body = job()
    body["strategy"] = {"matrix": {"flavor": ["a", "b"]}}
    plain = workflow({"lint": body})
    plain["on"]["schedule"] = [{"cron": "0 3 * * 1"}]
    before = plans(plain)
    edited = json.loads(json.dumps(plain))
    for level, key in chosen:
        value = INERT_VALUES[(level, key)]
        target = {
            rules.Level.WORKFLOW: edited,
            rules.Level.JOB: edited["jobs"]["lint"],
            rules.Level.STRATEGY: edited["jobs"]["lint"]["strategy"],
            rules.Level.STEP: edited["jobs"]["lint"]["steps"][1],
            rules.Level.TRIGGER: edited["on"]["schedule"][0],
        }[level]
        target[key.rpartition(".")[2]] = value
    assert plans(edited) == before


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        # No status function: GitHub implies `success() &&`, so the failed need decided it.
        ("github.event_name == 'push'", "needs build, which did not succeed"),
        # An explicit status function replaces the implied one: the expression decided it.
        ("success() && github.event_name == 'push'", "if: `success() && github.event_name"),
    ],
)
def test_a_job_skipped_by_a_failed_need_says_so_whatever_its_if(
    tmp_path: Path, condition: str, reason: str
) -> None:
    path = write_workflow(tmp_path, workflow({"build": job(), "ship": job(needs=["build"])}))
    parsed = reader.read(tmp_path, path, SETTINGS)
    ship = dataclasses.replace(parsed.jobs["ship"], if_=condition)
    gate = plan.job_gate(ship, PUSH_MAIN, succeeded=lambda _: False)
    assert not gate.runs
    assert gate.reason.startswith(reason), gate


@pytest.mark.parametrize(
    ("condition", "fix"),
    [
        (None, "it runs once build pass"),
        ("github.event_name == 'push'", "it runs once build pass"),
        # Its own `if:` is false for this push too: passing the need would not run it.
        ("github.event_name == 'pull_request'", "nothing: its if: is false on this push"),
    ],
)
def test_the_fix_for_a_job_behind_a_failed_need_says_whether_it_would_run(
    tmp_path: Path, condition: str | None, fix: str
) -> None:
    path = write_workflow(tmp_path, workflow({"build": job(), "ship": job(needs=["build"])}))
    parsed = reader.read(tmp_path, path, SETTINGS)
    ship = dataclasses.replace(parsed.jobs["ship"], if_=condition)
    gate = plan.job_gate(ship, PUSH_MAIN, succeeded=lambda _: False)
    assert (gate.runs, gate.reason) == (False, "needs build, which did not succeed")
    assert gate.fix.startswith(fix), gate


@pytest.mark.parametrize(
    "condition",
    [
        # Each is true on GitHub (sha is never empty, the workflow is named CI there), false
        # with the nulls a local run would have: a skip would pass over a job GitHub runs.
        "github.sha != ''",
        "github.workflow == 'CI' && github.event_name == 'push'",
        "github.repository == 'example-org/my-service'",
        "github.run_number > 0",
    ],
)
def test_a_job_if_reading_a_property_not_set_locally_is_refused_not_skipped(
    tmp_path: Path, condition: str
) -> None:
    path = write_workflow(tmp_path, workflow({"ship": job(**{"if": condition})}))
    parsed = reader.read(tmp_path, path, SETTINGS)
    gate = plan.job_gate(parsed.jobs["ship"], PUSH_MAIN, succeeded=lambda _: True)
    assert gate.refused, gate
    assert not gate.runs
    assert "is not a github property `invoke ci` sets locally" in gate.reason, gate


def test_a_workflow_refused_under_on_stops_the_run_rather_than_reading_not_triggered(
    tmp_path: Path,
) -> None:
    # `pushes` is no event: GitHub refuses the file, so "not triggered, exit 0" would pass it.
    path = write_workflow(tmp_path, {"on": {"pushes": None}, "jobs": {"lint": job()}})
    with pytest.raises(Exit) as refused:
        plan.choose(tmp_path, [path], event=PUSH_MAIN, settings=SETTINGS, tasks=None, inputs={})
    assert str(refused.value.message).startswith(f"ci: cannot run {path}: "), refused.value


@pytest.mark.parametrize("jobs", [0, -3])
def test_jobs_below_one_is_one_line(tmp_path: Path, jobs: int) -> None:
    with pytest.raises(Exit) as refused:
        runner.run_ci(tmp_path, jobs=jobs)
    assert refused.value.message == f"ci: --jobs {jobs}: give 1 or more jobs to run side by side"


@pytest.mark.parametrize("text", ["abc", "", "1.5", "0", "-1"])
def test_a_jobs_flag_that_is_no_count_is_one_line(text: str) -> None:
    with pytest.raises(Exit) as refused:
        runner.jobs_flag(text)
    assert refused.value.message == f"ci: --jobs {text}: give 1 or more jobs to run side by side"


def test_a_jobs_flag_is_read_as_a_count() -> None:
    assert runner.jobs_flag("2") == 2


MACHINE_TOKEN = "ghs_machine_own"  # noqa: S105 - a made-up value to find in the output
APP_TOKEN = {"id": "app", "uses": f"actions/create-github-app-token@{SHA}"}


def test_a_setup_step_s_credential_is_the_machine_s_own_in_the_task_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = job()
    body["steps"].insert(1, APP_TOKEN)
    body["steps"][2]["env"] = {"GH_TOKEN": "${{ steps.app.outputs.token }}"}
    parsed = reader.read(tmp_path, write_workflow(tmp_path, workflow({"lint": body})), SETTINGS)
    assert parsed.problems == ()
    entry = next(parsed.jobs["lint"].entries())
    monkeypatch.setenv("GH_TOKEN", MACHINE_TOKEN)

    planned = plan_entry(Scene(tmp_path, parsed, PUSH_MAIN, HOST, "3.13"), entry)

    assert planned.refused is None
    assert planned.env["GH_TOKEN"] == MACHINE_TOKEN
    assert Masker.for_workflow(parsed)(f"token {MACHINE_TOKEN}") == "token ***"
    monkeypatch.delenv("GH_TOKEN")
    unset = plan_entry(Scene(tmp_path, parsed, PUSH_MAIN, HOST, "3.13"), entry)
    assert unset.env["GH_TOKEN"] == ""  # as an unset secret reads


@pytest.mark.parametrize(
    ("edit", "reader_of"),
    [
        pytest.param(lambda s: s[2].update(env={"T": "${{ steps.app.outputs.other }}"}), "step 3"),
        pytest.param(lambda s: s[2].update(env={"T": "${{ steps.app.outputs }}"}), "step 3"),
        pytest.param(lambda s: s[0].update(env={"T": "${{ steps.app.outputs.token }}"}), "step 1"),
        pytest.param(
            lambda s: s.insert(
                2, {"uses": CHECKOUT, "with": {"token": "${{ steps.app.outputs.token }}"}}
            ),
            "step 3",
        ),
        pytest.param(lambda s: s[1].pop("id"), "step 3"),
    ],
    ids=["another-output", "every-output", "a-setup-step", "another-setup-step", "no-id"],
)
def test_a_credential_is_read_only_by_the_task_step_and_only_the_token(
    tmp_path: Path, edit: Any, reader_of: str
) -> None:
    body = job()
    body["steps"].insert(1, dict(APP_TOKEN))
    body["steps"][2]["env"] = {"GH_TOKEN": "${{ steps.app.outputs.token }}"}
    edit(body["steps"])
    found = problems_of(tmp_path, workflow({"lint": body}))
    assert any(f"{reader_of} reads `steps.app" in p for p in found), found


DISPATCHED = {
    "push": None,
    "pull_request": None,
    "workflow_dispatch": {"inputs": {"Target": {"type": "string", "default": "staging"}}},
}


@pytest.mark.parametrize(
    ("reader_job", "refusal"),
    [
        (
            job(**{"if": "needs.changes.outputs.backend == 'true'"}),
            "reads `needs.changes.outputs.backend`, but `changes` is not in its `needs:`",
        ),
        (
            job(needs="changes", env={"PART": "${{ needs.changes.outputs.frontend }}"}),
            (
                "reads `needs.changes.outputs.frontend`, but job `changes` declares no output "
                "`frontend`"
            ),
        ),
        (
            job(env={"WHERE": "${{ inputs.region }}"}),
            "reads `inputs.region`, which `on.workflow_dispatch.inputs` does not declare",
        ),
        (
            job(**{"if": "github.event.inputs.dry_run == 'true'"}),
            "reads `github.event.inputs.dry_run`, which `on.workflow_dispatch.inputs`",
        ),
    ],
)
def test_a_read_of_something_the_workflow_does_not_declare_is_refused(
    tmp_path: Path, reader_job: dict[str, Any], refusal: str
) -> None:
    # GitHub evaluates each of these to null (its docs: "the needs context contains outputs
    # from all jobs that are defined as a direct dependency of the current job"), so the
    # condition is quietly false there; parity names what to declare instead.
    changes = job(outputs={"backend": "${{ steps.task.outputs.backend }}"})
    changes["steps"][1]["id"] = "task"
    document = {"on": DISPATCHED, "jobs": {"changes": changes, "later": reader_job}}
    found = problems_of(tmp_path, document)
    assert len(found) == 1, found
    assert refusal in found[0], found
    assert found[0].endswith("(GitHub gives null there)"), found


def test_declared_reads_are_accepted_whatever_their_case(tmp_path: Path) -> None:
    # Contexts, job ids, outputs and input names are case-insensitive in expressions.
    changes = job(outputs={"backend": "${{ steps.task.outputs.backend }}"})
    changes["steps"][1]["id"] = "task"
    later = job(
        needs=["changes"],
        env={"WHERE": "${{ inputs.target }}", "RAN": "${{ needs.Changes.result }}"},
        **{"if": "needs.changes.outputs.BACKEND == 'true' && github.event.inputs.TARGET"},
    )
    document = {"on": DISPATCHED, "jobs": {"changes": changes, "later": later}}
    assert problems_of(tmp_path, document) == []


SETUP_UV = {"uses": f"astral-sh/setup-uv@{SHA}", "with": {"version": "0.13.9"}}
PRE_COMMIT = f"pre-commit/action@{SHA}"
HOOKS = "uv run --locked pre-commit run --show-diff-on-failure --color=always"


@pytest.mark.parametrize(
    ("extra", "script"),
    [({}, f"{HOOKS} --all-files"), ({"extra_args": "ruff-check --files src/a.py"}, None)],
)
def test_a_pre_commit_action_job_runs_the_hooks_with_the_locks_pre_commit(
    tmp_path: Path, extra: dict[str, str], script: str | None
) -> None:
    # pre-commit/action's own action.yml runs
    # `pre-commit run --show-diff-on-failure --color=always ${{ inputs.extra_args }}`,
    # extra_args defaulting to --all-files.
    step: dict[str, Any] = {"uses": PRE_COMMIT}
    if extra:
        step["with"] = extra
    body = {"runs-on": "ubuntu-24.04", "steps": [{"uses": CHECKOUT}, SETUP_UV, step]}
    path = write_workflow(tmp_path, workflow({"hooks": body}))
    parsed = reader.read(tmp_path, path, SETTINGS)
    assert parsed.problems == ()
    (entry,) = parsed.jobs["hooks"].entries()
    planned = plan_entry(Scene(tmp_path, parsed, PUSH_MAIN, HOST, "3.13"), entry)
    assert planned.refused is None
    assert planned.script == (script or f"{HOOKS} ruff-check --files src/a.py")


@pytest.mark.parametrize(
    ("steps", "refusal"),
    [
        (
            [{"uses": CHECKOUT}, {"uses": PRE_COMMIT}],
            (
                "runs hooks through uv, which GitHub's runner lacks: put `astral-sh/setup-uv` "
                "before it"
            ),
        ),
        (
            [{"uses": CHECKOUT}, SETUP_UV, {"uses": PRE_COMMIT}, {"run": "uv run invoke lint"}],
            "is a job's one call, as a `run:` step is",
        ),
        (
            [
                {"uses": CHECKOUT},
                SETUP_UV,
                {"uses": PRE_COMMIT, "with": {"extra_args": "--all-files; rm -rf ."}},
            ],
            "input `extra_args` must be plain words",
        ),
        (
            [{"uses": CHECKOUT}, SETUP_UV, {"uses": PRE_COMMIT, "with": {"cache": "false"}}],
            "input `cache` is not one parity knows",
        ),
        (
            [{"uses": CHECKOUT}, SETUP_UV, {"uses": PRE_COMMIT, "if": "always()"}],
            "the task step has an `if:`",
        ),
    ],
)
def test_a_pre_commit_action_parity_cannot_mirror_is_refused(
    tmp_path: Path, steps: list[dict[str, Any]], refusal: str
) -> None:
    body = {"runs-on": "ubuntu-24.04", "steps": steps}
    found = problems_of(tmp_path, workflow({"hooks": body}))
    assert any(refusal in problem for problem in found), found


@pytest.mark.parametrize(
    ("action", "inputs"),
    [
        ("aquasecurity/setup-trivy", {"version": "latest"}),
        ("astral-sh/setup-uv", {"version": ">=0.13"}),
        ("astral-sh/setup-uv", {"version": "0.13"}),
        ("sigstore/cosign-installer", {"cosign-release": "v2"}),
    ],
)
def test_a_setup_action_pinning_no_one_version_skips_naming_the_fix(
    action: str, inputs: dict[str, str]
) -> None:
    ((name, pinned),) = inputs.items()
    held = tools.held(action, inputs, fetch=True)
    assert held.download is None, "nothing is downloaded for a version that is no version"
    fix = f"pin one version (`{name}: vX.Y.Z`) in the workflow"
    assert held.skip == (f"{action} `{name}: {pinned}` is no one version to hold: {fix}", fix)


def test_a_checksums_file_gives_the_line_of_its_asset_only() -> None:
    listing = (
        f"{'a' * 64}  trivy_0.76.0_Linux-ARM64.tar.gz\n"
        f"{'b' * 64} *trivy_0.76.0_Linux-64bit.tar.gz\n"
        "not a line\n"
        f"{'C' * 64}  trivy_0.76.0_macOS-64bit.tar.gz\n"
    )
    assert tools.published_checksum(listing, "trivy_0.76.0_Linux-64bit.tar.gz") == "b" * 64
    assert tools.published_checksum(listing, "trivy_0.76.0_macOS-64bit.tar.gz") is None
    assert tools.published_checksum(listing, "trivy_0.76.0_Linux") is None


def test_checkout_credentials_are_classified_and_its_extra_contents_refused(
    tmp_path: Path,
) -> None:
    body = job()
    body["steps"][0]["with"] = {
        "token": "${{ secrets.CHECKOUT_PAT }}",
        "ssh-key": "${{ secrets.KEY }}",
    }
    assert problems_of(tmp_path, workflow({"lint": body})) == []
    body["steps"][0]["with"] = {"submodules": "recursive", "clean": "false"}
    found = problems_of(tmp_path, workflow({"lint": body}))
    assert any("input `submodules` is refused" in p for p in found), found
    (unknown,) = [p for p in found if "`clean`" in p]
    assert unknown.endswith(
        "input `clean` is not one parity knows; leave it out (it accepts fetch-depth, "
        "fetch-tags, persist-credentials, show-progress, ssh-key, token)"
    ), unknown
