"""Accepted means green: property-based tests over the answers copier.yml accepts.

Hypothesis draws answers around and beyond the accepted space: names at and past the length
limit, names of standard-library, third-party and the service's own modules, unicode,
quotes, backslashes and Jinja- or TOML-looking text. An answer the validators refuse must be
refused in one line with nothing written; an accepted one must render a service whose files
parse, lint and name its package right (fast tier), and, for a few extreme answer sets, whose
own `invoke lint`, `typecheck` and `test` pass (slow tier).
"""

import ast
import os
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from answer_space import all_reserved_names, name_max_length
from helpers import ROOT, check_answers, copy_project, questions, run

LIMIT = name_max_length()
# Fast-tier examples per run; raise it for a deeper search: SHIPSHAPE_ANSWER_EXAMPLES=500.
EXAMPLES = int(os.environ.get("SHIPSHAPE_ANSWER_EXAMPLES", "30"))
# Failing examples are replayed first on the next run; .pytest_cache is ignored by git.
DATABASE = DirectoryBasedExampleDatabase(ROOT / ".pytest_cache" / "hypothesis")
RUFF = Path(sys.executable).parent / "ruff"

# Names of modules a team might well call its service, and some that are free.
MODULE_NAMES = [*all_reserved_names(), "src", "app", "main", "api", "service", "settings"]
MODULE_NAMES += ["health", "metrics", "routes", "reports", "docs", "testing", "json_api"]
# Pieces of text that break naive quoting in TOML, YAML, Python, Markdown or Jinja.
NASTY = ['"', "'", "\\", '"""', "'''", "\\u0041", "\\n", "\\", "{{ project_name }}", "{%"]
NASTY += ["${{ github.token }}", "#", "`", "|", "<b>&amp;</b>", "é", "😀", "山田", "\u00a0"]
NASTY += ["\u200d", "\ufeff", "\ufffd", ": ", "- ", "[x]", "%s"]
# Line breaks and control characters, which the validators refuse in one-line answers.
UNPRINTABLE = ["\x7f", "\t", "\n", "\r", "\x00", "\x85", "\u2028"]


def every_choice() -> dict[str, st.SearchStrategy[str]]:
    """Each choice question's values, read from copier.yml, so a new option is drawn too."""
    return {
        name: st.sampled_from([str(value) for value in question["choices"]])
        for name, question in questions().items()
        if "choices" in question
    }


def nasty_text(max_pieces: int = 12, *, printable: bool = False) -> st.SearchStrategy[str]:
    """Text stitched from pieces that break quoting and arbitrary characters; `printable`
    leaves out what the validators refuse."""
    if printable:
        characters = st.characters(exclude_categories=["Cc", "Cs", "Zl", "Zp"])
        piece = st.one_of(st.sampled_from(NASTY), st.text(characters, max_size=8))
    else:
        piece = st.one_of(st.sampled_from(NASTY + UNPRINTABLE), st.text(max_size=8))
    return st.lists(piece, min_size=1, max_size=max_pieces).map("".join)


def weighted(*parts: tuple[st.SearchStrategy[Any], int]) -> st.SearchStrategy[Any]:
    """One of the strategies, each drawn about as often as its weight says (`one_of` would
    draw them equally often, and repeating one in it does not change that)."""
    pool = [strategy for strategy, weight in parts for _ in range(weight)]
    return st.sampled_from(pool).flatmap(lambda strategy: strategy)


def project_names(*, shaped: bool) -> st.SearchStrategy[str]:
    """Names the validators' pattern allows, up to past the length limit; modules' names as
    a team might write them ("Typing Extensions", "Tasks"); and, unless `shaped`, anything."""
    allowed = st.from_regex(rf"[A-Za-z][A-Za-z0-9 _-]{{0,{LIMIT}}}[A-Za-z0-9]", fullmatch=True)
    modules = st.sampled_from(MODULE_NAMES).map(lambda name: name.replace("_", " ").title())
    return weighted((allowed, 3), (modules, 1)) if shaped else st.text(max_size=LIMIT + 3)


def slugs(*, shaped: bool) -> st.SearchStrategy[str]:
    # Words up to past the length limit, so slugs at and beyond it are drawn too.
    word = LIMIT // 4
    allowed = st.from_regex(
        rf"[a-z][a-z0-9]{{0,{word}}}(-[a-z0-9]{{1,{word}}}){{0,4}}", fullmatch=True
    )
    modules = st.sampled_from(MODULE_NAMES).map(lambda name: name.replace("_", "-"))
    return st.one_of(allowed, modules) if shaped else st.text(max_size=12)


def package_names(*, shaped: bool) -> st.SearchStrategy[str]:
    allowed = st.from_regex(rf"[a-z][a-z0-9_]{{0,{LIMIT}}}", fullmatch=True)
    modules = st.sampled_from(MODULE_NAMES)
    near_modules = st.sampled_from(MODULE_NAMES).map(lambda name: f"{name}_service")
    if shaped:
        return weighted((allowed, 2), (modules, 1), (near_modules, 1))
    return st.one_of(st.from_regex(r"[_0-9A-Z][a-z0-9_-]{0,8}", fullmatch=True), st.text())


def service_dirs(*, shaped: bool) -> st.SearchStrategy[str]:
    """A monorepo folder: empty (the default), a folder name, or near one."""
    if not shaped:
        return st.one_of(st.sampled_from(["src", "a/b", "..", ".github", "Api"]), st.text())
    folder = st.from_regex(r"[a-z][a-z0-9]{0,8}([_-][a-z0-9]{1,5}){0,2}", fullmatch=True)
    return st.one_of(st.just(""), folder)


def answer_sets(*, shaped: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Answers to any subset of the questions; the rest take their defaults.

    `shaped` answers have the form each validator asks for, so most are accepted and what
    refuses them is a limit (length, taken names); the others are mostly refused.
    """
    if shaped:
        text = nasty_text(printable=True).filter(str.strip)
        owner = st.from_regex(r"[a-z0-9]{1,9}(-[a-z0-9]{1,9}){0,3}", fullmatch=True)
        email = st.from_regex(r"[a-z0-9._%+-]{1,20}@[a-z0-9-]{1,10}\.[a-z]{2,6}", fullmatch=True)
        port, year = st.integers(1024, 65_535), st.integers(1970, 2999)
    else:
        text = st.one_of(nasty_text(), st.text(max_size=200))
        owner = st.text(max_size=42)
        email = st.one_of(st.emails(), st.text(max_size=30))
        port, year = st.integers(-1, 70_000), st.integers(0, 9999)
    optional: dict[str, st.SearchStrategy[Any]] = {
        "project_name": project_names(shaped=shaped),
        "project_slug": slugs(shaped=shaped),
        "package_name": package_names(shaped=shaped),
        "description": text,
        "author_name": text,
        "author_email": email,
        "github_owner": owner,
        "http_port": port,
        "copyright_year": year,
        "service_dir": service_dirs(shaped=shaped),
        **every_choice(),
    }
    check_answers(optional)
    return st.fixed_dictionaries({}, optional=optional)


def any_answers() -> st.SearchStrategy[dict[str, Any]]:
    """Three parts answers of the accepted form to one part anything."""
    return weighted((answer_sets(shaped=True), 3), (answer_sets(shaped=False), 1))


def render(destination: Path, answers: dict[str, Any]) -> Path:
    """The template at HEAD (uncommitted changes included), without the `uv lock` task."""
    copier.run_copy(
        str(ROOT),
        destination,
        data=answers,
        defaults=True,
        unsafe=True,
        vcs_ref="HEAD",
        quiet=True,
        skip_tasks=True,
    )
    return destination


def recorded_answers(service: Path) -> dict[str, Any]:
    text = (service / ".copier-answers.yml").read_text(encoding="utf-8")
    answers: dict[str, Any] = yaml.safe_load(text)
    return answers


def assert_answers_recorded(service: Path, answers: dict[str, Any]) -> dict[str, Any]:
    """Every given answer reached the answers file unchanged; returns what was recorded."""
    recorded = recorded_answers(service)
    for question, value in answers.items():
        if question == "copyright_year" and recorded["license"] == "Proprietary":
            continue  # not asked for a proprietary service
        assert recorded[question] == value, f"{question}: {recorded[question]!r} != {value!r}"
    return recorded


def assert_pyproject_round_trips(service: Path, recorded: dict[str, Any]) -> None:
    pyproject = tomllib.loads((service / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    package, slug = recorded["package_name"], recorded["project_slug"]
    assert project["name"] == slug
    assert project["description"] == recorded["description"]
    assert project["authors"] == [
        {"name": recorded["author_name"], "email": recorded["author_email"]}
    ]
    assert project["scripts"] == {slug: f"{package}.__main__:main"}
    assert pyproject["tool"]["uv"]["build-backend"]["module-name"] == package
    assert pyproject["tool"]["coverage"]["run"]["source"] == [package]


def python_files(service: Path) -> list[Path]:
    return sorted(p for p in service.rglob("*.py") if ".git" not in p.relative_to(service).parts)


def assert_package_is_importable_by_its_name(service: Path, package: str) -> None:
    assert sorted(p.name for p in (service / "src").iterdir()) == [package]
    assert (service / "src" / package / "__init__.py").is_file()
    conftest = ast.parse((service / "tests" / "conftest.py").read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(conftest) if isinstance(node, ast.ImportFrom)}
    assert f"{package}.app" in imported


def assert_statically_green(destination: Path, answers: dict[str, Any]) -> None:
    """What can be checked without installing anything: parsing, linting, names."""
    recorded = assert_answers_recorded(destination, answers)
    # A monorepo's service is its folder; the answers and workflows are at the root.
    service = destination / recorded["service_dir"] if recorded["service_dir"] else destination
    workflows = sorted(p.name for p in (destination / ".github" / "workflows").iterdir())
    assert workflows == ["ci.yml", "template-update.yml"]
    for name in workflows:
        document = yaml.safe_load((destination / ".github/workflows" / name).read_text("utf-8"))
        # A folder named like a YAML keyword (null, true) stays a string.
        where = document.get("defaults", {}).get("run", {}).get("working-directory", "")
        assert where == recorded["service_dir"], (name, where)
    assert_pyproject_round_trips(service, recorded)
    for path in python_files(service):
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    assert_package_is_importable_by_its_name(service, recorded["package_name"])
    for path in [*destination.rglob("*.yml"), *destination.rglob("*.yaml")]:
        # Kubernetes manifests may hold several documents, as kubectl reads them.
        list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    readme = (service / "README.md").read_text(encoding="utf-8")
    assert readme.startswith(f"# {recorded['project_name']}\n\n{recorded['description']}\n")
    if recorded["license"] != "Proprietary":
        assert recorded["author_name"] in (service / "LICENSE").read_text(encoding="utf-8")
    # The template repo's ruff, with the generated project's own configuration.
    run([str(RUFF), "check", "--no-cache", "."], service)
    run([str(RUFF), "format", "--check", "--no-cache", "."], service)


def refused_or_green(destination: Path, answers: dict[str, Any]) -> None:
    try:
        render(destination, answers)
    except ValueError as refused:
        message = str(refused).strip()
        assert "\n" not in message, message
        assert message.startswith(("Validation error for question '", "Invalid choice")), message
        assert not destination.exists(), "a refused answer wrote files"
        event(f"refused: {message.split(':')[0]}")
        return
    event("accepted")
    assert_statically_green(destination, answers)


AT_THE_LIMIT = ("Long Service Name " * 4)[: LIMIT - 1] + "9"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=DATABASE,
    suppress_health_check=[HealthCheck.too_slow],
)
@example({"project_name": AT_THE_LIMIT, "description": 'A "quoted" \\ service 😀'})
@example({"project_name": "Test"})
@example({"project_name": "Tasks"})
@example({"project_name": "Json Api", "package_name": "typing_extensions"})
@example({"package_name": "ledger", "author_name": 'Zoë "Z" O\'Brien \\ 山田'})
@example({"service_dir": "null"})
@example({"service_dir": "true"})
@given(answers=any_answers())
def test_accepted_answers_render_a_green_service(answers: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as work:
        refused_or_green(Path(work) / "service", answers)


def test_the_limit_example_is_at_the_limit() -> None:
    assert len(AT_THE_LIMIT) == LIMIT


# Slow tier: a few extreme answer sets run the rendered service's own checks.


def extreme_answer_sets() -> st.SearchStrategy[dict[str, Any]]:
    """Every answer at an edge at once: names at the limit, text that breaks quoting."""
    body = st.from_regex(rf"[A-Za-z0-9 _-]{{{LIMIT - 2}}}", fullmatch=True)
    return st.fixed_dictionaries(
        {
            "project_name": st.builds(lambda middle: f"X{middle}9", body),
            "description": st.builds(lambda text: f'"{text}" \\ 😀', nasty_text(6, printable=True)),
            "author_name": st.builds(
                lambda text: f"Zoë {text} \\ '山田'", nasty_text(4, printable=True)
            ),
            **every_choice(),
        }
    )


def assert_service_checks_pass(answers: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as work:
        try:
            service = copy_project(Path(work) / "service", **answers)
        except ValueError:
            event("refused")
            return  # refusals are the fast tier's business
        folder = service / answers.get("service_dir", "")  # a monorepo's, or the repository
        for task in ["lint", "typecheck", "test"]:
            run(["uv", "run", "--locked", "invoke", task], folder, timeout=1800)
        event("ran lint, typecheck and test")


@pytest.mark.slow
@settings(
    max_examples=2,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: each example takes minutes
)
@example(
    {
        # 63 characters, a DNS label's limit: the slug and package derived from it are too.
        "project_name": "Customer Billing Reconciliation Service For Enterprise Ledger99",
        "database": "postgres",
        "cache": "redis",
        "description": 'Ünïcödé "quoted" \\back\\slash\\ 😀 {{ not jinja }} ${{ github.token }}',
        "author_name": 'Zoë "Z" O\'Brien \\ 山田',
        "author_email": "a.b+c@example.co.uk",
        "python_version": "3.11",
        "license": "Apache-2.0",
        "http_port": 65535,
    }
)
@example({"service_dir": "api-service", "database": "postgres", "kubernetes": "kustomize"})
@given(answers=extreme_answer_sets())
def test_extreme_answers_pass_the_services_own_checks(answers: dict[str, Any]) -> None:
    assert_service_checks_pass(answers)
