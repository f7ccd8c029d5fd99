"""Fast checks of the container files and the rules `invoke docker` decides by (no engine).

The rules (tags, when to publish, which cache) are pure functions in the template's
`devtasks/jobs/images.py`; the files must agree with each other and with the answers.
"""

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import ROOT, copy_project

sys.path.insert(0, str(ROOT / "template"))
from devtasks import dockerfile
from devtasks.jobs import images

PROJECT = images.Project(
    name="my-service",
    version="1.2.3",
    source="https://github.com/Example-Org/my-service",
    description="Bills people",
)
REVISION = images.Revision(sha="0123456789abcdef", created="2026-01-01T00:00:00Z")
MAIN = {"GITHUB_REF": "refs/heads/main", "GITHUB_REF_TYPE": "branch"}
TAG = {"GITHUB_REF": "refs/tags/v1.2.3", "GITHUB_REF_TYPE": "tag", "GITHUB_REF_NAME": "v1.2.3"}
PULL_REQUEST = {"GITHUB_REF": "refs/pull/7/merge", "GITHUB_REF_TYPE": "branch"}


def load_yaml(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


# --- the rules ---------------------------------------------------------------------------


def test_repository_is_ghcr_owner_and_name_in_lower_case() -> None:
    assert PROJECT.repository == "ghcr.io/example-org/my-service"


def test_a_source_that_is_not_github_is_an_error() -> None:
    project = images.Project(name="x", version="1", source="https://gitlab.com/a/x")
    with pytest.raises(images.ImageError, match=r"\[project.urls\] Source"):
        _ = project.repository


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param({}, ["sha-0123456"], id="local"),
        pytest.param(PULL_REQUEST, ["sha-0123456"], id="pull-request"),
        pytest.param(MAIN, ["sha-0123456", "latest"], id="main"),
        pytest.param(TAG, ["sha-0123456", "1.2.3"], id="tag"),
    ],
)
def test_tags(env: dict[str, str], expected: list[str]) -> None:
    assert images.tags(PROJECT, REVISION, env) == expected


def test_dirty_and_unknown_revisions_are_tagged_as_such() -> None:
    dirty = images.Revision(sha="0123456789abcdef", created="now", dirty=True)
    assert images.tags(PROJECT, dirty, {}) == ["sha-0123456-dirty"]
    assert dirty.label == "0123456789abcdef-dirty"
    assert images.tags(PROJECT, images.Revision(sha="unknown", created="now"), {}) == ["local"]


def test_a_tag_that_disagrees_with_the_version_is_refused() -> None:
    env = {**TAG, "GITHUB_REF_NAME": "v9.9.9"}
    with pytest.raises(
        images.ImageError, match=r"does not match pyproject\.toml's version 1\.2\.3"
    ):
        images.tags(PROJECT, REVISION, env)
    with pytest.raises(images.ImageError, match="not a release tag"):
        images.tags(PROJECT, REVISION, {**TAG, "GITHUB_REF_NAME": "nightly"})


@pytest.mark.parametrize(
    ("env", "requested", "publish"),
    [
        pytest.param(MAIN, False, False, id="main-docker-job"),
        pytest.param(MAIN, True, True, id="main-publish-job"),
        pytest.param(TAG, True, True, id="tag-publish-job"),
        pytest.param(TAG, False, False, id="tag-docker-job"),
        pytest.param(PULL_REQUEST, True, False, id="pr-publish-job"),
        pytest.param({}, True, False, id="local-publish-job"),
        pytest.param({"GITHUB_REF": "refs/heads/trunk"}, True, False, id="other-branch"),
    ],
)
def test_publishes_only_from_the_publish_job_on_main_or_a_tag(
    env: dict[str, str], *, requested: bool, publish: bool
) -> None:
    decided, why = images.publish_decision(env, "main", requested=requested)
    assert decided is publish
    assert why.startswith("publishing" if publish else "not publishing"), why


def test_the_default_branch_comes_from_the_settings() -> None:
    trunk = {"GITHUB_REF": "refs/heads/trunk"}
    assert images.publish_decision(trunk, "trunk", requested=True)[0] is True
    assert images.tags(PROJECT, REVISION, trunk, "trunk")[-1] == "latest"
    assert images.tags(PROJECT, REVISION, MAIN, "trunk")[-1] != "latest"


def test_the_github_actions_cache_only_in_actions_and_never_when_publishing() -> None:
    actions = {"GITHUB_ACTIONS": "true", "ACTIONS_RUNTIME_TOKEN": "t"}
    cache_from, cache_to, _ = images.build_cache(actions, "prod", publishing=False)
    assert cache_from == {"type": "gha", "scope": "prod"}
    assert cache_to == {"type": "gha", "scope": "prod", "mode": "max"}
    assert images.build_cache(actions, "prod", publishing=True)[:2] == (None, None)
    assert images.build_cache({}, "prod", publishing=False)[:2] == (None, None)
    no_token = images.build_cache({"GITHUB_ACTIONS": "true"}, "ci", publishing=False)
    assert no_token[:2] == (None, None)
    assert "ACTIONS_RUNTIME_TOKEN" in no_token[2]
    engine_builder = images.build_cache(actions, "ci", publishing=False, driver="docker")
    assert engine_builder[:2] == (None, None)
    assert "docker/setup-buildx-action" in engine_builder[2]


def test_labels_come_from_the_project_and_revision() -> None:
    assert images.labels_args(PROJECT, REVISION) == {
        "VERSION": "1.2.3",
        "REVISION": "0123456789abcdef",
        "CREATED": "2026-01-01T00:00:00Z",
        "SOURCE": "https://github.com/Example-Org/my-service",
        "DESCRIPTION": "Bills people",
    }


# --- the files agree ---------------------------------------------------------------------


def test_one_port_everywhere(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "svc", http_port=9123, git=False)
    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
    assert re.findall(r"^EXPOSE (.+)$", dockerfile, re.MULTILINE) == ["9123 5678", "9123"]
    assert "os.environ.get('MY_SERVICE_PORT', '9123')" in dockerfile
    base = load_yaml(project / "compose.yaml")
    assert base["services"]["app"]["ports"] == ["127.0.0.1:${MY_SERVICE_HOST_PORT:-9123}:9123"]
    dev = load_yaml(project / "compose.dev.yaml")
    assert dev["services"]["app"]["ports"] == ["127.0.0.1:${MY_SERVICE_DEBUG_PORT:-5678}:5678"]


def test_dockerfile_needs_no_frontend_pull_and_names_its_stages(default_project: Path) -> None:
    dockerfile = (default_project / "Dockerfile").read_text(encoding="utf-8")
    assert not re.search(r"^#\s*syntax\s*=", dockerfile, re.MULTILINE | re.IGNORECASE)
    assert "--start-interval" not in dockerfile, "engine 20.10 has no HEALTHCHECK --start-interval"
    stages = re.findall(r"^FROM\s+(\S+)\s+AS\s+(\S+)$", dockerfile, re.MULTILINE)
    assert [name for _, name in stages] == [
        *("python", "uv", "base", "deps", "build", "devdeps", "dev", "ci", "runner", "prod")
    ]
    # The images it starts from are plain FROM lines, which Dependabot reads; the rest build
    # on stages, so a mirror replaces `python` and `uv` by name (--build-context).
    assert dict(stages)["python:3.13-slim-trixie"] == "python"
    assert dict(stages)["ghcr.io/astral-sh/uv:0.13.9"] == "uv"
    assert dict(stages)["python"] == "base"
    assert "${" not in "".join(image for image, _ in stages), "Dependabot cannot read FROM ${ARG}"
    copies = re.findall(r"^COPY --from=(\S+)", dockerfile, re.MULTILINE)
    assert copies == [*("uv", "deps", "build")], "uv is mounted, copied only into runner"
    assert re.search(r"^USER \d+:\d+$", dockerfile, re.MULTILINE), "prod's USER must be numeric"


def test_every_stage_of_the_rendered_dockerfile_ends_as_a_non_root_user(
    default_project: Path,
) -> None:
    parsed = dockerfile.read(default_project)
    assert parsed.root_stages() == []
    users = {stage.name: stage.user for stage in parsed.stages}
    assert users["base"] is not None
    assert users["base"][1:] == ("10001:10001", "10001:10001")
    assert users["dev"] is not None
    assert users["dev"][1:] == ("${APP_UID}:${APP_GID}", "10001:10001")


# Edits a team might make: (old, new, appended, the stages then refused, one line each).
ROOT_EDITS = {
    "prod-ends-as-root": ("", "", "\nUSER root\n", ["prod"]),
    # runner starts from ci, so it inherits ci's user.
    "ci-ends-as-uid-0": (
        "FROM devdeps AS ci\n",
        "FROM devdeps AS ci\nUSER 0\n",
        "",
        ["ci", "runner"],
    ),
    # Docker strips the quotes of an ARG default: this is root, not a user named "0".
    "ci-ends-as-a-quoted-root-argument": (
        "FROM devdeps AS ci\n",
        'FROM devdeps AS ci\nARG WHO="0"\nUSER ${WHO}\n',
        "",
        ["ci", "runner"],
    ),
    "prod-ends-as-root-by-name-and-group": ("", "", "\nARG WHO='root'\nUSER $WHO:$WHO\n", ["prod"]),
    "runner-ends-as-an-unknown-user": (
        "FROM ci AS runner\n",
        "FROM ci AS runner\nUSER ${WHO}\n",
        "",
        ["runner"],
    ),
}


@pytest.mark.parametrize("edit", ROOT_EDITS.values(), ids=ROOT_EDITS.keys())
def test_a_stage_that_ends_as_root_is_refused_in_one_line(
    default_project: Path, edit: tuple[str, str, str, list[str]]
) -> None:
    old, new, appended, stages = edit
    text = (default_project / "Dockerfile").read_text(encoding="utf-8")
    assert old in text
    problems = dockerfile.parse(text.replace(old, new, 1) + appended).root_stages()
    assert [p.split("`")[1] for p in problems] == stages, problems
    for problem in problems:
        assert problem.startswith("Dockerfile:")
        assert " ends as " in problem
        assert "\n" not in problem


def test_a_stage_without_a_user_runs_as_its_images_root(default_project: Path) -> None:
    text = (default_project / "Dockerfile").read_text(encoding="utf-8")
    base, rest = text.split("FROM python AS base\n", 1)
    without = base + "FROM python AS base\n" + rest.replace("USER 10001:10001\n", "", 1)
    problems = dockerfile.parse(without).root_stages()
    # base, and every stage that inherits its user (dev and prod set their own).
    named = [p.split("`")[1] for p in problems]
    assert named == ["base", "deps", "build", "devdeps", "ci", "runner"], problems
    assert "no USER after `FROM python:3.13-slim-trixie`" in problems[0]


@pytest.mark.parametrize("license_name", ["MIT", "Proprietary"])
def test_the_license_file_is_copied_only_when_there_is_one(
    tmp_path: Path, license_name: str
) -> None:
    project = copy_project(tmp_path / "svc", license=license_name, git=False)
    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
    assert ("LICENSE" in dockerfile) is (project / "LICENSE").exists()


def test_dockerignore_keeps_secrets_and_clutter_out(default_project: Path) -> None:
    ignored = (default_project / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".git", ".venv", ".nox", ".env", ".env.*", "reports", "**/__pycache__"):
        assert entry in ignored, entry


def test_prod_compose_is_locked_down(default_project: Path) -> None:
    app = load_yaml(default_project / "compose.prod.yaml")["services"]["app"]
    assert app["build"]["target"] == "prod"
    assert app["read_only"] is True
    assert app["cap_drop"] == ["ALL"]
    assert app["security_opt"] == ["no-new-privileges:true"]
    assert app["init"] is True
    assert app["restart"] == "unless-stopped"
    assert app["tmpfs"] == ["/tmp"]  # noqa: S108 - the container's own
    assert "test" not in app["healthcheck"], "the probe is the image's HEALTHCHECK, not a copy"
    limits = app["deploy"]["resources"]["limits"]
    assert limits == {
        "memory": "${MY_SERVICE_MEMORY_LIMIT:-256M}",
        "cpus": "${MY_SERVICE_CPU_LIMIT:-0.5}",
    }


def test_only_the_publish_job_writes_packages_after_every_job_without_caches(
    default_project: Path,
) -> None:
    workflows = default_project / ".github/workflows"
    for path in workflows.glob("*.yml"):
        for job_id, job in load_yaml(path)["jobs"].items():
            writes = job.get("permissions", {}).get("packages") == "write"
            assert writes is (path.name == "ci.yml" and job_id == "publish"), (path, job_id)
    ci = load_yaml(workflows / "ci.yml")
    # YAML 1.1 reads the key `on` as true.
    triggers = next(value for key, value in ci.items() if key in {"on", True})
    assert triggers["push"] == {"branches": ["main"], "tags": ["v*"]}
    publish = ci["jobs"]["publish"]
    assert set(publish["needs"]) == set(ci["jobs"]) - {"publish"}, "publish waits for all"
    assert "github.event_name == 'push'" in publish["if"]
    setup_uv = next(s for s in publish["steps"] if s.get("uses", "").startswith("astral-sh/"))
    assert setup_uv["with"]["enable-cache"] is False
    assert not (workflows / "release.yml").exists(), "publishing lives in ci.yml only"
