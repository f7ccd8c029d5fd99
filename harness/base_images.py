"""Local stand-ins for the registry images the template's Dockerfile builds from.

The test machines reach PyPI and Debian's mirrors but no container registry, so each
base image the generated Dockerfile names is built here under the very same tag:
``python:*-slim-*`` from Debian's own python3 (mmdebstrap), and
``ghcr.io/astral-sh/uv:<version>`` from uv's wheel on PyPI. BuildKit then finds them in
the engine's image store and never asks a registry.

Test harness only: nothing here ends up in a generated service.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

STAND_INS: dict[str, str] = {
    "python:3.13-slim-trixie": "trixie",
    "python:3.11-slim-bookworm": "bookworm",
}
UV_IMAGE = "ghcr.io/astral-sh/uv"
# The backing services' official images, under the tags a service's compose.yaml names
# (database=postgres, cache=redis), built from Debian trixie's own packages on top of the
# trixie python stand-in: each folder of service_images/ holds a Dockerfile and an
# entrypoint that keeps the official image's contract. Version: what the tag promises.
SERVICE_STAND_INS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "postgres:17": ("postgres", ("postgres", "--version"), "postgres (PostgreSQL) 17."),
    "redis:8": ("redis", ("redis-server", "--version"), "Redis server v=8."),
}
SERVICE_BASE = "python:3.13-slim-trixie"
SERVICE_IMAGES = Path(__file__).resolve().parent / "service_images"

MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
PYPI_SIMPLE = "https://pypi.org/simple"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
HOST_PACKAGED_CAS = Path("/usr/share/ca-certificates")
STAND_IN_LABEL = "dev.shipshape.stand-in"
# Set to 1 where a registry answers, to use the real images instead of stand-ins.
PULL_ENV = "SHIPSHAPE_PULL_BASE_IMAGES"

# What the official python:*-slim images declare that our Dockerfile relies on.
PYTHON_IMAGE_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    # uv and pip read it; it is how they trust the host's TLS-intercepting proxy.
    f"ENV SSL_CERT_FILE={HOST_CA_BUNDLE}",
    'CMD ["python3"]',
)
# python3-venv gives `python -m venv` and ensurepip, as the official image has.
PYTHON_PACKAGES = ("python3", "python3-venv", "ca-certificates", "passwd")
# Written into the image's dpkg config, so later apt-get installs stay slim too.
DPKG_EXCLUDES = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/lintian/*",
)
# Files (not folders) removed after the build: package lists, caches and logs.
ROOTFS_LEFTOVERS = (
    "var/lib/apt/lists/**/*",
    "var/cache/apt/**/*",
    "var/cache/debconf/*-old",
    "var/log/**/*",
    "tmp/**/*",
)

_PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----\s*", re.DOTALL)


class HarnessError(RuntimeError):
    """A base image cannot be built or checked; the message says what to do."""


def _run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    timeout: float | None = None,
    stdin: int | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """Run a command, return its stdout; on failure raise with its output's tail."""
    words = [os.fspath(word) for word in cmd]
    try:
        proc = subprocess.run(
            words,
            stdin=stdin,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        msg = f"{words[0]} is not installed"
        raise HarnessError(msg) from exc
    except subprocess.TimeoutExpired as exc:
        msg = f"{shlex.join(words)} took over {timeout:.0f}s"
        raise HarnessError(msg) from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        msg = f"{shlex.join(words)} exited with {proc.returncode}:\n{tail}"
        raise HarnessError(msg)
    return proc.stdout


def check_engine() -> str:
    """Return the engine's version, or raise if no Docker engine answers."""
    hint = "start one with: harness/docker_engine.sh start"
    try:
        version = _run(["docker", "version", "--format", "{{.Server.Version}}"], timeout=15).strip()
    except HarnessError as exc:
        reason = str(exc).strip().splitlines()[-1]
        msg = f"no Docker engine answers ({reason}); {hint}"
        raise HarnessError(msg) from exc
    if not version:
        msg = f"no Docker engine answers; {hint}"
        raise HarnessError(msg)
    return version


def local_tags() -> set[str]:
    """Tags of all images in the engine's store."""
    out = _run(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"])
    return set(out.split())


def image_size_mb(tag: str) -> float:
    """Uncompressed size of a local image in MB."""
    return int(_run(["docker", "image", "inspect", "--format", "{{.Size}}", tag])) / 1e6


def _import_image(tarball: Path, tag: str, changes: Iterable[str]) -> None:
    """Import a root filesystem tarball as tag; drop the image it replaces."""
    inspect = ["docker", "image", "inspect", "--format", "{{.Id}}", tag]
    try:
        previous = _run(inspect).strip()
    except HarnessError:
        previous = ""
    _run(["docker", "import", *(f"--change={change}" for change in changes), tarball, tag])
    if previous and previous != _run(inspect).strip():
        with contextlib.suppress(HarnessError):  # still used by a container or another tag
            _run(["docker", "image", "rm", previous])


def _ensure_mmdebstrap() -> None:
    if shutil.which("mmdebstrap"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
    packages = ["mmdebstrap", "gpg"]
    try:
        _run([*install, *packages], env=env)
    except HarnessError:
        # The package lists may be stale or absent on a fresh machine.
        _run(["apt-get", "update", "-q"], env=env)
        _run([*install, *packages], env=env)


def _pem_blocks(text: str) -> list[str]:
    return [block.strip() for block in _PEM_BLOCK.findall(text)]


def _host_local_cas(host_bundle: str) -> list[str]:
    """Certificates in the host's bundle that no ca-certificates package shipped."""
    packaged: set[str] = set()
    for crt in HOST_PACKAGED_CAS.glob("**/*.crt"):
        packaged.update(_pem_blocks(crt.read_text()))
    return [cert for cert in _pem_blocks(host_bundle) if cert not in packaged]


def _add_host_ca_bundle(rootfs: Path) -> None:
    """Give the image the host's CA bundle, proxy CA included, for good.

    The bundle is copied as it is; the host's own additions to it also go to
    /usr/local/share/ca-certificates, so an update-ca-certificates run in a derived
    image (any apt-get install that triggers it) keeps trusting them.
    """
    if not HOST_CA_BUNDLE.is_file():
        msg = f"the host has no CA bundle at {HOST_CA_BUNDLE}"
        raise HarnessError(msg)
    host_bundle = HOST_CA_BUNDLE.read_text()
    local_dir = rootfs / "usr/local/share/ca-certificates"
    local_dir.mkdir(parents=True, exist_ok=True)
    for number, cert in enumerate(_host_local_cas(host_bundle), start=1):
        (local_dir / f"host-{number}.crt").write_text(cert + "\n")
    (rootfs / HOST_CA_BUNDLE.relative_to("/")).write_text(host_bundle)


def _finish_rootfs(rootfs: Path) -> None:
    """Make a Debian minbase tree look like python:*-slim where our Dockerfile looks."""
    _add_host_ca_bundle(rootfs)
    local_bin = rootfs / "usr/local/bin"
    local_bin.mkdir(parents=True, exist_ok=True)
    for name in ("python", "python3"):
        link = local_bin / name
        link.unlink(missing_ok=True)
        link.symlink_to("/usr/bin/python3")
    # The official image's interpreter is not Debian's, so it has no PEP 668 marker:
    # `pip install` and `uv pip install --system` work there without extra flags.
    for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    for pattern in ROOTFS_LEFTOVERS:
        for path in rootfs.glob(pattern):
            if path.is_symlink() or not path.is_dir():
                path.unlink()


def _python_version_of(tag: str) -> str:
    match = re.fullmatch(r"python:(\d+\.\d+)-slim-\w+", tag)
    if not match:
        msg = f"{tag} is not a python:X.Y-slim-SUITE tag"
        raise HarnessError(msg)
    return match.group(1)


def build_python_image(tag: str, suite: str) -> None:
    """Build a python:X.Y-slim-SUITE stand-in from Debian SUITE's own python3."""
    expected = _python_version_of(tag)
    if os.geteuid() != 0:
        msg = f"building {tag} needs root (mmdebstrap --mode=root)"
        raise HarnessError(msg)
    _ensure_mmdebstrap()
    with tempfile.TemporaryDirectory(prefix="shipshape-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        tarball = Path(tmp) / "rootfs.tar"
        _run(
            [
                "mmdebstrap",
                "--mode=root",
                "--variant=minbase",
                "--format=directory",
                # Debian's own merged-/usr layout without the usrmerge package (and perl).
                "--hook-dir=/usr/share/mmdebstrap/hooks/maybe-merged-usr",
                f"--include={','.join(PYTHON_PACKAGES)}",
                *(f"--dpkgopt={option}" for option in DPKG_EXCLUDES),
                suite,
                rootfs,
                f"deb {MIRROR} {suite} main",
                f"deb {MIRROR} {suite}-updates main",
                f"deb {SECURITY_MIRROR} {suite}-security main",
            ],
            stdin=subprocess.DEVNULL,
        )
        _finish_rootfs(rootfs)
        _run(["tar", "--numeric-owner", "--xattrs", "-C", rootfs, "-cf", tarball, "."])
        _import_image(
            tarball, tag, [*PYTHON_IMAGE_CHANGES, f"LABEL {STAND_IN_LABEL}=debian-{suite}"]
        )
    actual = _run(
        [
            "docker",
            "run",
            "--rm",
            "--network=none",
            tag,
            "python",
            "-c",
            "import sys; print('%d.%d.%d' % sys.version_info[:3])",
        ]
    ).strip()
    if not actual.startswith(f"{expected}."):
        _run(["docker", "image", "rm", tag])
        msg = (
            f"Debian {suite} has Python {actual}, but {tag} promises {expected}; "
            "fix STAND_INS in harness/base_images.py"
        )
        raise HarnessError(msg)


def _https_get(url: str, *, accept: str = "*/*") -> bytes:
    """Fetch an https URL; PyPI is the only host the harness downloads from."""
    if not url.startswith("https://"):
        msg = f"refusing to fetch {url}: not https"
        raise HarnessError(msg)
    request = urllib.request.Request(url, headers={"Accept": accept})  # noqa: S310 (https only)
    try:
        with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 (https only)
            data: bytes = response.read()
    except OSError as exc:
        msg = f"cannot fetch {url}: {exc}"
        raise HarnessError(msg) from exc
    return data


def _uv_wheel(version: str) -> bytes:
    """Download uv's static (musl) linux x86_64 wheel, checked against PyPI's hash."""
    # The musl build is statically linked, like the binaries in the real ghcr image,
    # so it also runs in a FROM scratch image and on any libc.
    index = _https_get(f"{PYPI_SIMPLE}/uv/", accept="application/vnd.pypi.simple.v1+json")
    pattern = re.compile(
        rf"uv-{re.escape(version)}-py3-none-[\w.]*musllinux_\d+_\d+_x86_64[\w.]*\.whl"
    )
    wheels = [file for file in json.loads(index)["files"] if pattern.fullmatch(file["filename"])]
    if not wheels:
        msg = f"PyPI has no musllinux x86_64 wheel for uv {version}"
        raise HarnessError(msg)
    wheel = wheels[0]
    data = _https_get(wheel["url"])
    if hashlib.sha256(data).hexdigest() != wheel["hashes"]["sha256"]:
        msg = f"{wheel['filename']} does not match PyPI's sha256"
        raise HarnessError(msg)
    return data


def _scratch_layer(files: dict[str, bytes], directories: Iterable[str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in directories:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def build_uv_image(version: str) -> None:
    """Build ghcr.io/astral-sh/uv:VERSION: FROM scratch with /uv and /uvx."""
    tag = f"{UV_IMAGE}:{version}"
    with zipfile.ZipFile(io.BytesIO(_uv_wheel(version))) as wheel:
        binaries = {name: wheel.read(f"uv-{version}.data/scripts/{name}") for name in ("uv", "uvx")}
    with tempfile.TemporaryDirectory(prefix="shipshape-uv-") as tmp:
        tarball = Path(tmp) / "uv.tar"
        tarball.write_bytes(_scratch_layer(binaries, directories=["io"]))
        changes = ['ENTRYPOINT ["/uv"]', "WORKDIR /io", f"LABEL {STAND_IN_LABEL}=pypi-uv-{version}"]
        _import_image(tarball, tag, changes)
    actual = _run(["docker", "run", "--rm", "--network=none", tag, "--version"])
    if actual.split()[:2] != ["uv", version]:
        _run(["docker", "image", "rm", tag])
        msg = f"{tag} reports {actual.strip()!r}"
        raise HarnessError(msg)


def build_service_image(tag: str) -> None:
    """Build a backing service's stand-in from its folder in service_images/."""
    folder, version_command, expected = SERVICE_STAND_INS[tag]
    if SERVICE_BASE not in local_tags():
        build_python_image(SERVICE_BASE, STAND_INS[SERVICE_BASE])
    _run(
        [
            "docker",
            "build",
            "--quiet",
            "--tag",
            tag,
            "--build-arg",
            f"BASE={SERVICE_BASE}",
            "--label",
            f"{STAND_IN_LABEL}=debian-trixie-{folder}",
            SERVICE_IMAGES / folder,
        ],
        timeout=900,
    )
    actual = _run(
        [
            "docker",
            "run",
            "--rm",
            "--network=none",
            "--entrypoint",
            version_command[0],
            tag,
            *version_command[1:],
        ]
    ).strip()
    if not actual.startswith(expected):
        _run(["docker", "image", "rm", tag])
        msg = f"{tag} reports {actual!r}, not {expected}...; fix SERVICE_STAND_INS"
        raise HarnessError(msg)


def _build(tag: str) -> None:
    if tag in STAND_INS:
        build_python_image(tag, STAND_INS[tag])
    elif tag in SERVICE_STAND_INS:
        build_service_image(tag)
    else:
        build_uv_image(tag.removeprefix(f"{UV_IMAGE}:"))


def pull_allowed() -> bool:
    """Whether to try the registry before building: SHIPSHAPE_PULL_BASE_IMAGES=1.

    Off by default: on the machines this harness is for, no registry answers, and a pull
    would only send a request off the machine to fail.
    """
    return os.environ.get(PULL_ENV) == "1"


def _pulled(tag: str) -> bool:
    """Try `docker pull`; True when the real image is now in the engine's store."""
    try:
        _run(["docker", "pull", "--quiet", tag], timeout=600)
    except HarnessError:
        return False
    return True


def default_tags(uv_version: str) -> list[str]:
    """Every image the harness stands in for: pythons, the uv image, the backing services."""
    return [*STAND_INS, f"{UV_IMAGE}:{uv_version}", *SERVICE_STAND_INS]


def ensure_base_images(
    uv_version: str,
    tags: Iterable[str] | None = None,
    *,
    force: bool = False,
    pull: bool | None = None,
    say: Callable[[str], None] | None = None,
) -> list[str]:
    """Make each base image present: keep it if there, else pull it, else build a stand-in.

    Returns the tags built. tags defaults to every python and service stand-in plus
    ghcr.io/astral-sh/uv:UV_VERSION; pull defaults to pull_allowed(); force rebuilds
    stand-ins that exist (and never pulls). `say` hears what is pulled or built, and how
    long it took, as it happens: a build takes minutes.
    """
    say = say or (lambda _line: None)
    pull = pull_allowed() if pull is None else pull
    wanted = list(tags) if tags is not None else default_tags(uv_version)
    known_tags = {*STAND_INS, *SERVICE_STAND_INS}
    unknown = [
        tag for tag in wanted if tag not in known_tags and not tag.startswith(f"{UV_IMAGE}:")
    ]
    if unknown and not pull:
        known = ", ".join([*STAND_INS, *SERVICE_STAND_INS, f"{UV_IMAGE}:VERSION"])
        msg = f"no stand-in for {', '.join(unknown)}; known: {known} (or set {PULL_ENV}=1)"
        raise HarnessError(msg)
    check_engine()
    present = local_tags()
    built = []
    for tag in wanted:
        if tag in present and not force:
            continue
        if pull and not force:
            say(f"pulling {tag}")
            if _pulled(tag):
                continue
        if tag in unknown:
            msg = f"cannot pull {tag} and there is no stand-in for it"
            raise HarnessError(msg)
        say(f"building {tag} ({_building_from(tag)})")
        started = time.monotonic()
        _build(tag)
        say(f"built {tag} in {time.monotonic() - started:.0f} s")
        built.append(tag)
    return built


def _building_from(tag: str) -> str:
    if tag in STAND_INS:
        return f"Debian {STAND_INS[tag]} packages"
    if tag in SERVICE_STAND_INS:
        return "Debian packages"
    return "the uv wheel on PyPI"


def main(argv: Sequence[str] | None = None) -> int:
    """Build the missing base-image stand-ins and print one line per image."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uv-version", required=True, help="tag of ghcr.io/astral-sh/uv")
    parser.add_argument("--force", action="store_true", help="rebuild images that exist")
    parser.add_argument(
        "--tag",
        action="append",
        dest="tags",
        metavar="TAG",
        help="build only this image (repeatable); default: all stand-ins",
    )
    args = parser.parse_args(argv)
    wanted: list[str] = args.tags or default_tags(args.uv_version)
    try:
        for tag in wanted:
            started = time.monotonic()
            built = ensure_base_images(
                args.uv_version, [tag], force=args.force, say=lambda line: print(line, flush=True)
            )
            took = f", {time.monotonic() - started:.0f}s" if built else ""
            state = "built" if built else "present"
            print(f"{state:8} {tag} ({image_size_mb(tag):.1f} MB{took})", flush=True)
    except HarnessError as exc:
        print(f"base_images: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
