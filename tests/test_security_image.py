"""Docker tier: the docker job's scan of the prod image, run for real against our own database.

This machine cannot download Trivy's vulnerability database, so harness/trivy_harness.py
writes a stand-in (Trivy's schema, bbolt's format) holding only the advisories a test plants,
for a package the image really has: the scan then reads the image's OS packages and venv
as it would in CI, and must find, name and fail. The database is also served the way Trivy
downloads it, as an OCI artifact from the loopback registry (`trivy-db-repository`). What
this cannot show is how the image fares against real advisories: that runs in CI only.
"""

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from devtasks import config
from devtasks.jobs import security
from invoke.exceptions import Exit

from containers import base_image, build, docker
from helpers import ROOT, copy_project, questions

sys.path.insert(0, str(ROOT / "harness"))
import base_images
import local_registry
import trivy_harness

pytestmark = pytest.mark.docker

UV_VERSION = str(questions()["uv_version"]["default"])
IMAGE = "shipshape-test/security-scan:prod"


@pytest.fixture(scope="module")
def prod_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A default service's prod image, and the service it was built from."""
    try:
        base_images.check_engine()
    except base_images.HarnessError as error:
        pytest.skip(str(error))
    project = copy_project(tmp_path_factory.mktemp("scan") / "my-service")
    base = base_image(project)
    try:
        base_images.ensure_base_images(UV_VERSION, [base, f"{base_images.UV_IMAGE}:{UV_VERSION}"])
    except base_images.HarnessError as error:
        pytest.skip(f"{base} cannot be made here: {error}")
    build(project, "prod", IMAGE)
    yield IMAGE, project
    docker("image", "rm", "--force", IMAGE, check=False)


def installed(image: str, package: str) -> str:
    """The version of a Python distribution in the image's venv."""
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    return docker("run", "--rm", "--entrypoint", "python", image, "-c", code).strip()


def debian_release(image: str) -> str:
    """`debian <major>`, as Trivy names the image's OS."""
    text = docker("run", "--rm", "--entrypoint", "cat", image, "/etc/debian_version").strip()
    return f"debian {text.split('.')[0]}"


@pytest.fixture
def scan_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Trivy on PATH, reports/ under a fresh directory, and a Trivy cache of the test's own."""
    monkeypatch.chdir(tmp_path)
    directory = trivy_harness.trivy_directory()
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")
    cache = tmp_path / "trivy-cache"
    monkeypatch.setenv("TRIVY_CACHE_DIR", str(cache))
    monkeypatch.delenv("TRIVY_SKIP_DB_UPDATE", raising=False)
    return cache


def test_a_fixable_high_vulnerability_fails_naming_the_package(
    prod_image: tuple[str, Path],
    scan_here: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    image, _ = prod_image
    fastapi = installed(image, "fastapi")
    release = debian_release(image)
    planted = [
        trivy_harness.PlantedVulnerability("GHSA-plnt-img1-0001", "fastapi", "999.0"),
        trivy_harness.PlantedVulnerability(
            "CVE-2099-1001", "python3.13", "99.0-1", severity="CRITICAL", platform=release
        ),
        trivy_harness.PlantedVulnerability(
            "GHSA-plnt-img1-0002", "uvicorn", "999.0", severity="MEDIUM"
        ),
    ]
    trivy_harness.write_database(scan_here, planted)
    monkeypatch.setenv("TRIVY_SKIP_DB_UPDATE", "true")
    with pytest.raises(Exit) as stopped:
        security.scan_image(image, config.Security())
    printed = capsys.readouterr().out
    assert f"security: trivy image: Python: fastapi {fastapi}: GHSA-plnt-img1-0001" in printed
    assert "fixed in 999.0" in printed
    assert re.search(r"trivy image: .*\(debian 13[.\d]*\): python3\.13 \S+: CVE-2099-1001", printed)
    assert "GHSA-plnt-img1-0002" not in printed, "MEDIUM does not fail the job"
    assert "finding(s) in the image" in str(stopped.value.message)
    assert (Path(security.IMAGE_SARIF)).is_file()


def test_an_unfixed_or_ignored_vulnerability_passes(
    prod_image: tuple[str, Path], scan_here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image, _ = prod_image
    planted = [trivy_harness.PlantedVulnerability("GHSA-plnt-img2-0001", "fastapi", "999.0")]
    trivy_harness.write_database(scan_here, planted)
    monkeypatch.setenv("TRIVY_SKIP_DB_UPDATE", "true")
    accepted = config.load_table(
        {
            "security": {
                "ignore": [{"id": "GHSA-plnt-img2-0001", "reason": "r", "expires": "2099-01-01"}]
            }
        }
    ).security
    security.scan_image(image, accepted)
    with pytest.raises(Exit):
        security.scan_image(image, config.Security())


def test_the_database_comes_from_the_configured_repository(
    prod_image: tuple[str, Path], scan_here: Path, tmp_path: Path
) -> None:
    image, _ = prod_image
    published = trivy_harness.write_database(
        tmp_path / "published",
        [trivy_harness.PlantedVulnerability("GHSA-plnt-img3-0001", "fastapi", "999.0")],
    )
    try:
        with local_registry.running_registry() as address:
            trivy_harness.push_database(address, "mirror/trivy-db", published)
            mirrored = config.Security(trivy_db_repository=f"{address}/mirror/trivy-db")
            with pytest.raises(Exit, match="1 finding"):
                security.scan_image(image, mirrored)
    except local_registry.RegistryError as error:
        pytest.fail(f"no local registry: {error}")
    assert (scan_here / "db" / "trivy.db").is_file(), "Trivy downloaded the database"


def test_a_database_that_cannot_be_had_fails_the_scan(
    prod_image: tuple[str, Path], scan_here: Path
) -> None:
    image, _ = prod_image
    del scan_here
    unreachable = config.Security(trivy_db_repository="127.0.0.1:9/trivy-db")
    with pytest.raises(Exit, match=rf"trivy could not scan {re.escape(image)}: .*trivy-db"):
        security.scan_image(image, unreachable)
