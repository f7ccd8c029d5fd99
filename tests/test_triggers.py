"""Triggers as GitHub evaluates them: the filter patterns, `on:` decisions, the local event.

Fast tier. The rules are GitHub's, cited from github/docs
content/actions/reference/workflow-syntax-for-github-actions.md ("Filter pattern cheat sheet",
"Patterns to match branches and tags", "Patterns to match file paths") and the
`on.<push|pull_request>` sections it includes. act does not evaluate branch or path filters
at all (tests/act_runner.py ACT_SELF_HOSTED_IGNORES, nektos/act pkg/model/planner.go PlanEvent
matches event names only), so these rules are held to the documentation, not to act.
"""

import functools
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import check_jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from devtasks import config
from devtasks.local import changed, plan, runner
from devtasks.workflow import globs, reader, rules, triggers
from devtasks.workflow.triggers import Happening, Verdict
from hypothesis import given
from hypothesis import strategies as st
from invoke.exceptions import Exit

SETTINGS = config.Config()
CHECKOUT = "actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8"

# --- the cheat sheet, row by row -----------------------------------------------------------

# "Patterns to match branches and tags": pattern(s), example matches, and (beyond the
# table) names the row's description says it must not match.
BRANCH_ROWS: list[tuple[list[str], list[str], list[str]]] = [
    (["feature/*"], ["feature/my-branch", "feature/your-branch"], ["feature/a/b"]),
    (
        ["feature/**"],
        ["feature/beta-a/my-branch", "feature/your-branch", "feature/mona/the/octocat"],
        ["features/x"],
    ),
    (["main", "releases/mona-the-octocat"], ["main", "releases/mona-the-octocat"], ["mainx"]),
    (["*"], ["main", "releases"], ["all/the/branches"]),
    (["**"], ["all/the/branches", "every/tag"], []),
    (["*feature"], ["mona-feature", "feature", "ver-10-feature"], ["feature-x"]),
    (["v2*"], ["v2", "v2.0", "v2.9"], ["v1.0"]),
    (["v[12].[0-9]+.[0-9]+"], ["v1.10.1", "v2.0.0"], ["v3.0.0", "v1.x.1"]),
]
# "Patterns to match file paths": "Path patterns must match the whole path".
PATH_ROWS: list[tuple[list[str], list[str], list[str]]] = [
    (["*"], ["README.md", "server.rb"], ["docs/README.md"]),
    (["*.jsx?"], ["page.js", "page.jsx"], ["page.jsxx"]),
    (["**"], ["all/the/files.md"], []),
    (["*.js"], ["app.js", "index.js"], ["js/index.js"]),
    (["**.js"], ["index.js", "js/index.js", "src/js/app.js"], ["index.jsx"]),
    (["docs/*"], ["docs/README.md", "docs/file.txt"], ["docs/mona/octocat.txt"]),
    (["docs/**"], ["docs/README.md", "docs/mona/octocat.txt"], ["src/docs/x"]),
    (
        ["docs/**/*.md"],
        ["docs/README.md", "docs/mona/hello-world.md", "docs/a/markdown/file.md"],
        ["docs/a.txt"],
    ),
    (
        ["**/docs/**"],
        ["docs/hello.md", "dir/docs/my-file.txt", "space/docs/plan/space.doc"],
        ["mydocs/x"],
    ),
    (["**/README.md"], ["README.md", "js/README.md"], ["README.mdx"]),
    (["**/*src/**"], ["a/src/app.js", "my-src/code/js/app.js"], ["src.js"]),
    (["**/*-post.md"], ["my-post.md", "path/their-post.md"], ["post.md"]),
    (
        ["**/migrate-*.sql"],
        ["migrate-10909.sql", "db/migrate-v1.0.sql", "db/sept/migrate-v1.sql"],
        ["migrate.sql"],
    ),
    # "When a file matches a pattern and also matches a negative pattern defined later in
    # the file, the file will not be included."
    (["*.md", "!README.md"], ["hello.md"], ["README.md", "docs/hello.md"]),
    # "Patterns are checked sequentially. A pattern that negates a previous pattern will
    # re-include file paths."
    (["*.md", "!README.md", "README*"], ["hello.md", "README.md", "README.doc"], []),
]


@pytest.mark.parametrize(("patterns", "matches", "misses"), BRANCH_ROWS + PATH_ROWS)
def test_the_cheat_sheet_rows(patterns: list[str], matches: list[str], misses: list[str]) -> None:
    assert [name for name in matches if not globs.included(patterns, name)] == []
    assert [name for name in misses if globs.included(patterns, name)] == []


def test_a_pattern_github_refuses_is_named() -> None:
    # "Ranges can only include a-z, A-Z, and 0-9."
    assert globs.check(["v[!-~]"]) == ["`v[!-~]`: range !-~ is not within a-z, A-Z or 0-9"]
    assert globs.check(["release/[0-9"]) == ["`release/[0-9`: `[` is not closed by `]`"]
    assert globs.check(["main", "!v[0-9]*"]) == []


# --- an independent reference: a backtracking matcher over the documented rules -------------


def _tokens(pattern: str) -> list[tuple[str, frozenset[str], str]]:
    """(kind, characters, quantifier) per piece of a pattern, read straight from the docs."""
    found: list[tuple[str, frozenset[str], str]] = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**", index):
            boundary = index == 0 or pattern[index - 1] == "/"
            if boundary and pattern.startswith("**/", index):
                found.append(("folders", frozenset(), ""))
                index += 3
            else:
                found.append(("anything", frozenset(), ""))
                index += 2
        elif pattern[index] == "*":
            found.append(("segment", frozenset(), ""))
            index += 1
        elif pattern[index] in "?+":
            kind, chars, _ = found[-1]
            found[-1] = (kind, chars, pattern[index])
            index += 1
        elif pattern[index] == "[":
            end = pattern.index("]", index)
            found.append(("one", frozenset(pattern[index + 1 : end]), ""))
            index = end + 1
        else:
            found.append(("one", frozenset(pattern[index]), ""))
            index += 1
    return found


def reference_match(pattern: str, name: str) -> bool:
    """`*` no slash, `**` anything, `**/` whole folders or none, `?`/`+` on the character before."""
    pieces = _tokens(pattern)

    @functools.cache
    def at(i: int, j: int) -> bool:  # noqa: PLR0911 - one return per kind of piece
        if i == len(pieces):
            return j == len(name)
        kind, chars, quantifier = pieces[i]
        if kind == "anything":
            return any(at(i + 1, k) for k in range(j, len(name) + 1))
        if kind == "segment":
            return any(at(i + 1, k) for k in range(j, len(name) + 1) if "/" not in name[j:k])
        if kind == "folders":
            ends = [k for k in range(j + 1, len(name) + 1) if name[k - 1] == "/"]
            return at(i + 1, j) or any(at(i + 1, k) for k in ends)
        fits = j < len(name) and name[j] in chars
        if quantifier == "?":
            return at(i + 1, j) or (fits and at(i + 1, j + 1))
        if quantifier == "+":
            return fits and (at(i + 1, j + 1) or at(i, j + 1))
        return fits and at(i + 1, j + 1)

    return at(0, 0)


ATOMS = st.sampled_from(["a", "b", "/", "[ab]", "a?", "b+", "[ab]+", "*", "**", "**/"])
NAMES = st.text(alphabet="ab/", max_size=8)


@given(pattern=st.lists(ATOMS, min_size=1, max_size=6).map("".join), name=NAMES)
def test_the_matcher_agrees_with_the_reference(pattern: str, name: str) -> None:
    if globs.check([pattern]):
        return  # `*?` and the like: refused before anything is matched
    expected = reference_match(pattern, name)
    assert bool(globs.compile_pattern(pattern).fullmatch(name)) is expected, (pattern, name)


@given(
    patterns=st.lists(
        st.tuples(st.booleans(), st.lists(ATOMS, min_size=1, max_size=4).map("".join)),
        min_size=1,
        max_size=4,
    ),
    name=NAMES,
)
def test_the_last_matching_pattern_decides(patterns: list[tuple[bool, str]], name: str) -> None:
    written = [("!" if negated else "") + body for negated, body in patterns]
    if globs.check(written):
        return
    decided = None
    for negated, body in patterns:
        if reference_match(body, name):
            decided = not negated
    assert globs.included(written, name) is bool(decided)


# --- `on:` decisions ------------------------------------------------------------------------


def on(document: Mapping[str, Any]) -> dict[str, triggers.Trigger]:
    found, problems = triggers.read_on(document)
    assert problems == []
    return found


PUSH_MAIN = Happening("push", "refs/heads/main", "main", ("src/app.py",))


def test_a_docs_only_commit_does_not_trigger_a_src_paths_workflow() -> None:
    docker = on({"push": {"paths": ["src/**"]}})
    docs_only = Happening("push", "refs/heads/main", "main", ("docs/index.md", "README.md"))
    decided = triggers.decide(docker, docs_only)
    assert decided.verdict is Verdict.NOT_TRIGGERED
    assert decided.rule == "on.push.paths: no changed file matches src/**"
    assert triggers.decide(docker, PUSH_MAIN).verdict is Verdict.TRIGGERED


def test_an_empty_paths_list_is_named_as_written() -> None:
    decided = triggers.decide(on({"push": {"paths": []}}), PUSH_MAIN)
    assert decided.rule == "on.push.paths: no changed file matches []"
    nothing_changed = Happening("push", "refs/heads/main", "main", ())
    decided = triggers.decide(on({"push": {"paths-ignore": []}}), nothing_changed)
    assert decided.rule == "on.push.paths-ignore: no file changed, against []"
    decided = triggers.decide(on({"push": {"paths": [""]}}), PUSH_MAIN)
    assert decided.rule == 'on.push.paths: no changed file matches ""'


def test_a_pull_request_into_release_does_not_run_a_main_only_workflow() -> None:
    # on.pull_request.branches: "the branches filter ... of the base (target) branch".
    ci = on({"pull_request": {"branches": ["main"]}, "push": None})
    into_release = Happening("pull_request", "refs/pull/1/merge", "release", ("src/app.py",))
    decided = triggers.decide(ci, into_release)
    assert (
        decided.rule
        == "on.pull_request.branches: the base branch `release` matches none of ['main']"
    )
    assert not decided.runs
    assert triggers.decide(ci, Happening("pull_request", "refs/pull/1/merge", "main")).runs


def test_tags_ignore_skips_a_matching_tag_and_filters_out_branches() -> None:
    # "If you define only tags/tags-ignore or only branches/branches-ignore, the workflow
    # won't run for events affecting the undefined Git ref."
    release = on({"push": {"tags-ignore": ["*-rc*"]}})
    assert not triggers.decide(release, Happening("push", "refs/tags/v1.0-rc1")).runs
    assert triggers.decide(release, Happening("push", "refs/tags/v1.0")).runs
    branch = triggers.decide(release, PUSH_MAIN)
    assert branch.rule == "on.push filters only tags, so a push of branch `main` is not run"


def test_paths_ignore_needs_one_file_it_does_not_ignore() -> None:
    # "When all the path names match patterns in paths-ignore, the workflow will not run."
    ci = on({"push": {"paths-ignore": ["docs/**", "*.md"]}})
    docs = Happening("push", "refs/heads/main", "main", ("docs/a.md", "README.md"))
    assert triggers.decide(ci, docs).rule == (
        "on.push.paths-ignore: every changed file matches docs/**, *.md"
    )
    both = Happening("push", "refs/heads/main", "main", ("docs/a.md", "src/app.py"))
    assert triggers.decide(ci, both).runs


def test_a_later_negation_wins_and_a_later_pattern_re_includes() -> None:
    # "In the case of a matching positive and negative pattern for the same event, the last
    # evaluated pattern takes precedence" (on.push.<branches|tags>, "Including and excluding").
    ci = on({"push": {"branches": ["releases/**", "!releases/**-alpha"]}})
    alpha = Happening("push", "refs/heads/releases/10-alpha")
    assert triggers.decide(ci, alpha).rule == (
        "on.push.branches: branch `releases/10-alpha` negated by `!releases/**-alpha`"
    )
    assert triggers.decide(ci, Happening("push", "refs/heads/releases/10")).runs
    reordered = on({"push": {"branches": ["!releases/**-alpha", "releases/**"]}})
    assert triggers.decide(reordered, alpha).runs


def test_path_filters_are_not_evaluated_for_a_tag_push() -> None:
    # "Path filters are not evaluated for pushes of tags."
    docker = on({"push": {"tags": ["v*"], "branches": ["main"], "paths": ["src/**"]}})
    assert triggers.decide(docker, Happening("push", "refs/tags/v1.2.0", "main", ())).runs
    assert not triggers.decide(docker, Happening("push", "refs/heads/main", "main", ())).runs


def test_other_events_and_activity_types() -> None:
    labelled = on({"pull_request": {"types": ["labeled"]}})
    decided = triggers.decide(labelled, Happening("pull_request", "refs/pull/1/merge", "main"))
    assert decided.rule.startswith("on.pull_request.types: labeled leaves out the local pull")
    assert triggers.decide(on({"pull_request": {"types": ["opened"]}}), decided_event()).runs
    release_only = on({"release": {"types": ["published"]}})
    assert triggers.decide(release_only, PUSH_MAIN).rule == "on: has no push (it runs on release)"
    weekly = on({"schedule": [{"cron": "0 6 * * MON"}]})
    assert triggers.decide(weekly, Happening("schedule", "refs/heads/main")).runs


def decided_event() -> Happening:
    return Happening("pull_request", "refs/pull/1/merge", "main")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            {"push": {"branches": ["main"], "branches-ignore": ["x"]}},
            "both branches and branches-ignore",
        ),
        ({"push": {"tags": ["v*"], "tags-ignore": ["x"]}}, "both tags and tags-ignore"),
        ({"pull_request": {"paths": ["a"], "paths-ignore": ["b"]}}, "both paths and paths-ignore"),
        ({"pull_request": {"tags": ["v*"]}}, "on.pull_request.tags is refused: a pull request has"),
        ({"push": {"branches": ["v[0-9"]}}, "`[` is not closed"),
        ({"schedule": [{"cron": "0 25 * * *"}]}, "hour `25` is not within 0-23"),
        ({"schedule": [{"cron": "0 0 * *"}]}, "needs five fields"),
        ({"pull_request_target": None}, "on.pull_request_target is refused: "),
        ({"pushed": None}, "on.pushed is no event GitHub triggers workflows on"),
        ({"workflow_dispatch": {"inputs": {"x": {"type": "choice"}}}}, "needs a list of options"),
        ({"workflow_dispatch": {"inputs": {"x": {"type": "text"}}}}, "type `text` is not one of"),
        (
            {"workflow_dispatch": {"inputs": {"x": {"type": "boolean", "default": "yes"}}}},
            "true or false",
        ),
    ],
)
def test_a_trigger_github_refuses_is_refused_in_one_line(raw: dict[str, Any], problem: str) -> None:
    _, problems = triggers.read_on(raw)
    assert len(problems) == 1, problems
    assert problem in problems[0]


SCHEMA = Path(check_jsonschema.__file__).parent / "builtin_schemas/vendor/github-workflows.json"


def _properties(node: object) -> set[str]:
    """The property names a schema node allows, through oneOf/allOf/anyOf and array items."""
    if not isinstance(node, dict):
        return set()
    found = set(node.get("properties", {}))
    for key in ("oneOf", "allOf", "anyOf"):
        for inner in node.get(key, []):
            found |= _properties(inner)
    return found | _properties(node.get("items"))


def test_every_event_and_filter_of_the_schema_is_classified() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    events = next(
        branch["properties"]
        for branch in schema["properties"]["on"]["oneOf"]
        if "properties" in branch
    )
    classified = {rule.key for rule in rules.KEY_RULES if rule.level is rules.Level.EVENT}
    assert set(events) - classified == set()
    for event in rules.LOCAL_EVENTS:
        keys = {f"{event}.{key}" for key in _properties(events[event])}
        assert {key for key in keys if (rules.Level.TRIGGER, key) not in rules.RULES} == set()


def test_every_event_key_is_classified_and_an_unknown_filter_refused() -> None:
    events = {rule.key for rule in rules.KEY_RULES if rule.level is rules.Level.EVENT}
    assert (
        set(rules.LOCAL_EVENTS)
        | set(rules.GITHUB_ONLY_EVENTS)
        | {
            "pull_request_target",
            "workflow_call",
        }
        == events
    )
    _, problems = triggers.read_on({"push": {"branch": ["main"]}})
    assert problems == ["on.push.branch is not a filter GitHub allows on push"]


# --- workflow_dispatch inputs ---------------------------------------------------------------

DISPATCH = {
    "workflow_dispatch": {
        "inputs": {
            "target": {"type": "choice", "options": ["staging", "prod"], "default": "staging"},
            "dry-run": {"type": "boolean", "default": True},
            "replicas": {"type": "number", "required": True},
            "note": {"type": "string"},
            "where": {"type": "environment", "required": False},
        }
    }
}


def test_inputs_are_typed_with_defaults() -> None:
    declared = on(DISPATCH)["workflow_dispatch"].inputs
    given_inputs = {"replicas": "3", "dry-run": "false", "target": "prod"}
    assert triggers.input_values(declared, given_inputs) == {
        "target": "prod",
        "dry-run": False,
        "replicas": 3.0,
        "note": "",
        "where": "",
    }


@pytest.mark.parametrize(
    ("given_inputs", "message"),
    [
        ({}, "input `replicas` is required and has no default: pass --input replicas=..."),
        ({"replicas": "many"}, "--input replicas=many: a number input needs a number"),
        # float() reads these; GitHub's number field does not.
        *(
            ({"replicas": text}, f"--input replicas={text}: a number input needs a number")
            for text in ("nan", "inf", "-Infinity", "1_000", "0x10", "")
        ),
        (
            {"replicas": "1", "dry-run": "yes"},
            "--input dry-run=yes: a boolean input is true or false",
        ),
        ({"replicas": "1", "target": "qa"}, "--input target=qa: choose one of staging, prod"),
        ({"replicas": "1", "colour": "red"}, "--input colour: workflow_dispatch declares no such"),
    ],
)
def test_a_bad_input_is_refused_in_one_line(given_inputs: dict[str, str], message: str) -> None:
    declared = on(DISPATCH)["workflow_dispatch"].inputs
    with pytest.raises(triggers.InputError) as refused:
        triggers.input_values(declared, given_inputs)
    assert str(refused.value).startswith(message)
    assert "\n" not in str(refused.value)


# --- the local event from git, and invoke ci's verdicts ------------------------------------


def git(root: Path, *argv: str) -> str:
    done = subprocess.run(["git", *argv], cwd=root, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def write(root: Path, name: str, text: str = "x\n") -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def commit(root: Path, *names: str) -> None:
    for name in names:
        write(root, name, f"{name} changed\n")
    git(root, "add", "--all")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "c")


def job(task: str) -> dict[str, Any]:
    return {
        "runs-on": "ubuntu-24.04",
        "steps": [{"uses": CHECKOUT}, {"run": f"uv run --locked invoke {task}"}],
    }


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """ci.yml, docker.yml on push with paths, deploy.yml on workflow_dispatch; on a topic branch."""
    workflows = {
        "ci.yml": {
            "on": {"push": {"branches": ["main"]}, "pull_request": {"branches": ["main"]}},
            "jobs": {"lint": job("lint")},
        },
        "docker.yml": {
            "on": {
                "push": {"paths": ["src/**", "Dockerfile"]},
                "pull_request": {"paths": ["src/**"]},
            },
            "jobs": {"image": job("image")},
        },
        "deploy.yml": {"on": DISPATCH, "jobs": {"deploy": job("deploy")}},
    }
    for name, document in workflows.items():
        write(tmp_path, f".github/workflows/{name}", yaml.safe_dump(document, sort_keys=False))
    write(tmp_path, "pyproject.toml", "[project]\nname = 'x'\n")
    write(tmp_path, ".python-version", "3.13\n")
    git(tmp_path, "init", "-q", "--initial-branch=main")
    commit(tmp_path, "src/app.py")
    git(tmp_path, "checkout", "-qb", "topic")
    return tmp_path


def dry_run(
    root: Path, capsys: pytest.CaptureFixture[str], event: str = "push", **asked: Any
) -> dict[str, Any]:
    plan.print_plan(root, event, "", as_json=True, asked=plan.Asked(**asked))
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def test_a_docs_only_push_leaves_docker_yml_not_triggered(
    repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit(repository, "docs/guide.md")
    write(repository, "src/draft.py")  # uncommitted: listed, not counted
    found = dry_run(repository, capsys, workflow="docker.yml")
    assert found["changed"] == ["docs/guide.md"]
    assert found["uncommitted"] == ["src/draft.py"]
    assert found["workflows"] == [
        {
            "workflow": ".github/workflows/docker.yml",
            "verdict": "not-triggered",
            "rule": "on.push.paths: no changed file matches src/**, Dockerfile",
        }
    ]
    assert [row["plan"] for row in found["entries"]] == [
        "not triggered (on.push.paths: no changed file matches src/**, Dockerfile)"
    ]
    counted = dry_run(repository, capsys, workflow="docker.yml", include_uncommitted=True)
    assert counted["workflows"][0]["verdict"] == "triggered"
    assert counted["entries"][0]["plan"] == "uv run --locked invoke image"


def test_the_table_names_uncommitted_files_a_path_filter_left_out(
    repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit(repository, "docs/guide.md")
    write(repository, "src/draft.py")
    plan.print_plan(repository, "push", "", as_json=False, asked=plan.Asked(workflow="docker.yml"))
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == (
        "ci: uncommitted, not counted by path filters (--include-uncommitted counts them): "
        "src/draft.py"
    )
    # Counted, they are changed files like the rest: nothing is left out to name.
    asked = plan.Asked(workflow="docker.yml", include_uncommitted=True)
    plan.print_plan(repository, "push", "", as_json=False, asked=asked)
    assert "uncommitted" not in capsys.readouterr().out
    # A workflow without path filters: uncommitted files decide nothing, so no line.
    plan.print_plan(repository, "push", "", as_json=False, asked=plan.Asked(workflow="ci.yml"))
    assert "uncommitted" not in capsys.readouterr().out


def test_a_dry_run_of_a_refused_job_fails_as_the_run_would(
    repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = repository / ".github/workflows/docker.yml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["jobs"]["image"]["steps"].append({"run": "make image"})
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    commit(repository, "src/more.py")
    with pytest.raises(Exit) as raised:
        dry_run(repository, capsys, workflow="docker.yml")
    assert raised.value.code == 1
    assert raised.value.message == "ci: --dry-run: refused: image"


def test_all_workflows_runs_what_the_event_triggers_in_one_summary(
    repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit(repository, "src/other.py")
    found = dry_run(repository, capsys, all_workflows=True)
    verdicts = {Path(w["workflow"]).name: (w["verdict"], w["rule"]) for w in found["workflows"]}
    assert verdicts == {
        # The push is of `topic`: ci.yml's push runs on main only.
        "ci.yml": ("not-triggered", "on.push.branches: branch `topic` matches none of ['main']"),
        "deploy.yml": ("not-triggered", "on: has no push (it runs on workflow_dispatch)"),
        "docker.yml": ("triggered", "on.push runs it"),
    }
    # The real run shares the decision: nothing of a workflow not triggered runs or passes.
    outcomes = runner.run_ci(
        repository, event_name="push", as_json=True, asked=plan.Asked(workflow="ci.yml")
    )
    document = json.loads(capsys.readouterr().out)
    assert [o.result for o in outcomes] == [plan.Result.NOT_TRIGGERED]
    assert document["exit_code"] == 0
    assert document["entries"][0]["result"] == "not-triggered"
    assert document["entries"][0]["reason"] == document["workflows"][0]["rule"]


def test_a_pull_request_is_compared_from_the_merge_base_with_its_base(
    repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit(repository, "src/topic.py")
    git(repository, "checkout", "-q", "main")
    commit(repository, "src/later-on-main.py")
    git(repository, "branch", "release")
    git(repository, "checkout", "-q", "topic")
    into_main = dry_run(repository, capsys, "pull_request")
    assert into_main["changed"] == ["src/topic.py"]  # not main's later commit
    assert into_main["workflows"][0]["verdict"] == "triggered"
    into_release = dry_run(repository, capsys, "pull_request", base="release")
    assert into_release["workflows"][0]["rule"] == (
        "on.pull_request.branches: the base branch `release` matches none of ['main']"
    )
    # A full ref names the same branch, as GitHub's base_ref does without its refs/heads/.
    as_ref = dry_run(repository, capsys, "pull_request", base="refs/heads/main")
    assert as_ref["workflows"][0]["verdict"] == "triggered"
    assert as_ref["changed"] == ["src/topic.py"]
    # Only a workflow with paths filters needs the files: ci.yml decides on the branch alone.
    assert dry_run(repository, capsys, "pull_request", base="nowhere")["workflows"][0]["rule"]
    with pytest.raises(Exit, match="--base nowhere: no such branch"):
        dry_run(repository, capsys, "pull_request", base="nowhere", workflow="docker.yml")


def test_workflow_dispatch_passes_typed_inputs_on_the_event(repository: Path) -> None:
    given_inputs = plan.input_flags(["replicas=2", "dry-run=false"])
    chosen, _, _ = plan.considered(
        repository,
        "workflow_dispatch",
        "",
        plan.Asked(inputs=given_inputs, workflow="deploy"),
        None,
    )
    assert chosen[0].decision.runs
    assert chosen[0].event.inputs == {
        "target": "staging",
        "dry-run": False,
        "replicas": 2.0,
        "note": "",
        "where": "",
    }
    with pytest.raises(Exit, match=r"deploy\.yml: --input replicas=two: a number input needs"):
        plan.considered(
            repository,
            "workflow_dispatch",
            "",
            plan.Asked(inputs={"replicas": "two"}, workflow="deploy"),
            None,
        )
    with pytest.raises(Exit, match="--input is for --event workflow_dispatch"):
        plan.considered(repository, "push", "", plan.Asked(inputs={"replicas": "2"}), None)
    with pytest.raises(Exit, match="write it as name=value"):
        plan.input_flags(["replicas"])


@pytest.mark.parametrize(
    ("argv", "example"),
    [
        (["invoke", "ci", "--only"], "--only test"),
        (["invoke", "ci", "--skip", "--dry-run"], "--skip docker"),
        (["invoke", "ci", "--event", "workflow_dispatch", "--input", "-j", "2"], "--input name"),
        (["invoke", "ci", "--dry-run", "-o"], "-o test"),
        (["invoke", "ci", "-k", "--json"], "-k docker"),
        (["invoke", "ci", "-p"], "-p name=value"),
        (["invoke", "ci", "--only="], "--only test"),
        (["invoke", "ci", "-o= "], "-o test"),
        (["invoke", "ci", "--skip", " "], "--skip docker"),
    ],
)
def test_a_repeatable_flag_without_a_value_is_refused(argv: list[str], example: str) -> None:
    # invoke itself takes `--only` with nothing after it as no --only at all: every job.
    with pytest.raises(Exit, match=f"needs a value, as in `invoke ci {example}"):
        plan.require_flag_values(argv)


def test_repeatable_flags_with_values_pass() -> None:
    argv = ["invoke", "ci", "--only", "test", "--skip=docker", "--input", "a=-1", "--only", "x"]
    plan.require_flag_values(argv)
    plan.require_flag_values(["invoke", "ci", "-o", "lint", "-k=docker", "-p", "a=", "-p=b=2"])
    # Before the task's name, `-p` is invoke's own --pty, a flag without a value.
    plan.require_flag_values(["invoke", "-p", "-e", "ci", "--only", "test"])


def test_a_workflow_flag_names_a_file_that_exists(repository: Path) -> None:
    assert plan.workflow_paths(repository, "docker", SETTINGS, all_workflows=False) == [
        Path(".github/workflows/docker.yml")
    ]
    with pytest.raises(
        Exit, match=r"-w nope\.yml: no such file in \.github/workflows \(there are ci"
    ):
        plan.workflow_paths(repository, "nope.yml", SETTINGS, all_workflows=False)
    with pytest.raises(Exit, match="pass one"):
        plan.workflow_paths(repository, "ci.yml", SETTINGS, all_workflows=True)


def test_other_workflows_are_left_to_their_owners(repository: Path) -> None:
    """A monorepo frontend's workflow, named in other-workflows, is neither read nor run."""
    others = SETTINGS.model_copy(update={"other_workflows": ("docker.yml",)})
    every = plan.workflow_paths(repository, "", others, all_workflows=True)
    assert Path(".github/workflows/docker.yml") not in every
    assert Path(".github/workflows/ci.yml") in every
    assert Path(".github/workflows/docker.yml") not in reader.read_all(repository, others)
    with pytest.raises(Exit, match="other-workflows names it"):
        plan.workflow_paths(repository, "docker", others, all_workflows=False)


def test_a_second_workflow_on_push_with_paths_is_accepted(repository: Path) -> None:
    parsed = reader.read(repository, Path(".github/workflows/docker.yml"), SETTINGS)
    assert parsed.problems == ()
    assert parsed.triggers["push"].paths == ("src/**", "Dockerfile")


def test_a_push_on_github_is_compared_from_its_before_commit(
    repository: Path, tmp_path: Path
) -> None:
    # docs.github.com, "Workflow syntax", on.push.paths ("Git diff comparisons"): a push is a
    # two-dot diff of its previous and its new commit, every commit of the push counted.
    git(repository, "checkout", "-q", "main")
    before = git(repository, "rev-parse", "HEAD").strip()
    commit(repository, "src/first.py")
    commit(repository, "docs/second.md")
    payload = tmp_path / "event.json"
    payload.write_text(json.dumps({"before": before, "after": "f" * 40}), encoding="utf-8")
    given = changed.pushed_before(str(payload))
    assert given == before
    found = changed.changed_files(repository, "push", "main", before=given)
    assert found.committed == ("docs/second.md", "src/first.py")
    assert found.compared == f"{before[:12]}..HEAD"
    # Without it (a local run, a new branch's zero commit) only HEAD's own commit is seen here.
    assert changed.changed_files(repository, "push", "main").committed == ("docs/second.md",)
    for named in ("0" * 40, "not-a-sha", None):
        payload.write_text(json.dumps({"before": named}), encoding="utf-8")
        assert changed.pushed_before(str(payload)) == ""
    payload.write_text("{not json", encoding="utf-8")
    assert changed.pushed_before(str(payload)) == ""
    assert changed.pushed_before(None) == ""
    assert changed.pushed_before(str(tmp_path / "absent.json")) == ""
    # A shallow checkout lacks the commit: one line naming the fix, never "nothing changed".
    missing = changed.changed_files(repository, "push", "main", before="e" * 40)
    assert missing.problem == (
        "the push's previous commit eeeeeeeeeeee is not in this checkout: "
        "check out with `fetch-depth: 0`"
    )
