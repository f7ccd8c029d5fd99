"""Rendering: defaults, every value of every choice question, and what lands in the service."""

import re
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import asked_questions, choice_values, copy_project, questions, run


def test_every_question_has_help_and_a_default() -> None:
    for name, question in questions().items():
        assert question.get("help") or question.get("when") is False, f"{name} has no help"
        assert "default" in question, f"{name} has no default, so --defaults cannot work"


def test_copy_project_refuses_unknown_answers(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"not questions in copier\.yml: pakage_name"):
        copy_project(tmp_path / "typo", pakage_name="oops")
    assert not (tmp_path / "typo").exists()


def test_defaults(default_project: Path) -> None:
    package = default_project / "src" / "my_service"
    for path in [
        "pyproject.toml",
        "uv.lock",
        ".python-version",
        "README.md",
        "LICENSE",
        "tasks.py",
        "noxfile.py",
        ".pre-commit-config.yaml",
        ".github/workflows/ci.yml",
        ".github/dependabot.yml",
        ".copier-answers.yml",
        "tests/test_health.py",
    ]:
        assert (default_project / path).is_file(), f"{path} missing"
    for module in [
        "__init__",
        "__main__",
        "app",
        "health",
        "metrics",
        "settings",
        "logging_config",
        "routes",
    ]:
        assert (package / f"{module}.py").is_file(), f"{module}.py missing"
    assert (package / "py.typed").is_file()
    pyproject = tomllib.loads((default_project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["name"] == "my-service"
    assert pyproject["project"]["requires-python"] == ">=3.13"
    assert pyproject["project"]["license"] == "MIT"


def test_nothing_unrendered_is_left(default_project: Path) -> None:
    leftovers = [
        str(path.relative_to(default_project))
        for path in default_project.rglob("*")
        if ".git" not in path.parts
        and ".venv" not in path.parts
        and path.is_file()
        and (path.suffix == ".jinja" or "{{" in path.name or "{%" in path.name)
    ]
    assert not leftovers
    jinja = re.compile(r"(?<!\$)\{\{ [a-z_]+|\{%-? ")
    for path in default_project.rglob("*"):
        if ".git" in path.parts or ".venv" in path.parts or not path.is_file():
            continue
        if path.suffix in {".py", ".toml", ".yml", ".yaml", ".md", ""}:
            text = path.read_text(encoding="utf-8")
            assert not jinja.search(text), f"{path} holds unrendered Jinja"


def test_every_service_lists_its_settings_and_registers_its_markers(
    default_project: Path,
) -> None:
    # .env.* is ignored for secrets; the example must still be committed.
    assert (default_project / ".env.example").is_file()
    ignored = run(["git", "check-ignore", "--quiet", ".env.example"], default_project, check=False)
    assert ignored.returncode == 1, ".env.example is git-ignored in the service"
    pyproject = tomllib.loads((default_project / "pyproject.toml").read_text(encoding="utf-8"))
    markers = pyproject["tool"]["pytest"]["ini_options"]["markers"]
    assert {marker.split(":")[0] for marker in markers} >= {"integration", "e2e"}


def test_answers_file_records_answers_and_not_derived_values(default_project: Path) -> None:
    answers = yaml.safe_load((default_project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["_src_path"]
    assert answers["_commit"]
    assert set(asked_questions()) <= set(answers)
    hidden = [name for name, question in questions().items() if question.get("when") is False]
    assert "name_max_length" in hidden
    for derived in hidden:
        assert derived not in answers


def test_lock_is_consistent_right_after_copy(default_project: Path) -> None:
    run(["uv", "lock", "--check", "--offline"], default_project)


def test_clean_git_tree_after_copy(default_project: Path) -> None:
    status = run(["git", "status", "--porcelain"], default_project).stdout
    assert status == "", f"copy left untracked or changed files:\n{status}"


@pytest.mark.parametrize(("question", "value"), choice_values())
def test_each_choice_renders(tmp_path: Path, question: str, value: str) -> None:
    answers: dict[str, Any] = {question: value}
    project = copy_project(tmp_path / "service", **answers)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    if question == "python_version":
        assert (project / ".python-version").read_text(encoding="utf-8").strip() == value
        assert pyproject["project"]["requires-python"] == f">={value}"
    if question == "license":
        if value == "Proprietary":
            assert not (project / "LICENSE").exists()
            assert "license" not in pyproject["project"]
            assert "Private :: Do Not Upload" in pyproject["project"]["classifiers"]
        else:
            assert pyproject["project"]["license"] == value
            assert (project / "LICENSE").is_file()
            assert ("Apache License" in (project / "LICENSE").read_text(encoding="utf-8")) == (
                value == "Apache-2.0"
            )


def test_custom_names_flow_everywhere(tmp_path: Path) -> None:
    project = copy_project(
        tmp_path / "svc",
        project_name="Billing API",
        github_owner="acme",
        http_port=9123,
        author_email="billing@acme.example",
    )
    assert (project / "src" / "billing_api" / "app.py").is_file()
    pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "billing-api"' in pyproject
    assert 'module-name = "billing_api"' in pyproject
    settings = (project / "src" / "billing_api" / "settings.py").read_text(encoding="utf-8")
    assert 'PREFIX = "BILLING_API_"' in settings
    assert "env_prefix=PREFIX" in settings
    assert re.search(r"default=9123\b", settings)


def test_an_explicit_package_name_is_what_gets_built(tmp_path: Path) -> None:
    project = copy_project(
        tmp_path / "svc", project_name="Billing API", package_name="ledger", git=False
    )
    assert sorted(path.name for path in (project / "src").iterdir()) == ["ledger"]
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["uv"]["build-backend"]["module-name"] == "ledger"
    assert pyproject["project"]["scripts"] == {"billing-api": "ledger.__main__:main"}
    run(["uv", "build", "--wheel", "--quiet", "--out-dir", "dist"], project)
    wheel = project / "dist" / "billing_api-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as built:
        assert "ledger/__init__.py" in built.namelist()
