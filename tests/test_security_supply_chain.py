"""Supply chain on publish: the SBOM's contents, the attestation and signing flags, the job.

What runs here: `uv export --format cyclonedx1.5` for real, checked against uv.lock read
independently; `invoke publish` to the loopback registry with a cosign stand-in that records
what it was asked (Docker tier). What cannot run here: BuildKit attestations (the engine's
built-in BuildKit uses the `docker` driver, and a `docker-container` builder needs an image
from a registry) and keyless signing itself (GitHub's OIDC token, Sigstore's services).
"""

import json
import os
import shutil
import stat
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from devtasks.jobs import supply_chain

from containers import base_image
from helpers import ROOT, copy_project, questions, run

sys.path.insert(0, str(ROOT / "harness"))
import base_images
import local_registry

UV_VERSION = str(questions()["uv_version"]["default"])


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("sbom") / "my-service")


def runtime_closure(project: Path) -> dict[str, str]:
    """Every package the project needs at run time, read from uv.lock: no dev group."""
    lock = tomllib.loads((project / "uv.lock").read_text(encoding="utf-8"))
    packages = {package["name"]: package for package in lock["package"]}
    name = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    root = packages[name["name"]]
    wanted: dict[str, str] = {}
    pending = [dependency["name"] for dependency in root.get("dependencies", [])]
    while pending:
        current = pending.pop()
        if current in wanted:
            continue
        package = packages[current]
        wanted[current] = package["version"]
        pending += [dependency["name"] for dependency in package.get("dependencies", [])]
    return wanted


def test_the_sbom_lists_every_locked_runtime_package_at_its_locked_version(
    service: Path, tmp_path: Path
) -> None:
    output = tmp_path / "sbom.cdx.json"
    written = supply_chain.write_sbom(service, output)
    document = json.loads(written.read_text(encoding="utf-8"))
    assert document["bomFormat"] == "CycloneDX"
    assert document["specVersion"] == "1.5"
    assert document["metadata"]["component"]["name"] == "my-service"
    expected = runtime_closure(service)
    assert {"fastapi", "uvicorn", "pydantic", "starlette"} <= set(expected)
    assert supply_chain.sbom_components(document) == expected
    assert all(c["purl"].startswith("pkg:pypi/") for c in document["components"])


def test_the_sbom_leaves_the_dev_tools_out(service: Path, tmp_path: Path) -> None:
    components = supply_chain.read_sbom(supply_chain.write_sbom(service, tmp_path / "s.json"))
    for tool in ("pytest", "ruff", "mypy", "invoke", "zizmor"):
        assert tool not in components


def test_the_sbom_command_is_uv_export_of_the_lock_without_dev() -> None:
    argv = supply_chain.sbom_command(Path("reports/sbom.cdx.json"))
    assert argv[:2] == ["uv", "export"]
    assert argv[argv.index("--format") + 1] == "cyclonedx1.5"
    assert argv[argv.index("--preview-features") + 1] == "sbom-export"
    assert {"--frozen", "--no-dev"} <= set(argv)
    assert argv[-2:] == ["--output-file", "reports/sbom.cdx.json"]


def test_attestations_where_the_builder_makes_them_and_why_not_elsewhere() -> None:
    options, why = supply_chain.attestations("docker-container")
    assert options == {"sbom": True, "provenance": {"mode": "max"}}
    assert "BuildKit SBOM and provenance (mode=max)" in why
    options, why = supply_chain.attestations("docker")
    assert options == {}
    assert why.startswith("attestations: none, the builder's docker driver cannot attach them")


def test_signing_is_keyless_in_github_actions_only() -> None:
    assert supply_chain.signing_decision({}) == (
        False,
        "signing: none, keyless signing needs GitHub Actions' OIDC token",
    )
    with pytest.raises(supply_chain.SupplyChainError, match="id-token: write"):
        supply_chain.signing_decision({"GITHUB_ACTIONS": "true"})
    signing, _ = supply_chain.signing_decision(
        {"GITHUB_ACTIONS": "true", supply_chain.OIDC_VARIABLE: "https://token.invalid"}
    )
    assert signing


def test_cosign_signs_and_attests_the_digest_never_a_tag() -> None:
    reference = "ghcr.io/example-org/my-service@sha256:" + "a" * 64
    sbom = Path("reports/sbom.cdx.json")
    assert supply_chain.sign_commands(reference, sbom) == [
        ["cosign", "sign", "--yes", reference],
        ["cosign", "attest", "--yes", "--type", "cyclonedx", "--predicate", str(sbom), reference],
    ]
    with pytest.raises(supply_chain.SupplyChainError, match="sign digests, never tags"):
        supply_chain.sign_commands("ghcr.io/example-org/my-service:latest", sbom)


def test_digests_are_read_from_buildx_metadata_and_repo_digests() -> None:
    digest = "sha256:" + "b" * 64
    assert supply_chain.pushed_digest({"containerimage.digest": digest}) == digest
    assert supply_chain.pushed_digest({}) is None
    found = supply_chain.repository_digest(
        [f"other/repo@{digest}", f"127.0.0.1:5000/org/app@{digest}"], "127.0.0.1:5000/org/app"
    )
    assert found == f"127.0.0.1:5000/org/app@{digest}"
    with pytest.raises(supply_chain.SupplyChainError, match="no digest of the pushed org/app"):
        supply_chain.require_reference(None, "org/app")


def publish_job(project: Path) -> dict[str, Any]:
    document = yaml.safe_load(
        (project / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    )
    jobs: dict[str, Any] = document["jobs"]
    return jobs


def test_only_the_publish_job_may_request_an_oidc_token(default_project: Path) -> None:
    jobs = publish_job(default_project)
    holders = {name for name, job in jobs.items() if "id-token" in job.get("permissions", {})}
    assert holders == {"publish"}
    publish = jobs["publish"]
    assert publish["permissions"]["id-token"] == "write"
    assert set(publish["needs"]) == set(jobs) - {"publish"}, "publish waits for every job"
    uses = [step.get("uses", "").split("@")[0] for step in publish["steps"]]
    runs = [step.get("run") for step in publish["steps"]]
    task = runs.index("uv run --locked invoke publish")
    assert uses.index("sigstore/cosign-installer") < task
    assert publish["steps"][-1]["with"]["path"] == str(supply_chain.SBOM)
    assert publish["steps"][task - 1]["with"]["enable-cache"] is False


FAKE_COSIGN = """#!/bin/sh
printf '%s\\n' "$*" >> "$COSIGN_LOG"
"""


@pytest.mark.docker
def test_publish_pushes_writes_the_sbom_and_signs_the_pushed_digest(tmp_path: Path) -> None:
    try:
        base_images.check_engine()
    except base_images.HarnessError as error:
        pytest.skip(str(error))
    project = copy_project(tmp_path / "my-service")
    base = base_image(project)
    try:
        base_images.ensure_base_images(UV_VERSION, [base, f"{base_images.UV_IMAGE}:{UV_VERSION}"])
    except base_images.HarnessError as error:
        pytest.skip(f"{base} cannot be made here: {error}")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cosign = bin_dir / "cosign"
    cosign.write_text(FAKE_COSIGN, encoding="utf-8")
    cosign.chmod(cosign.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "cosign.log"
    sha = run(["git", "rev-parse", "HEAD"], project).stdout.strip()
    with local_registry.running_registry() as address:
        repository = f"{address}/example-org/signed"
        env = {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "COSIGN_LOG": str(log),
            "GITHUB_ACTIONS": "true",
            "GITHUB_SHA": sha,
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_REF_TYPE": "branch",
            supply_chain.OIDC_VARIABLE: "https://token.invalid",
        }
        result = run(
            ["uv", "run", "--locked", "invoke", "publish", f"--image={repository}"],
            project,
            env=env,
            timeout=1800,
        )
        assert sorted(local_registry.tags(address, "example-org/signed")) == sorted(
            ["latest", f"sha-{sha[:7]}"]
        )
    out = result.stdout
    assert "attestations: none, the builder's docker driver cannot attach them" in out
    pushed = [line for line in out.splitlines() if line.startswith("docker: pushed digest ")]
    assert len(pushed) == 1, out
    reference = pushed[0].removeprefix("docker: pushed digest ")
    assert reference.startswith(f"{repository}@sha256:")
    sbom = supply_chain.SBOM
    assert log.read_text(encoding="utf-8").splitlines() == [
        f"sign --yes {reference}",
        f"attest --yes --type cyclonedx --predicate {project / sbom} {reference}",
    ]
    assert supply_chain.read_sbom(project / sbom) == runtime_closure(project)
    images = run(["docker", "image", "ls", "--format={{.Repository}}:{{.Tag}}"], project).stdout
    ours = [name for name in images.split() if name.startswith(f"{repository}:")]
    if ours:
        run(["docker", "image", "rm", *ours], project, check=False)
    shutil.rmtree(project / "reports", ignore_errors=True)
