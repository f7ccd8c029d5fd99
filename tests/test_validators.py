"""Every bad answer is refused with its validator's one-line message, and nothing is written.

The lists of taken names in copier.yml are each proved against their source here: the
interpreter's keywords and standard library, the rendered service's own modules, and what
its locked dependencies are called.
"""

import keyword
import re
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import copier
import pytest

from answer_space import name_max_length, reserved_names
from helpers import COPIER_YML, ROOT, copier_config, run

LIMIT = name_max_length()
LONG = "a" * (LIMIT + 1)

BAD_ANSWERS = [
    ("project_name", "", "project_name must start with a letter"),
    ("project_name", "9 Lives", "project_name must start with a letter"),
    ("project_name", "Bad/Name", "project_name must start with a letter"),
    ("project_name", LONG.title(), f"project_name must be at most {LIMIT} characters"),
    ("project_slug", "My-Service", "project_slug must be lower-case letters and digits"),
    ("project_slug", "my--service", "project_slug must be lower-case letters and digits"),
    ("project_slug", "my_service", "project_slug must be lower-case letters and digits"),
    ("project_slug", LONG, f"project_slug must be at most {LIMIT} characters"),
    ("project_slug", "pyyaml", "project_slug 'pyyaml' is taken by one of the service's"),
    ("package_name", "1abc", "package_name must be a valid lower-case Python identifier"),
    ("package_name", "my-service", "package_name must be a valid lower-case Python identifier"),
    ("package_name", "MyService", "package_name must be a valid lower-case Python identifier"),
    ("package_name", "__main__", "package_name must be a valid lower-case Python identifier"),
    ("package_name", LONG, f"package_name must be at most {LIMIT} characters"),
    ("package_name", "class", "package_name 'class' is a Python keyword"),
    ("package_name", "json", "package_name 'json' shadows a standard-library module"),
    ("package_name", "test", "package_name 'test' shadows a standard-library module"),
    ("package_name", "tasks", "package_name 'tasks' shadows the service's own tasks.py"),
    ("package_name", "test_orders", "package_name 'test_orders' shadows the service's own"),
    ("package_name", "yaml", "package_name 'yaml' is taken by one of the service's dependencies"),
    ("description", " ", "description must be one non-empty line"),
    ("description", "two\tcolumns", "description must be one non-empty line"),
    ("author_name", " ", "author_name must be one non-empty line"),
    ("author_name", "Platform\u2028Team", "author_name must be one non-empty line"),
    ("author_email", "nope", "author_email must be an e-mail address"),
    ("author_email", "a@b", "author_email must be an e-mail address"),
    ("author_email", "a b@example.com", "author_email must be an e-mail address"),
    ("github_owner", "Example-Org", "github_owner must be a lower-case GitHub user"),
    ("github_owner", "-org", "github_owner must be a lower-case GitHub user"),
    ("github_owner", "a" * 40, "github_owner must be a lower-case GitHub user"),
    ("http_port", "80", "http_port must be between 1024 and 65535"),
    ("http_port", "65536", "http_port must be between 1024 and 65535"),
    ("service_dir", "Backend", "service_dir must be empty or one folder name"),
    ("service_dir", "apps/backend", "service_dir must be empty or one folder name"),
    ("service_dir", "../backend", "service_dir must be empty or one folder name"),
    ("service_dir", ".github", "service_dir must be empty or one folder name"),
    ("service_dir", "back end", "service_dir must be empty or one folder name"),
    ("service_dir", "src", "service_dir 'src' is a folder of the service itself"),
    ("service_dir", "tests", "service_dir 'tests' is a folder of the service itself"),
    ("python_version", "3.9", "Invalid choice for 'python_version'"),
    ("license", "GPL", "Invalid choice for 'license'"),
    ("copyright_year", "99", "copyright_year must be a four-digit year"),
    # The branches refusing a package_name a backing service's dependency takes need two
    # answers: tests/test_backing.py has them.
    ("database", "mysql", "Invalid choice for 'database'"),
    ("cache", "memcached", "Invalid choice for 'cache'"),
    # Its package_name branch needs two answers too: tests/test_kubernetes.py has it.
    ("kubernetes", "helm", "Invalid choice for 'kubernetes'"),
]
IDS = [f"{question}={value[:12]!r}" for question, value, _ in BAD_ANSWERS]
# The first bad answer to each question, on the command line too: the message is the last
# line whichever branch refused (the API tests cover every branch); each run is a Python start.
ON_THE_COMMAND_LINE = list({q: (q, v, m) for q, v, m in reversed(BAD_ANSWERS)}.values())


def validator_branches(question: str) -> int:
    """How many messages a question's validator can give: one per `if`/`elif` branch."""
    validator = copier_config()[question].get("validator", "")
    return len(re.findall(r"{%-?\s*(?:if|elif)\b", validator))


def test_every_validator_branch_has_a_bad_answer_here() -> None:
    for name, question in copier_config().items():
        if name.startswith("_") or not ("validator" in question or "choices" in question):
            continue
        messages = {message for asked, _, message in BAD_ANSWERS if asked == name}
        expected = max(validator_branches(name), 1)
        assert len(messages) >= expected, f"{name}: {expected} messages, {len(messages)} tested"


@pytest.mark.parametrize(("question", "value", "message"), BAD_ANSWERS, ids=IDS)
def test_bad_answer_is_refused_by_the_api(
    tmp_path: Path, question: str, value: str, message: str
) -> None:
    destination = tmp_path / "service"
    with pytest.raises(ValueError, match=re.escape(message)) as refused:
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


def copier_cli(question: str, value: str, destination: Path) -> subprocess.CompletedProcess[str]:
    """`copier copy --defaults --data question=value`, as a user types it."""
    return subprocess.run(
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
        timeout=300,
    )


@pytest.fixture(scope="module")
def refused_on_the_command_line(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[tuple[str, str], tuple[Path, subprocess.CompletedProcess[str]]]:
    """A bad answer to each question through the CLI, four at a time."""
    work = tmp_path_factory.mktemp("cli")
    destinations = {
        (question, value): work / f"service-{index}"
        for index, (question, value, _) in enumerate(ON_THE_COMMAND_LINE)
    }
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(
            zip(
                destinations,
                pool.map(
                    lambda answer: copier_cli(answer[0], answer[1], destinations[answer]),
                    destinations,
                ),
                strict=True,
            )
        )
    return {answer: (destinations[answer], results[answer]) for answer in destinations}


@pytest.mark.parametrize(
    ("question", "value", "message"),
    ON_THE_COMMAND_LINE,
    ids=[q for q, _, _ in ON_THE_COMMAND_LINE],
)
def test_bad_answer_on_the_command_line(
    refused_on_the_command_line: dict[
        tuple[str, str], tuple[Path, subprocess.CompletedProcess[str]]
    ],
    question: str,
    value: str,
    message: str,
) -> None:
    destination, result = refused_on_the_command_line[question, value]
    assert result.returncode != 0, result.stdout + result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    if "Invalid choice" in message:
        assert message in last_line, result.stderr
    else:
        prefix = f"ValueError: Validation error for question '{question}': {message}"
        assert last_line.startswith(prefix), result.stderr
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


def test_derived_names_are_valid_for_every_valid_project_name(tmp_path: Path) -> None:
    # Spaces, '-' and '_' side by side collapse into one '-': the derived slug is never refused.
    copier.run_copy(
        str(ROOT),
        tmp_path / "service",
        data={"project_name": "Ledger - Sync__v2"},
        defaults=True,
        unsafe=True,
        vcs_ref="HEAD",
        quiet=True,
        skip_tasks=True,
    )
    assert (tmp_path / "service" / "src" / "ledger_sync_v2" / "__init__.py").is_file()


# The lists of taken names, each against its source.


def test_keywords_are_this_interpreters() -> None:
    expected = {name for name in keyword.kwlist if name.islower()}
    assert set(reserved_names("python_keywords")) == expected


def test_stdlib_modules_cover_this_interpreter() -> None:
    listed = set(reserved_names("stdlib_modules"))
    stdlib = {name for name in sys.stdlib_module_names if not name.startswith("_")}
    missing = (stdlib | {"test"}) - listed
    assert not missing, f"add to stdlib_modules in {COPIER_YML.name}: {sorted(missing)}"


def top_level_modules(service: Path) -> set[str]:
    """What the service's own files can be imported as, from its root or its tests/."""
    names = {path.stem for path in service.glob("*.py")}
    names |= {path.parent.name for path in service.glob("*/__init__.py")}
    names |= {path.stem for path in (service / "tests").glob("*.py")}
    return names | {"tests"}


def test_service_modules_are_the_services_own(default_project: Path) -> None:
    own = top_level_modules(default_project)
    rule = {name for name in own if name.startswith("test_")}
    assert set(reserved_names("service_modules")) == own - rule - {"test"}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def test_dependency_names_cover_the_lock(default_project: Path) -> None:
    lock = tomllib.loads((default_project / "uv.lock").read_text(encoding="utf-8"))
    locked = {normalized(package["name"]) for package in lock["package"]} - {"my_service"}
    missing = locked - set(reserved_names("dependency_names"))
    assert not missing, f"add to dependency_names in {COPIER_YML.name}: {sorted(missing)}"


@pytest.mark.slow
def test_dependency_names_are_what_the_locked_packages_install(default_project: Path) -> None:
    run(["uv", "sync", "--locked", "--quiet"], default_project)
    listing = run(
        [
            "uv",
            "run",
            "--locked",
            "python",
            "-c",
            "import importlib.metadata as m; print(*m.packages_distributions(), sep='\\n')",
        ],
        default_project,
    ).stdout
    installed = {name for name in listing.split() if re.fullmatch(r"[a-z][a-z0-9_]*", name)}
    installed -= {"my_service"}
    lock = tomllib.loads((default_project / "uv.lock").read_text(encoding="utf-8"))
    locked = {normalized(package["name"]) for package in lock["package"]} - {"my_service"}
    listed = set(reserved_names("dependency_names"))
    assert installed - listed == set(), f"add to dependency_names: {sorted(installed - listed)}"
    stale = listed - installed - locked
    assert stale == set(), f"no dependency is called that any more: {sorted(stale)}"
