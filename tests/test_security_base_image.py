"""Base images Dependabot can bump, mirrors that still work, and one source for the versions.

The Dockerfile starts from two plain `FROM ... AS python` / `AS uv` lines (Dependabot cannot
read `FROM ${ARG}`, dependabot-core#2057); a mirror replaces a stage by name with BuildKit's
named contexts (`--build-context`). This engine's built-in BuildKit (Docker 20.10, BuildKit
0.8) refuses named contexts; the Docker-tier test records which way the engine it runs on goes.
"""

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from devtasks import dockerfile
from devtasks.jobs import images

from helpers import ROOT, copy_project, run

LEGACY = """\
ARG PYTHON_IMAGE=python:3.12-slim-bookworm
FROM ${PYTHON_IMAGE} AS base
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /bin/
"""


def test_the_base_image_is_the_python_stage(default_project: Path) -> None:
    parsed = dockerfile.read(default_project)
    assert parsed.require_base_image() == "python:3.13-slim-trixie"
    assert [version for _, version in parsed.python_versions] == ["3.13"]
    assert [version for _, version in parsed.uv_versions] == ["0.13.9"]


def test_a_dockerfile_from_before_still_names_its_base() -> None:
    parsed = dockerfile.parse(LEGACY)
    assert parsed.require_base_image() == "python:3.12-slim-bookworm"
    assert [version for _, version in parsed.uv_versions] == ["0.13.9"]


def test_without_a_python_stage_the_error_says_what_is_missing() -> None:
    with pytest.raises(dockerfile.DockerfileError, match="no `FROM <python image> AS python`"):
        dockerfile.parse("FROM scratch AS base\n").require_base_image()


def test_python_image_replaces_the_python_stage_by_name() -> None:
    assert images.base_contexts({}) == {}
    mirror = "registry.example.com/python:3.13-slim-trixie"
    assert images.base_contexts({"PYTHON_IMAGE": mirror}) == {"python": f"docker-image://{mirror}"}


def test_dependabot_reads_every_image_the_dockerfile_starts_from(default_project: Path) -> None:
    config = yaml.safe_load((default_project / ".github/dependabot.yml").read_text("utf-8"))
    docker = [u for u in config["updates"] if u["package-ecosystem"] == "docker"]
    assert [u["directory"] for u in docker] == ["/"]
    text = (default_project / "Dockerfile").read_text(encoding="utf-8")
    external = re.findall(r"^FROM\s+(\S+:\S+)\s+AS\s+(\S+)$", text, re.MULTILINE)
    assert external == [
        ("python:3.13-slim-trixie", "python"),
        ("ghcr.io/astral-sh/uv:0.13.9", "uv"),
    ]
    assert "${" not in "".join(re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE))


@pytest.mark.parametrize("python_version", ["3.11", "3.12"])
def test_the_python_stage_follows_the_answer(tmp_path: Path, python_version: str) -> None:
    project = copy_project(tmp_path / "svc", python_version=python_version, git=False)
    base = dockerfile.read(project).require_base_image()
    assert base.startswith(f"python:{python_version}-slim-")


def named_contexts_supported() -> bool:
    """Whether this engine's BuildKit accepts `--build-context` (a tiny build, no pull)."""
    with_context = subprocess.run(
        ["docker", "buildx", "build", "--build-context", "x=.", "-"],
        input="FROM scratch\nCOPY --from=x Dockerfile /nothing\n",
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=300,
    )
    return "moby.buildkit.frontend.contexts" not in with_context.stderr


@pytest.mark.docker
def test_python_image_builds_from_the_mirror_or_says_the_engine_cannot(tmp_path: Path) -> None:
    import base_images  # noqa: PLC0415 - harness on sys.path via conftest

    try:
        base_images.check_engine()
    except base_images.HarnessError as error:
        pytest.skip(str(error))
    project = copy_project(tmp_path / "my-service")
    base = dockerfile.read(project).require_base_image()
    uv_version = dockerfile.read(project).uv_versions[0][1]
    base_images.ensure_base_images(uv_version, [base, f"{base_images.UV_IMAGE}:{uv_version}"])
    # The mirror's copy: the same image under another name, as a team's registry would hold it.
    mirror = "mirror.invalid/library/python:mirrored"
    run(["docker", "tag", base, mirror], project)
    try:
        result = run(
            [
                "docker",
                "buildx",
                "build",
                "--target=base",
                "--progress=plain",
                "--tag=probe:base",
                "--build-context",
                f"python=docker-image://{mirror}",
                ".",
            ],
            project,
            check=False,
        )
    finally:
        run(["docker", "image", "rm", "--force", mirror, "probe:base"], project, check=False)
    if named_contexts_supported():
        assert result.returncode == 0, result.stderr
    else:
        # Docker 20.10's built-in BuildKit: the build fails, naming the capability it lacks.
        assert result.returncode != 0
        assert "unsupported frontend capability moby.buildkit.frontend.contexts" in result.stderr
