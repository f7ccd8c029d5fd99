"""Every bad answer is refused with its validator's one-line message, and nothing is written."""

import keyword
import subprocess
import sys
from pathlib import Path

import copier
import pytest

from helpers import COPIER_YML, ROOT, copier_config

BAD_ANSWERS = [
    ("project_name", "", "project_name must start with a letter"),
    ("project_name", "9 Lives", "project_name must start with a letter"),
    ("project_name", "Bad/Name", "project_name must start with a letter"),
    ("project_slug", "My-Service", "project_slug must be lower-case letters and digits"),
    ("project_slug", "my--service", "project_slug must be lower-case letters and digits"),
    ("project_slug", "my_service", "project_slug must be lower-case letters and digits"),
    ("package_name", "1abc", "package_name must be a valid lower-case Python identifier"),
    ("package_name", "my-service", "package_name must be a valid lower-case Python identifier"),
    ("package_name", "MyService", "package_name must be a valid lower-case Python identifier"),
    ("package_name", "class", "package_name 'class' is a Python keyword"),
    ("package_name", "json", "package_name 'json' is a Python keyword or shadows a standard"),
    ("package_name", "asyncio", "shadows a standard-library module"),
    ("description", " ", "description must be one non-empty line"),
    ("author_name", " ", "author_name must not be empty"),
    ("author_email", "nope", "author_email must be an e-mail address"),
    ("author_email", "a@b", "author_email must be an e-mail address"),
    ("author_email", "a b@example.com", "author_email must be an e-mail address"),
    ("github_owner", "Example-Org", "github_owner must be a lower-case GitHub user"),
    ("github_owner", "-org", "github_owner must be a lower-case GitHub user"),
    ("github_owner", "a" * 40, "github_owner must be a lower-case GitHub user"),
    ("http_port", "80", "http_port must be between 1024 and 65535"),
    ("http_port", "65536", "http_port must be between 1024 and 65535"),
    ("python_version", "3.9", "Invalid choice for 'python_version'"),
    ("license", "GPL", "Invalid choice for 'license'"),
    ("copyright_year", "99", "copyright_year must be a four-digit year"),
]


def test_every_validated_question_has_a_bad_answer_here() -> None:
    validated = {
        name
        for name, question in copier_config().items()
        if not name.startswith("_") and ("validator" in question or "choices" in question)
    }
    tested = {name for name, _, _ in BAD_ANSWERS}
    assert validated <= tested, f"untested validators: {sorted(validated - tested)}"


@pytest.mark.parametrize(("question", "value", "message"), BAD_ANSWERS)
def test_bad_answer_is_refused_by_the_api(
    tmp_path: Path, question: str, value: str, message: str
) -> None:
    destination = tmp_path / "service"
    with pytest.raises(ValueError, match=message) as refused:
        copier.run_copy(
            str(ROOT),
            destination,
            data={question: value},
            defaults=True,
            unsafe=True,
            vcs_ref="HEAD",
            quiet=True,
        )
    assert "\n" not in str(refused.value).strip()
    assert not destination.exists()


@pytest.mark.parametrize(
    ("question", "value", "message"),
    [BAD_ANSWERS[6], BAD_ANSWERS[14], BAD_ANSWERS[20]],
    ids=["package_name", "author_email", "http_port"],
)
def test_bad_answer_on_the_command_line(
    tmp_path: Path, question: str, value: str, message: str
) -> None:
    destination = tmp_path / "service"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "copier",
            "copy",
            "--trust",
            "--defaults",
            "--vcs-ref",
            "HEAD",
            "--data",
            f"{question}={value}",
            str(ROOT),
            str(destination),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert f"Validation error for question '{question}': {message}" in last_line
    assert not destination.exists()


def test_refused_answer_leaves_an_existing_directory_untouched(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine\n", encoding="utf-8")
    with pytest.raises(ValueError, match="package_name"):
        copier.run_copy(
            str(ROOT),
            tmp_path,
            data={"package_name": "1abc"},
            defaults=True,
            unsafe=True,
            vcs_ref="HEAD",
            quiet=True,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_reserved_names_cover_this_interpreter() -> None:
    reserved = set(copier_config()["reserved_package_names"]["default"].strip("[] \n").split(","))
    reserved = {name.strip() for name in reserved}
    stdlib = {name for name in sys.stdlib_module_names if not name.startswith("_")}
    keywords = {name for name in keyword.kwlist if name.islower()}
    missing = (stdlib | keywords) - reserved
    assert not missing, f"add to reserved_package_names in {COPIER_YML.name}: {sorted(missing)}"
