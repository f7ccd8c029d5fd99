"""`invoke security`: the locked dependencies audited against OSV, the repository scanned.

Dependencies: `uv audit` (uv's own, lock-aware) against `[tool.shipshape.security] osv-url`.
Repository: Trivy's secret and misconfiguration scanners on the files git sees. The docker
job scans the prod image with `scan_image`. Every scanner writes SARIF to reports/ (ci.yml
uploads it), every finding is printed naming where and what, and a scanner that cannot reach
its database fails the job: nothing passes because a lookup did not happen.
"""

import datetime as dt
import enum
import functools
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invoke.exceptions import Exit

from devtasks.config import Config, Ignored, Security
from devtasks.machine import require_tool

REPORTS = Path("reports")
AUDIT_SARIF = REPORTS / "uv-audit.sarif"
REPOSITORY_REPORT = REPORTS / "trivy-repository.json"
REPOSITORY_SARIF = REPORTS / "trivy-repository.sarif"
IMAGE_REPORT = REPORTS / "trivy-image.json"
IMAGE_SARIF = REPORTS / "trivy-image.sarif"
# kubernetes=kustomize's base and overlays: scanned rendered, by `invoke k8s`.
KUSTOMIZE_SOURCES = "deploy/kubernetes"
# `uv audit` is a preview command in uv 0.13: enabled explicitly (uv is pinned anyway).
AUDIT_PREVIEW = "audit-command"
TRIVY_HINT = (
    "install Trivy (https://trivy.dev) and put it on PATH; in CI the job's "
    "aquasecurity/setup-trivy step does"
)
# The image fails on these, when a fixed version exists; the team cannot act on the rest.
IMAGE_SEVERITIES = ("HIGH", "CRITICAL")
# For one run, a test harness or a one-off mirror: overrides `osv-url`, and says so.
OSV_URL_OVERRIDE = "SHIPSHAPE_OSV_URL"


class Scanner(enum.Enum):
    """Which scanner reported a finding."""

    DEPENDENCIES = "uv audit"
    SECRET = "trivy secret"  # noqa: S105 - a scanner's name
    MISCONFIG = "trivy misconfig"
    IMAGE = "trivy image"


@dataclass(frozen=True)
class Finding:
    """One thing a scanner found: where (a package or a file) and what (an id and its title)."""

    scanner: Scanner
    where: str
    id: str
    title: str
    fixed: str = ""

    def __str__(self) -> str:
        """The line `invoke security` prints for it."""
        fix = f"; fixed in {self.fixed}" if self.fixed else ""
        return f"{self.scanner.value}: {self.where}: {self.id} {self.title}{fix}"


def say(message: str) -> None:
    """One progress line, unbuffered so it interleaves with the scanners' output."""
    print(f"security: {message}", flush=True)


def fail(message: str) -> Exit:
    """The one-line failure of the security checks."""
    return Exit(f"security: {message}", code=1)


class ScanError(Exception):
    """A scanner could not run to the end (no database, no service): the job fails."""


def osv_url(settings: Security, env: Mapping[str, str]) -> str:
    """The OSV service to query: `osv-url`, unless SHIPSHAPE_OSV_URL overrides it."""
    return (env.get(OSV_URL_OVERRIDE) or settings.osv_url).rstrip("/")


def active_ignores(settings: Security, today: dt.date) -> tuple[Ignored, ...]:
    """The unexpired ignore entries; an expired one stops the job, naming it."""
    expired = [entry for entry in settings.ignore if entry.expired(today)]
    if expired:
        named = "; ".join(
            f"{entry.id} expired on {entry.expires.isoformat()} ({entry.reason})"
            for entry in expired
        )
        message = (
            f"[tool.shipshape.security] ignore: {named}: fix it, or renew the entry with a "
            "new date and reason"
        )
        raise fail(message)
    return tuple(settings.ignore)


# --- dependencies: uv audit -------------------------------------------------------------------


def audit_command(service: str, ignored: Iterable[Ignored]) -> list[str]:
    """`uv audit` of uv.lock as it is, every group, against an OSV service."""
    argv = [
        "uv",
        "audit",
        "--preview-features",
        AUDIT_PREVIEW,
        "--frozen",
        "--output-format",
        "sarif",
        "--service-url",
        service,
    ]
    for entry in ignored:
        argv += ["--ignore", entry.id]
    return argv


def audit_findings(sarif: Mapping[str, Any]) -> list[Finding]:
    """The findings of `uv audit`'s SARIF: package, version, advisory id and fixed versions."""
    findings = []
    for run in sarif.get("runs", []):
        for result in run.get("results", []):
            properties = result.get("properties", {})
            package = properties.get("uv/package")
            version = properties.get("uv/version")
            text = str(result.get("message", {}).get("text", ""))
            if package and version:
                where = f"{package} {version}"
                title = text.split(": ", 1)[1] if ": " in text else text
            else:
                where, title = "uv.lock", text
            findings.append(
                Finding(
                    scanner=Scanner.DEPENDENCIES,
                    where=where,
                    id=str(properties.get("uv/displayId") or result.get("ruleId", "?")),
                    title=title,
                    fixed=", ".join(properties.get("uv/fixVersions", [])),
                )
            )
    return findings


def audit_dependencies(root: Path, service: str, ignored: Sequence[Ignored]) -> list[Finding]:
    """Run `uv audit`; its SARIF goes to reports/. A service it cannot query is a ScanError."""
    argv = audit_command(service, ignored)
    require_tool("uv", "install uv (https://docs.astral.sh/uv/)")
    result = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False)
    errors = result.stderr.strip().splitlines()
    # 0: nothing found, 1: findings; anything else (2) is an error, e.g. an unreachable service.
    try:
        sarif = json.loads(result.stdout) if result.returncode in {0, 1} else None
    except json.JSONDecodeError:
        sarif = None
    if sarif is None:
        cause = " / ".join(line.strip() for line in errors if line.strip()) or "no output"
        message = f"uv audit could not audit uv.lock against {service}: {cause}"
        raise ScanError(message)
    (root / REPORTS).mkdir(exist_ok=True)
    (root / AUDIT_SARIF).write_text(json.dumps(sarif, indent=2) + "\n", encoding="utf-8")
    findings = audit_findings(sarif)
    if result.returncode == 1 and not findings:
        message = f"uv audit failed without naming a finding: {' / '.join(errors)}"
        raise ScanError(message)
    say(f"uv audit: {len(findings)} finding(s); SARIF in {AUDIT_SARIF}")
    return findings


# --- Trivy: the repository and the image ------------------------------------------------------


def trivy_ignore_file(ignored: Iterable[Ignored], directory: Path) -> Path:
    """A `.trivyignore` holding the unexpired ignore entries (Trivy matches ids and aliases)."""
    path = directory / "trivyignore"
    path.write_text("".join(f"{entry.id}\n" for entry in ignored), encoding="utf-8")
    return path


def repository_command(target: Path, ignore_file: Path, output: Path) -> list[str]:
    """Trivy's secret and misconfiguration scan of a directory, as JSON.

    Its checks are embedded in the binary (`--skip-check-update`): the pinned Trivy decides
    what is checked, the same on a laptop and in CI, and no download can fail or change it.
    Kustomize's sources are left to `invoke k8s`, which scans what they render: a base has
    no namespace yet and a patch is part of an object, which the checks would misread.
    """
    return [
        "trivy",
        "filesystem",
        "--quiet",
        "--scanners",
        "secret,misconfig",
        "--skip-check-update",
        "--skip-dirs",
        KUSTOMIZE_SOURCES,
        "--ignorefile",
        str(ignore_file),
        "--format",
        "json",
        "--output",
        str(output),
        str(target),
    ]


def image_command(
    image: str, ignore_file: Path, output: Path, db_repository: str = ""
) -> list[str]:
    """Trivy's vulnerability scan of a local image: OS packages and the venv, as JSON."""
    argv = [
        "trivy",
        "image",
        "--quiet",
        "--image-src",
        "docker",
        "--scanners",
        "vuln",
        "--severity",
        ",".join(IMAGE_SEVERITIES),
        "--ignore-unfixed",
        "--ignorefile",
        str(ignore_file),
        "--format",
        "json",
        "--output",
        str(output),
    ]
    if db_repository:
        argv += ["--db-repository", db_repository]
    return [*argv, image]


def _secret(target: str, secret: Mapping[str, Any]) -> Finding:
    return Finding(
        scanner=Scanner.SECRET,
        where=f"{target}:{secret.get('StartLine', '?')}",
        id=str(secret.get("RuleID", "?")),
        title=f"{secret.get('Title', '')} ({secret.get('Severity', '?')})",
    )


def _misconfiguration(target: str, check: Mapping[str, Any]) -> Finding:
    line = (check.get("CauseMetadata") or {}).get("StartLine")
    text = check.get("Message") or check.get("Title", "")
    return Finding(
        scanner=Scanner.MISCONFIG,
        where=f"{target}:{line}" if line else target,
        id=str(check.get("ID", "?")),
        title=f"{text} ({check.get('Severity', '?')})",
    )


def _vulnerability(target: str, vulnerability: Mapping[str, Any]) -> Finding:
    package = f"{vulnerability.get('PkgName', '?')} {vulnerability.get('InstalledVersion', '?')}"
    return Finding(
        scanner=Scanner.IMAGE,
        where=f"{target}: {package}",
        id=str(vulnerability.get("VulnerabilityID", "?")),
        title=f"{vulnerability.get('Title', '')} ({vulnerability.get('Severity', '?')})".strip(),
        fixed=str(vulnerability.get("FixedVersion", "")),
    )


def trivy_findings(report: Mapping[str, Any]) -> list[Finding]:
    """Every finding of a Trivy JSON report: secrets, failed checks and vulnerabilities."""
    findings = []
    for result in report.get("Results") or []:
        target = str(result.get("Target", "?"))
        findings += [_secret(target, item) for item in result.get("Secrets") or []]
        findings += [
            _misconfiguration(target, item)
            for item in result.get("Misconfigurations") or []
            if item.get("Status", "FAIL") == "FAIL"
        ]
        findings += [_vulnerability(target, item) for item in result.get("Vulnerabilities") or []]
    return findings


def run_trivy(argv: Sequence[str], report: Path, sarif: Path, what: str) -> list[Finding]:
    """Run a Trivy scan to a JSON report, convert it to SARIF, and read its findings.

    Trivy's own failure (no database, an image it cannot read) fails the job with its words.
    """
    require_tool("trivy", TRIVY_HINT)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.unlink(missing_ok=True)
    result = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if result.returncode != 0 or not report.exists():
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        fatal = [line for line in lines if "FATAL" in line]
        cause = " ".join((fatal or lines or [f"exit code {result.returncode}"])[-1].split())
        message = f"trivy could not scan {what}: {cause[-600:]}"
        raise ScanError(message)
    converted = subprocess.run(
        ["trivy", "convert", "--quiet", "--format", "sarif", "--output", str(sarif), str(report)],
        capture_output=True,
        text=True,
        check=False,
    )
    if converted.returncode != 0:
        message = f"trivy could not write {sarif}: {converted.stderr.strip()[-300:]}"
        raise ScanError(message)
    return trivy_findings(json.loads(report.read_text(encoding="utf-8")))


def repository_files(root: Path) -> list[str]:
    """The files git sees: tracked and untracked, not what .gitignore excludes (.venv, .env).

    Outside a git repository (a service just rendered), the same rules through a throwaway
    git directory: every file is untracked, and .gitignore still decides.
    """
    listing = ["ls-files", "--cached", "--others", "--exclude-standard", "-z"]
    inside = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"], cwd=root, capture_output=True, check=False
    )
    with tempfile.TemporaryDirectory(prefix="security-git-") as scratch:
        if inside.returncode == 0:
            argv = ["git", *listing]
        else:
            subprocess.run(["git", "init", "--quiet", "--bare", scratch], check=False)
            argv = ["git", f"--git-dir={scratch}", f"--work-tree={root}", *listing]
        listed = subprocess.run(argv, cwd=root, capture_output=True, check=False)
    if listed.returncode != 0:
        message = f"cannot list the files of {root}: {listed.stderr.decode().strip()[-300:]}"
        raise ScanError(message)
    return [name for name in listed.stdout.decode().split("\0") if name]


def scan_repository(root: Path, ignored: Sequence[Ignored]) -> list[Finding]:
    """Trivy's secret and misconfiguration scan of the files git sees, SARIF to reports/."""
    require_tool("trivy", TRIVY_HINT)
    with tempfile.TemporaryDirectory(prefix="security-") as scratch:
        # A copy of exactly those files: a laptop's .venv, caches and .env are not scanned.
        tree = Path(scratch) / "repository"
        for name in repository_files(root):
            source = root / name
            if source.is_file() and not source.is_symlink():
                (tree / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, tree / name)
        tree.mkdir(exist_ok=True)
        ignore_file = trivy_ignore_file(ignored, Path(scratch))
        say("scanning the repository for secrets and misconfiguration (Trivy)")
        argv = repository_command(tree, ignore_file, root / REPOSITORY_REPORT)
        findings = run_trivy(
            argv, root / REPOSITORY_REPORT, root / REPOSITORY_SARIF, "the repository"
        )
    say(f"trivy repository: {len(findings)} finding(s); SARIF in {REPOSITORY_SARIF}")
    return findings


def scan_image(image: str, settings: Security, today: dt.date | None = None) -> None:
    """The docker job's scan of the prod image: HIGH and CRITICAL findings with a fix fail it."""
    ignored = active_ignores(settings, today or dt.datetime.now(dt.UTC).date())
    with tempfile.TemporaryDirectory(prefix="security-") as scratch:
        ignore_file = trivy_ignore_file(ignored, Path(scratch))
        say(f"scanning {image} for {' and '.join(IMAGE_SEVERITIES)} vulnerabilities with a fix")
        argv = image_command(image, ignore_file, IMAGE_REPORT, settings.trivy_db_repository)
        try:
            findings = run_trivy(argv, IMAGE_REPORT, IMAGE_SARIF, image)
        except ScanError as error:
            raise fail(str(error)) from None
    report(findings, f"the image {image}")


def report(findings: Sequence[Finding], what: str, errors: Sequence[str] = ()) -> None:
    """Print every finding and every scanner that could not run, and fail; or say all is clean."""
    for finding in findings:
        print(f"security: {finding}", flush=True)
    for error in errors:
        print(f"security: {error}", flush=True)
    if errors:
        also = f"; and {len(findings)} finding(s)" if findings else ""
        message = f"{len(errors)} scan(s) could not run: {what} are not known clean{also}"
        raise fail(message)
    if findings:
        message = (
            f"{len(findings)} finding(s) in {what}: fix them, or accept one in "
            "[tool.shipshape.security] ignore, with a reason and an expiry date"
        )
        raise fail(message)
    say(f"no findings in {what}")


def run_job(
    root: Path,
    settings: Config,
    env: Mapping[str, str] | None = None,
    today: dt.date | None = None,
) -> None:
    """The security job: the dependency audit and the repository scan; any finding fails it.

    Both scanners run even when one fails, so one run names everything there is to fix.
    """
    env = os.environ if env is None else env
    security = settings.security
    ignored = active_ignores(security, today or dt.datetime.now(dt.UTC).date())
    for entry in ignored:
        say(f"ignoring {entry.id} until {entry.expires.isoformat()}: {entry.reason}")
    require_tool("trivy", TRIVY_HINT)
    service = osv_url(security, env)
    source = f" ({OSV_URL_OVERRIDE})" if env.get(OSV_URL_OVERRIDE) else ""
    say(f"auditing uv.lock against {service}{source}")
    findings: list[Finding] = []
    errors: list[str] = []
    scans: list[Callable[[], list[Finding]]] = [
        functools.partial(audit_dependencies, root, service, ignored),
        functools.partial(scan_repository, root, ignored),
    ]
    for scan in scans:
        try:
            findings += scan()
        except ScanError as error:
            errors.append(str(error))
    report(findings, "the dependencies and the repository", errors)
