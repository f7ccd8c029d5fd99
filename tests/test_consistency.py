"""Files that must agree do agree: Python versions, CI jobs and the tasks they call."""

import ast
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml
from devtasks import dockerfile
from devtasks.checks import seal

from helpers import ROOT, copy_project, questions, run

CLASSIFIER = re.compile(r"Programming Language :: Python :: (3\.\d+)")
TASK_CALL = ("uv", "run", "--locked", "invoke")


def python_versions_of(project: Path) -> dict[str, list[str]]:
    """Every place a project states its Python versions."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    classifiers = [
        m.group(1) for c in pyproject["project"]["classifiers"] if (m := CLASSIFIER.fullmatch(c))
    ]
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text(encoding="utf-8"))
    matrix = [str(v) for v in workflow["jobs"]["test"]["strategy"]["matrix"]["python-version"]]
    floor = re.fullmatch(r">=(3\.\d+)", pyproject["project"]["requires-python"])
    assert floor is not None
    found = {
        "classifiers": classifiers,
        "ci matrix": matrix,
        "requires-python floor": [floor.group(1)],
        ".python-version": [(project / ".python-version").read_text(encoding="utf-8").strip()],
    }
    dockerfile = project / "Dockerfile"
    if dockerfile.exists():
        tag = re.search(
            r"^FROM python:(3\.\d+)-\S+ AS python$", dockerfile.read_text("utf-8"), re.MULTILINE
        )
        assert tag is not None, "Dockerfile has no `FROM python:3.X-... AS python` stage"
        found["Dockerfile"] = [tag.group(1)]
    return found


def nox_python_versions(project: Path) -> list[str]:
    """The Python versions nox sees, asked from nox itself."""
    listed = run(["uv", "run", "--locked", "nox", "--list", "--json"], project).stdout
    sessions = yaml.safe_load(listed)
    return [s["python"] for s in sessions if s["name"] == "tests"]


def workflow_task_calls(path: Path) -> dict[str, list[str]]:
    """job -> the commands of its `run:` steps."""
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {
        job: [step["run"] for step in body["steps"] if "run" in step]
        for job, body in workflow["jobs"].items()
    }


def collection_task_names(tasks_py: Path) -> set[str]:
    """Task names of an explicit `ns = Collection(...)`, read from the source."""
    tree = ast.parse(tasks_py.read_text(encoding="utf-8"))
    names: set[str] = set()
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Collection":
            for arg in node.args:
                if isinstance(arg, ast.Name):
                    names.add(task_name(functions[arg.id]))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_task":
            for keyword in node.keywords:
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                    names.add(str(keyword.value.value))
    return names


def task_name(function: ast.FunctionDef) -> str:
    """A task's name: `@task(name=...)` or the function name with '_' as '-'."""
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call):
            for keyword in decorator.keywords:
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
    return function.name.replace("_", "-")


@pytest.fixture(scope="module", params=questions()["python_version"]["choices"])
def project_per_python(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    version = str(request.param)
    return copy_project(tmp_path_factory.mktemp(f"py{version}") / "svc", python_version=version)


def test_python_versions_agree(project_per_python: Path) -> None:
    found = python_versions_of(project_per_python)
    classifiers = found["classifiers"]
    assert classifiers == sorted(classifiers, key=lambda v: tuple(map(int, v.split("."))))
    assert found["ci matrix"] == classifiers
    for place in ["requires-python floor", ".python-version", "Dockerfile"]:
        if place in found:
            assert found[place] == [classifiers[0]], f"{place}: {found[place]} vs {classifiers}"
    assert nox_python_versions(project_per_python) == classifiers


@pytest.mark.parametrize("where", ["service", "template repo"])
def test_every_job_runs_exactly_one_existing_task(where: str, default_project: Path) -> None:
    root = default_project if where == "service" else ROOT
    tasks = collection_task_names(root / "tasks.py")
    for workflow in sorted((root / ".github/workflows").glob("*.yml")):
        for job, runs in workflow_task_calls(workflow).items():
            assert len(runs) == 1, f"{workflow.name}: job {job} has {len(runs)} run steps"
            argv = shlex.split(runs[0])
            assert tuple(argv[:4]) == TASK_CALL, f"{workflow.name}: job {job} runs {runs[0]}"
            assert argv[4] in tasks, f"{workflow.name}: job {job} calls missing task {argv[4]}"
            if workflow.name == "ci.yml":
                assert argv[4] == job, f"ci.yml: job {job} calls task {argv[4]}, not `{job}`"


def test_template_repo_python_versions_agree() -> None:
    found = python_versions_of(ROOT)
    assert found["ci matrix"] == found["classifiers"]
    assert found[".python-version"] == [found["classifiers"][0]]


def test_template_repo_obeys_parity() -> None:
    result = run(["uv", "run", "--locked", "invoke", "parity"], ROOT)
    assert "the workflows and the local tasks agree" in result.stdout


def test_the_devtasks_seal_is_current() -> None:
    assert seal.check() == [], "template/devtasks changed: run `uv run invoke seal`"


def test_one_user_id_in_the_dockerfile_and_the_dev_compose_file(default_project: Path) -> None:
    text = (default_project / "Dockerfile").read_text(encoding="utf-8")
    created = re.search(
        r"groupadd --gid (\d+) (\w+) .*useradd --uid (\d+) --gid (\w+)", text, re.DOTALL
    )
    assert created is not None, "the base stage creates no user"
    gid, group, uid, user_group = created.groups()
    assert (group, user_group) == ("appuser", "appuser")
    ids = f"{uid}:{gid}"
    users = {s.name: s.user[2] for s in dockerfile.read(default_project).stages if s.user}
    # Every USER the stages end with (dev's with its build args' defaults) is that user.
    assert set(users.values()) == {ids}, users
    assert re.findall(r"^ARG APP_(?:UID|GID)=(\d+)$", text, re.MULTILINE) == [uid, gid]
    dev = yaml.safe_load((default_project / "compose.dev.yaml").read_text(encoding="utf-8"))
    for service in dev["services"].values():
        if "build" in service:
            args = service["build"]["args"]
            assert args == {
                "APP_UID": f"${{MY_SERVICE_UID:-{uid}}}",
                "APP_GID": f"${{MY_SERVICE_GID:-{gid}}}",
            }
