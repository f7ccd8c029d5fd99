"""What `invoke publish` adds to a pushed image: an SBOM, BuildKit attestations, a signature.

- The Python side's SBOM: `uv export --format cyclonedx1.5` of the locked runtime packages
  (no dev group), written to reports/ and attested to the image.
- BuildKit's own SBOM and provenance attestations, where the builder can make them (a
  `docker-container` builder, which docker/setup-buildx-action creates in CI); the engine's
  built-in `docker` driver cannot, and the job says so.
- Keyless cosign signing of the pushed digest with GitHub's OIDC token (`id-token: write` on
  the publish job only). Outside GitHub Actions there is no such token: nothing is signed, and
  the job says so; inside it, a missing token or cosign fails the job.

Pure functions of their inputs, so the flags are tested without a registry.
"""

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SBOM = Path("reports") / "sbom.cdx.json"
METADATA = Path("reports") / "build-metadata.json"
# The builder drivers whose BuildKit exports attestations with a pushed image.
ATTESTING_DRIVERS = frozenset({"docker-container", "remote", "kubernetes"})
OIDC_VARIABLE = "ACTIONS_ID_TOKEN_REQUEST_URL"


class SupplyChainError(Exception):
    """The SBOM, the attestations or the signature cannot be made; the message says why."""


def sbom_command(output: Path = SBOM) -> list[str]:
    """The CycloneDX SBOM of the locked runtime packages, as the lock pins them."""
    return [
        "uv",
        "export",
        "--preview-features",
        "sbom-export",
        "--format",
        "cyclonedx1.5",
        "--frozen",
        "--no-dev",
        "--output-file",
        str(output),
    ]


def write_sbom(root: Path, output: Path = SBOM) -> Path:
    """Write the SBOM under `root`; a failure is a SupplyChainError naming uv's words."""
    (root / output).parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        sbom_command(output), cwd=root, capture_output=True, text=True, check=False
    )
    if result.returncode != 0 or not (root / output).is_file():
        message = f"`uv export --format cyclonedx1.5` failed: {result.stderr.strip()[-300:]}"
        raise SupplyChainError(message)
    return root / output


def sbom_components(document: Mapping[str, Any]) -> dict[str, str]:
    """`name -> version` of every component an SBOM lists (the project itself excepted)."""
    return {str(c["name"]): str(c["version"]) for c in document.get("components", [])}


def read_sbom(path: Path) -> dict[str, str]:
    """The components of the SBOM at `path`."""
    return sbom_components(json.loads(path.read_text(encoding="utf-8")))


def attestations(driver: str) -> tuple[dict[str, Any], str]:
    """The buildx options for BuildKit's SBOM and provenance attestations, and why.

    Empty when the builder cannot attach them (the engine's `docker` driver).
    """
    if driver in ATTESTING_DRIVERS:
        options = {"sbom": True, "provenance": {"mode": "max"}}
        return options, f"attestations: BuildKit SBOM and provenance (mode=max), {driver} builder"
    reason = (
        f"the builder's {driver} driver cannot attach them; "
        "docker/setup-buildx-action's docker-container builder can"
    )
    return {}, f"attestations: none, {reason}"


def signing_decision(env: Mapping[str, str]) -> tuple[bool, str]:
    """Whether to sign the pushed image keylessly, and why; a CI run that cannot sign fails."""
    if env.get("GITHUB_ACTIONS") != "true":
        return False, "signing: none, keyless signing needs GitHub Actions' OIDC token"
    if not env.get(OIDC_VARIABLE):
        message = (
            f"signing: {OIDC_VARIABLE} is not set: give the publish job `id-token: write` "
            "so cosign can sign keylessly"
        )
        raise SupplyChainError(message)
    return True, "signing: cosign, keyless (GitHub's OIDC token, Sigstore)"


def sign_commands(reference: str, sbom: Path) -> list[list[str]]:
    """The keyless cosign signature of the pushed digest, and the SBOM attested to it."""
    if "@sha256:" not in reference:
        message = f"signing: {reference} is not a digest reference; sign digests, never tags"
        raise SupplyChainError(message)
    return [
        ["cosign", "sign", "--yes", reference],
        ["cosign", "attest", "--yes", "--type", "cyclonedx", "--predicate", str(sbom), reference],
    ]


def sign(reference: str, sbom: Path, env: Mapping[str, str]) -> str:
    """Sign and attest the pushed digest when publishing from GitHub Actions; say what was done."""
    signing, why = signing_decision(env)
    if not signing:
        return why
    if shutil.which("cosign") is None:
        message = "signing: `cosign` is not on PATH (add sigstore/cosign-installer to the job)"
        raise SupplyChainError(message)
    for argv in sign_commands(reference, sbom):
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            message = f"`{' '.join(argv[:2])}` failed: {result.stderr.strip()[-300:]}"
            raise SupplyChainError(message)
    return f"signed {reference} and attested its SBOM ({why.removeprefix('signing: ')})"


def pushed_digest(metadata: Mapping[str, Any]) -> str | None:
    """The digest buildx reports in its `--metadata-file` for a pushed image."""
    digest = metadata.get("containerimage.digest")
    return str(digest) if digest else None


def repository_digest(repo_digests: Sequence[str], repository: str) -> str | None:
    """`repository@sha256:...` among an image's RepoDigests, after `docker push`."""
    return next((d for d in repo_digests if d.split("@", 1)[0] == repository), None)


def require_reference(reference: str | None, repository: str) -> str:
    """The pushed digest reference, or a SupplyChainError: an unsigned push is not hidden."""
    if reference is None:
        message = f"no digest of the pushed {repository} to sign"
        raise SupplyChainError(message)
    return reference
