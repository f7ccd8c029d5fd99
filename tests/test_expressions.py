"""Expressions as a tree, the context availability table, and what jobs pass each other.

Fast tier. Expressions are checked against a reference evaluator written here from GitHub's
documented rules (docs.github.com "Evaluate expressions in workflows and actions"), and
round-trip through the printer. The runner tests run real `invoke ci` jobs whose task is a
stand-in `uv` on PATH, so outputs, needs, masking and the post-step contexts are exercised
end to end without rendering a service.
"""

import contextlib
import json
import math
import os
import shlex
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from devtasks.jobs.outputs import output_lines, set_outputs
from devtasks.local import plan, runner, values
from devtasks.local.file_commands import FileCommandError, parse_outputs
from devtasks.workflow import contexts, expressions
from devtasks.workflow.contexts import Location
from hypothesis import given
from hypothesis import strategies as st
from invoke.exceptions import Exit

SHA = "0" * 40
CHECKOUT = f"actions/checkout@{SHA}"
UPLOAD = f"actions/upload-artifact@{SHA}"

# --- a reference evaluator, from the documentation, over the test's own trees --------------
# A tree is ("lit", value) | ("not", tree) | (op, left, right); printed fully parenthesised.


def ref_number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, float):
        return value
    try:
        return float(value) if value.strip() else 0.0
    except ValueError:
        return math.nan


def ref_truthy(value: Any) -> bool:
    # "falsy: false, 0, -0, "", '', null" (and NaN, as the runner's IsTruthy has it).
    if isinstance(value, float) and math.isnan(value):
        return False
    return not (value is None or value is False or value in {"", 0})


def ref_eval(tree: tuple[Any, ...]) -> Any:
    kind = tree[0]
    if kind == "lit":
        return tree[1]
    if kind == "not":
        return not ref_truthy(ref_eval(tree[1]))
    left = ref_eval(tree[1])
    if kind == "&&":
        return ref_eval(tree[2]) if ref_truthy(left) else left
    if kind == "||":
        return left if ref_truthy(left) else ref_eval(tree[2])
    right = ref_eval(tree[2])
    a: Any
    b: Any
    if isinstance(left, str) and isinstance(right, str):
        a, b = left.lower(), right.lower()  # "GitHub ignores case when comparing strings"
    elif type(left) is type(right) and kind in {"==", "!="}:
        a, b = left, right
    else:
        a, b = ref_number(left), ref_number(right)  # "coerces the type to a number"
    if kind in {"==", "!="}:
        return (a == b) is (kind == "==")
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[kind]


def ref_print(tree: tuple[Any, ...]) -> str:
    kind = tree[0]
    if kind == "lit":
        value: Any = tree[1]
        if value is None:
            return "null"
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, float):
            return repr(value)
        return "'" + str(value).replace("'", "''") + "'"
    if kind == "not":
        return f"!({ref_print(tree[1])})"
    return f"({ref_print(tree[1])} {kind} {ref_print(tree[2])})"


LITERALS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5).map(float),
    st.sampled_from(["", "a", "A", "b", "1", "0", " 2 ", "x y", "it's"]),
).map(lambda value: ("lit", value))
TREES = st.recursive(
    LITERALS,
    lambda inner: st.one_of(
        inner.map(lambda tree: ("not", tree)),
        st.tuples(st.sampled_from(["&&", "||", "==", "!=", "<", "<=", ">", ">="]), inner, inner),
    ),
    max_leaves=8,
)


@given(tree=TREES)
def test_expressions_evaluate_as_the_documented_rules_say(tree: tuple[Any, ...]) -> None:
    context = expressions.Context(values={})
    assert expressions.evaluate(ref_print(tree), context) == ref_eval(tree)


NAMES = st.sampled_from(["github", "needs", "matrix", "env", "steps"])
KEYS = st.text(alphabet="abcAB_-", min_size=1, max_size=4).filter(lambda k: k[0] != "-")
REFERENCES = st.builds(
    lambda head, rest: expressions.Reference((head, *rest)), NAMES, st.lists(KEYS, max_size=3)
)
NODES = st.recursive(
    st.one_of(
        st.builds(expressions.Literal, st.one_of(st.none(), st.booleans(), st.text(max_size=5))),
        REFERENCES,
    ),
    lambda inner: st.one_of(
        st.builds(expressions.Not, inner),
        st.builds(expressions.Binary, st.sampled_from(["&&", "||", "==", "<="]), inner, inner),
        st.builds(
            expressions.Call,
            st.sampled_from(["contains", "startsWith", "format", "success"]),
            st.lists(inner, max_size=3).map(tuple),
        ),
    ),
    max_leaves=10,
)


@given(node=NODES)
def test_every_tree_round_trips_through_the_printer(node: expressions.Node) -> None:
    assert expressions.parse(expressions.render(node)) == node


def test_and_or_short_circuit_so_the_other_side_is_never_evaluated() -> None:
    context = expressions.Context(values={})
    # format('{1}', 'a') fails when evaluated: it has no second argument.
    failing = "format('{1}', 'a')"
    assert expressions.evaluate(f"false && {failing}", context) is False
    assert expressions.evaluate(f"'yes' || {failing}", context) == "yes"
    with pytest.raises(expressions.ExpressionError, match="no argument for"):
        expressions.evaluate(f"true && {failing}", context)


def test_relational_operators_bind_tighter_than_equality() -> None:
    # GitHub's operator table: < <= > >= before == !=.
    context = expressions.Context(values={})
    assert expressions.evaluate("1 < 2 == true", context) is True
    assert expressions.evaluate("format('{0}-{{x}}', 3)", context) == "3-{x}"


# --- the context availability table -------------------------------------------------------


def test_every_place_the_runner_evaluates_has_a_row_and_scope_supplies_it() -> None:
    """`scope` refuses to build a place's Context without a context its row allows."""
    run = contexts.Values(github={}, inputs={}, secrets={}, vars={})
    optional = {"matrix", "needs", "env", "steps"}
    for location in Location:
        wanted = contexts.readable(location) & optional
        full = contexts.scope(location, run, matrix={}, needs={}, env={}, steps={})
        assert full.readable == contexts.readable(location)
        if wanted:
            with pytest.raises(TypeError, match="did not supply"):
                contexts.scope(location, run)
        else:
            contexts.scope(location, run)


@pytest.mark.parametrize(
    ("location", "source", "allowed"),
    [
        (Location.JOB_IF, "needs.build.outputs.x == 'true'", True),
        (Location.JOB_IF, "inputs.dry-run && vars.REGION != ''", True),
        (Location.JOB_IF, "secrets.TOKEN != ''", False),
        (Location.JOB_IF, "matrix.os == 'x'", False),
        (Location.JOB_IF, "steps.a.outcome == 'success'", False),
        (Location.STEP_IF, "env.UPLOAD == 'yes' && steps.task.outcome == 'failure'", True),
        (Location.STEP_IF, "secrets.TOKEN != ''", False),
        (Location.JOB_ENV, "secrets.TOKEN", True),
        (Location.JOB_ENV, "env.X", False),
        (Location.WORKFLOW_ENV, "matrix.os", False),
        (Location.STEP_ENV, "always()", False),
    ],
)
def test_a_place_reads_only_the_contexts_github_gives_it(
    location: Location, source: str, *, allowed: bool
) -> None:
    problems = contexts.check(expressions.parse(source), location)
    assert (problems == []) is allowed, problems
    assert all("\n" not in problem for problem in problems)


# --- $GITHUB_OUTPUT, as actions/runner parses it --------------------------------------------


@pytest.mark.parametrize(
    ("text", "outputs"),
    [
        ("a=1\nb=x=y\n", {"a": "1", "b": "x=y"}),  # the first `=` splits
        ("\n\na=1", {"a": "1"}),  # empty lines skipped; no final newline needed
        ("m<<EOF\nline 1\nline 2\nEOF\n", {"m": "line 1\nline 2"}),
        ("m<<EOF\nEOF\n", {"m": ""}),
        ("m<<EOF\na=b\nx<<y\nEOF\n", {"m": "a=b\nx<<y"}),  # inside a value, nothing is parsed
        ("a=1\na=2\n", {"a": "2"}),  # a later value wins
        ("a=b<<c\n", {"a": "b<<c"}),  # `=` first: name=value
        ("a<<b=c\nv\nb=c\n", {"a": "v"}),  # `<<` first: heredoc with delimiter `b=c`
        ("a=1\r\n", {"a": "1\r"}),  # LF only on Linux; the CR is the value's
    ],
)
def test_github_output_is_parsed_as_the_runner_parses_it(
    text: str, outputs: dict[str, str]
) -> None:
    assert parse_outputs(text) == outputs


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("m<<EOF\nno end\n", "matching delimiter not found 'EOF'"),
        ("justtext\n", "invalid format 'justtext'"),
        ("=v\n", "the name must not be empty"),
        ("<<EOF\nEOF\n", "must not be empty"),
        # A value line equal to the delimiter ends the value early; the rest is no command.
        ("m<<EOF\nEOF\nrest of the value\nEOF\n", "invalid format 'rest of the value'"),
    ],
)
def test_a_github_output_the_runner_refuses_is_refused(text: str, message: str) -> None:
    with pytest.raises(FileCommandError, match=message):
        parse_outputs(text)


@given(
    outputs=st.dictionaries(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,8}", fullmatch=True),
        st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r")),
        max_size=4,
    )
)
def test_the_output_helper_writes_what_the_runner_reads_back(outputs: dict[str, str]) -> None:
    assert parse_outputs(output_lines(outputs)) == outputs


def test_the_output_helper_refuses_a_value_holding_its_delimiter() -> None:
    with pytest.raises(Exit, match="holds the delimiter"):
        output_lines({"m": "a\nEOF\nb"}, delimiter="EOF")


def test_the_output_helper_appends_to_github_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out"
    target.write_text("first=1\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_OUTPUT", str(target))
    set_outputs({"backend": "true", "notes": "a\nb"})
    assert parse_outputs(target.read_text(encoding="utf-8")) == {
        "first": "1",
        "backend": "true",
        "notes": "a\nb",
    }


# --- invoke ci, end to end, with a stand-in task ---------------------------------------------

# Stands in for `uv run --locked invoke <task>` (argv: run --locked invoke <task>).
FAKE_UV = """#!/bin/sh
case "$4" in
  changes) printf 'backend<<EOF\\ntrue\\nEOF\\ndocs=false\\n' >> "$GITHUB_OUTPUT" ;;
  show) echo "backend=$BACKEND docs=$DOCS" ;;
  leak) echo "the token is $DEPLOY_TOKEN"; echo "token=$DEPLOY_TOKEN" >> "$GITHUB_OUTPUT" ;;
  bad-output) echo "no-equals-sign" >> "$GITHUB_OUTPUT" ;;
  *) exit 0 ;;
esac
"""


def task_job(task: str, **keys: Any) -> dict[str, Any]:
    steps = [{"uses": CHECKOUT}, {"id": "task", "run": f"uv run --locked invoke {task}"}]
    return {"runs-on": "ubuntu-24.04", "steps": steps, **keys}


def ci_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    jobs: dict[str, Any],
    *,
    event: str = "push",
    inputs: dict[str, str] | None = None,
) -> tuple[dict[str, Any], str]:
    """`invoke ci --json --event <event>` on these jobs: the JSON document and the job log."""
    dispatch = {
        "inputs": {
            "deploy": {"type": "boolean", "default": False},
            "replicas": {"type": "number", "default": 3},
        }
    }
    on = {"push": None, "pull_request": None, "workflow_dispatch": dispatch}
    document = {"on": on, "jobs": jobs}
    workflow = tmp_path / ".github/workflows/ci.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    (tmp_path / ".python-version").write_text("3.13\n", encoding="utf-8")
    fake = tmp_path / "bin/uv"
    fake.parent.mkdir()
    fake.write_text(FAKE_UV, encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    with stdout.open("w") as out, stderr.open("w") as err:
        monkeypatch.setattr("sys.stdout", out)
        monkeypatch.setattr("sys.stderr", err)
        with contextlib.suppress(Exit):
            asked = plan.Asked(inputs=inputs or {})
            runner.run_ci(tmp_path, event_name=event, as_json=True, asked=asked)
    return json.loads(stdout.read_text()), stderr.read_text() + stdout.read_text()


def results(document: dict[str, Any]) -> dict[str, str]:
    return {entry["job"]: entry["result"] for entry in document["entries"]}


def test_job_outputs_reach_needs_in_if_and_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    changes = task_job(
        "changes",
        outputs={
            "backend": "${{ steps.task.outputs.backend }}",
            "docs": "${{ steps.task.outputs.docs }}",
        },
    )
    env = {
        "BACKEND": "${{ needs.changes.outputs.backend }}",
        "DOCS": "${{ needs.changes.result }}",
    }
    jobs = {
        "changes": changes,
        "backend": task_job(
            "show", needs="changes", env=env, **{"if": "needs.changes.outputs.backend == 'true'"}
        ),
        "docs": task_job("show", needs="changes", **{"if": "needs.changes.outputs.docs == 'true'"}),
    }
    document, log = ci_run(tmp_path, monkeypatch, jobs)
    assert results(document) == {"changes": "passed", "backend": "passed", "docs": "skipped"}
    assert document["outputs"] == {"changes": {"backend": "true", "docs": "false"}}
    assert "backend=true docs=success" in log


def test_a_secret_is_read_from_the_environment_and_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", "s3cr3t-value")
    leak = task_job(
        "leak",
        env={"DEPLOY_TOKEN": "${{ secrets.DEPLOY_TOKEN }}"},
        outputs={"token": "${{ steps.task.outputs.token }}"},
        environment={"name": "production", "url": "https://example.org"},
    )
    document, log = ci_run(tmp_path, monkeypatch, {"leak": leak})
    assert results(document) == {"leak": "passed"}
    assert "s3cr3t-value" not in log
    assert "the token is ***" in log
    # GitHub drops a job output that holds a secret.
    assert document["outputs"] == {"leak": {}}
    assert "skip output 'token' since it may contain secret" in log
    assert "environment `production`: its protection rules" in log


def test_a_github_output_the_runner_refuses_fails_the_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document, _ = ci_run(tmp_path, monkeypatch, {"bad": task_job("bad-output")})
    (entry,) = document["entries"]
    assert entry["result"] == "failed"
    assert "invalid format 'no-equals-sign'" in entry["reason"]


def test_a_post_step_condition_reads_the_jobs_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The class of bug the hidden differential found: parity let `env.*` be read in a
    post-step's `if:` and the runner evaluated it with no env, so the upload GitHub runs
    (and fails, finding nothing) was skipped locally."""
    upload = {
        "uses": UPLOAD,
        "if": "env.UPLOAD == 'yes' && steps.task.outcome == 'success'",
        "with": {"path": "reports/none.xml", "if-no-files-found": "error"},
    }
    job = task_job("ok", env={"UPLOAD": "yes"})
    job["steps"].append(upload)
    document, _ = ci_run(tmp_path, monkeypatch, {"publish": job})
    (entry,) = document["entries"]
    assert entry["result"] == "failed", entry
    assert "finds no reports/none.xml" in entry["reason"]


def test_masking_covers_each_line_of_a_multi_line_secret() -> None:
    mask = values.Masker(["first-line\nsecond-line", ""])
    assert mask("a first-line b second-line") == "a *** b ***"
    assert mask("nothing secret") == "nothing secret"


def test_masking_covers_a_secret_in_a_failing_commands_quoted_line() -> None:
    # devtasks' `run` reports a failure as `shlex.join(argv)`, which splits a quote apart.
    mask = values.Masker(["s3cr'et val"])
    line = shlex.join(["sh", "-c", "echo s3cr'et val >&2; exit 3"])
    assert "s3cr" not in mask(line), mask(line)
    assert mask(line) == "sh -c 'echo *** >&2; exit 3'"


CODECOV = f"codecov/codecov-action@{SHA}"
AWS = f"aws-actions/configure-aws-credentials@{SHA}"


@pytest.mark.parametrize(("fail_ci_if_error", "result"), [("true", "failed"), ("false", "passed")])
def test_codecov_checks_its_comma_separated_files_as_the_action_fails_on_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_ci_if_error: str, result: str
) -> None:
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports/coverage-unit.xml").write_text("<coverage/>", encoding="utf-8")
    job = task_job("ok")
    job["steps"].insert(1, {"uses": AWS, "with": {"role-to-assume": "arn:aws:iam::1:role/ci"}})
    job["steps"].append(
        {
            "uses": CODECOV,
            "with": {
                "token": "${{ secrets.CODECOV_TOKEN }}",
                "files": "reports/coverage-unit.xml,reports/coverage-integration.xml",
                "flags": "unit,integration",
                "fail_ci_if_error": fail_ci_if_error,
            },
        }
    )
    document, log = ci_run(tmp_path, monkeypatch, {"coverage": job})
    (entry,) = document["entries"]
    assert entry["result"] == result, entry
    if result == "failed":
        assert "codecov-action finds no reports/coverage-integration.xml" in entry["reason"]
        assert "coverage-unit" not in entry["reason"]
    assert "aws-actions/configure-aws-credentials logs in on GitHub; locally it does" in log


# GitHub's docs (contexts, "inputs context"): "the inputs context preserves Boolean values as
# Booleans instead of converting them to strings" -- github.event.inputs holds the strings, so
# `github.event.inputs.deploy == true` compares 'true' with true (NaN with 1) and is false.
@pytest.mark.parametrize(
    ("condition", "given", "result"),
    [
        ("inputs.deploy && github.event.inputs.deploy == 'true'", "true", "passed"),
        ("inputs.deploy && github.event.inputs.deploy == 'true'", "false", "skipped"),
        ("inputs.deploy == true && github.event.inputs.deploy == true", "true", "skipped"),
        ("inputs.replicas == 3 && github.event.inputs.replicas == '3'", "true", "passed"),
    ],
)
def test_dispatch_inputs_are_typed_in_inputs_and_text_in_github_event_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, condition: str, given: str, result: str
) -> None:
    jobs = {"deploy": task_job("ok", **{"if": condition})}
    document, _ = ci_run(
        tmp_path, monkeypatch, jobs, event="workflow_dispatch", inputs={"deploy": given}
    )
    assert results(document) == {"deploy": result}


def test_the_dry_run_leaves_an_if_on_outputs_to_the_run_and_masks_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", "s3cr3t-value")
    jobs = {
        "changes": task_job("changes", outputs={"backend": "${{ steps.task.outputs.backend }}"}),
        "backend": task_job(
            "show",
            needs="changes",
            env={"DEPLOY_TOKEN": "${{ secrets.DEPLOY_TOKEN }}"},
            **{"if": "needs.changes.outputs.backend == 'true'"},
        ),
    }
    document = {"on": {"push": None, "pull_request": None}, "jobs": jobs}
    workflow = tmp_path / ".github/workflows/ci.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    (tmp_path / ".python-version").write_text("3.13\n", encoding="utf-8")
    plan.print_plan(tmp_path, "push", "", as_json=True)
    out = capsys.readouterr().out
    assert "s3cr3t-value" not in out
    rows = {row["job"]: row for row in json.loads(out)["entries"]}
    assert rows["backend"]["plan"].endswith("is decided once changes ran)"), rows
    assert rows["backend"]["env"]["DEPLOY_TOKEN"] == values.MASK
