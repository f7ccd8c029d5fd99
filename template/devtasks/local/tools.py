"""The tools a job's setup actions pin, held to the same version on this machine.

On GitHub, setup-uv, setup-trivy and cosign-installer each install one version. Locally the
job runs only where that very version is on PATH or in this machine's tool cache; otherwise it
is skipped with one line naming the pin, what was found and how to get it, so a laptop never
scans, locks or signs with another version. This is a skip for an absent tool only: a scanner
that is present but cannot reach its database still runs, and fails.

`invoke ci --fetch-tools` obtains a missing Trivy or cosign as their setup actions do: the
release asset of that version from GitHub, held to the release's published SHA-256 checksum
before it is used, unpacked into the cache (`$XDG_CACHE_HOME/shipshape/tools`). The job then
runs with that version first on PATH. A download that fails or does not match its checksum is
never used: the job is skipped with the reason.
"""

import functools
import hashlib
import io
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

VERSION = r"v?(\d+\.\d+\.\d+)"
# Where release assets are downloaded from: GitHub, or a mirror serving the same paths
# (`<owner>/<repo>/releases/download/v<version>/<asset>`).
DOWNLOADS_VARIABLE = "SHIPSHAPE_TOOL_DOWNLOADS"
DOWNLOADS = "https://github.com"
DOWNLOAD_TIMEOUT_SECONDS = 120
FETCH_FLAG = "--fetch-tools"


@dataclass(frozen=True)
class Release:
    """Where a tool's release assets live and what they are called, by platform."""

    repository: str
    # (version, os, arch) -> the asset's name; os is linux or darwin, arch amd64 or arm64
    asset: Callable[[str, str, str], str]
    checksums: Callable[[str], str]
    # The binary's name inside a .tar.gz asset; None: the asset is the binary itself.
    member: str | None = None


def _trivy_asset(version: str, system: str, arch: str) -> str:
    names = {"linux": "Linux", "darwin": "macOS"}
    return f"trivy_{version}_{names[system]}-{'64bit' if arch == 'amd64' else 'ARM64'}.tar.gz"


@dataclass(frozen=True)
class PinnedTool:
    """A tool a setup action installs, the input that pins it, and how to read its version."""

    action: str
    version_input: str
    command: str
    version_argv: tuple[str, ...]
    pattern: re.Pattern[str]
    how: str  # formatted with `version`
    # The version the action installs when the input is absent; None: unknown to us, so the
    # job cannot be held to it and is skipped until the workflow pins one.
    default: str | None = None
    # How the action itself obtains the tool; None: not downloaded here (uv: pip installs it).
    release: Release | None = None

    def how_for(self, version: str) -> str:
        """How to get `version` of the tool by hand: the fix a skip names."""
        return self.how.format(version=version)


PINNED_TOOLS: Mapping[str, PinnedTool] = {
    tool.action: tool
    for tool in (
        PinnedTool(
            "astral-sh/setup-uv",
            "version",
            "uv",
            ("uv", "--version"),
            re.compile(rf"^uv {VERSION}"),
            "`uv self update {version}` or `pip install uv=={version}`",
        ),
        PinnedTool(
            "aquasecurity/setup-trivy",
            "version",
            "trivy",
            ("trivy", "--version"),
            re.compile(rf"^Version: {VERSION}", re.MULTILINE),
            "install it from https://github.com/aquasecurity/trivy/releases/tag/v{version}",
            release=Release(
                "aquasecurity/trivy",
                _trivy_asset,
                lambda version: f"trivy_{version}_checksums.txt",
                member="trivy",
            ),
        ),
        PinnedTool(
            "sigstore/cosign-installer",
            "cosign-release",
            "cosign",
            ("cosign", "version"),
            re.compile(rf"^GitVersion:\s+{VERSION}", re.MULTILINE),
            "install it from https://github.com/sigstore/cosign/releases/tag/v{version}",
            release=Release(
                "sigstore/cosign",
                lambda _, system, arch: f"cosign-{system}-{arch}",
                lambda _: "cosign_checksums.txt",
            ),
        ),
    )
}


def _version_of(tool: PinnedTool, binary: str) -> str | None:
    try:
        said = subprocess.run(
            [binary, *tool.version_argv[1:]],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = tool.pattern.search(said.stdout + said.stderr)
    return match.group(1) if match else None


@functools.cache
def found_version(tool: PinnedTool) -> str | None:
    """The version of the tool on PATH, or None when there is none (or it names none)."""
    binary = shutil.which(tool.command)
    return None if binary is None else _version_of(tool, binary)


def cache_directory(tool: PinnedTool, version: str) -> Path:
    """Where a downloaded version of the tool is kept: one folder per tool and version."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "shipshape" / "tools" / tool.command / version


@dataclass(frozen=True)
class Download:
    """A pinned tool to fetch before its job runs, checksum-verified, into its cache folder."""

    tool: PinnedTool
    version: str

    @property
    def directory(self) -> Path:
        """The folder the binary lands in, put first on the job's PATH."""
        return cache_directory(self.tool, self.version)

    @property
    def label(self) -> str:
        """The tool and version, as `trivy 0.76.0`."""
        return f"{self.tool.command} {self.version}"


@dataclass(frozen=True)
class Held:
    """A setup step's tool, locally: already here, in the cache, to download, or missing."""

    directory: Path | None = None  # put first on PATH (the cached version)
    download: Download | None = None
    skip: tuple[str, str] | None = None  # the reason, and the fix


HELD_ON_PATH = Held()


@functools.cache
def _cached(tool: PinnedTool, version: str) -> Path | None:
    binary = cache_directory(tool, version) / tool.command
    if (
        binary.is_file()
        and os.access(binary, os.X_OK)
        and _version_of(tool, str(binary)) == version
    ):
        return binary.parent
    return None


def _pinned_version(action: str, tool: PinnedTool, pinned: str | None) -> str | Held:
    """The one version a setup step pins (`0.76.0`), or the skip naming why it pins none."""
    if pinned is None:
        fix = f"pin `{tool.version_input}` in the workflow"
        reason = f"{action} installs its default {tool.command}, unknown here: {fix}"
        return Held(skip=(reason, fix))
    version = pinned.strip().removeprefix("v")
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        fix = f"pin one version (`{tool.version_input}: vX.Y.Z`) in the workflow"
        reason = f"{action} `{tool.version_input}: {pinned}` is no one version to hold: {fix}"
        return Held(skip=(reason, fix))
    return version


def held(action: str, inputs: Mapping[str, str], *, fetch: bool = False) -> Held:
    """Whether a setup step's tool is here at its pinned version, and if not what to do.

    With `fetch` (`invoke ci --fetch-tools`), a tool the action downloads is to be downloaded
    rather than skipped; the runner does it (`obtain`) before the job starts.
    """
    tool = PINNED_TOOLS.get(action)
    if tool is None:
        return HELD_ON_PATH
    wanted = _pinned_version(action, tool, inputs.get(tool.version_input, tool.default))
    if isinstance(wanted, Held):
        return wanted
    found = found_version(tool)
    if found == wanted:
        return HELD_ON_PATH
    if cached := _cached(tool, wanted):
        return Held(directory=cached)
    # `--fetch-tools` can download it: the action downloads a release asset for this machine.
    downloadable = tool.release is not None and _platform() is not None
    if fetch and downloadable:
        return Held(download=Download(tool, wanted))
    here = f"{tool.command} {found}" if found else f"no {tool.command} on PATH"
    how = tool.how_for(wanted)
    if downloadable:
        how = f"{how}, or run `invoke ci {FETCH_FLAG}` to download it checksum-verified"
    return Held(
        skip=(f"{action} pins {tool.command} {wanted}; this machine has {here}: {how}", how)
    )


def _platform() -> tuple[str, str] | None:
    """The OS and CPU as release assets name them (linux/darwin, amd64/arm64), or None."""
    systems = {"linux": "linux", "darwin": "darwin"}
    arches = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
    system = next((v for k, v in systems.items() if sys.platform.startswith(k)), None)
    arch = arches.get(platform.machine().lower())
    return (system, arch) if system and arch else None


def _fetch(url: str) -> bytes:
    # https, or the mirror the user set in SHIPSHAPE_TOOL_DOWNLOADS
    request = urllib.request.Request(url, headers={"User-Agent": "shipshape-devtasks"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:  # noqa: S310
        data: bytes = response.read()
        return data


def published_checksum(checksums: str, asset: str) -> str | None:
    """The SHA-256 a release's checksums file (`<hex>  <name>` lines) gives for `asset`."""
    for line in checksums.splitlines():
        parts = line.split()
        if len(parts) != 2:  # noqa: PLR2004 - a checksum and a name
            continue
        if parts[1].lstrip("*") == asset and re.fullmatch(r"[0-9a-f]{64}", parts[0]):
            return parts[0]
    return None


def _binary_of(asset: bytes, member: str | None) -> bytes:
    if member is None:
        return asset
    with tarfile.open(fileobj=io.BytesIO(asset), mode="r:gz") as archive:
        for info in archive.getmembers():
            if info.isfile() and Path(info.name).name == member:
                extracted = archive.extractfile(info)
                if extracted is not None:
                    return extracted.read()
    message = f"the archive holds no `{member}`"
    raise ValueError(message)


def _verified_asset(download: Download, folder: str, asset: str, listing: str) -> bytes | str:
    """The release asset, held to the release's checksums file `listing`; or why not."""
    try:
        checksums = _fetch(f"{folder}/{listing}").decode("utf-8", "replace")
        expected = published_checksum(checksums, asset)
        if expected is None:
            return f"{listing} of {download.label} lists no {asset}"
        data = _fetch(f"{folder}/{asset}")
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        return f"could not download {download.label} from {folder}: {reason}"
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        return f"{asset} from {folder} has SHA-256 {actual}, not the published {expected}"
    return data


def obtain(download: Download) -> str | None:
    """Download, verify and unpack a pinned tool into its cache folder; None, or why not."""
    tool, version = download.tool, download.version
    release, where = tool.release, _platform()
    if release is None or where is None:
        return f"{download.label} has no release asset for this machine"
    base = os.environ.get(DOWNLOADS_VARIABLE, DOWNLOADS).rstrip("/")
    folder = f"{base}/{release.repository}/releases/download/v{version}"
    asset = release.asset(version, *where)
    data = _verified_asset(download, folder, asset, release.checksums(version))
    if isinstance(data, str):
        return f"{data}; nothing was installed"
    try:
        binary = _binary_of(data, release.member)
    except (tarfile.TarError, ValueError, OSError) as error:
        return f"{asset} of {download.label} could not be unpacked: {error}"
    target = download.directory
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target, delete=False) as partial:
        partial.write(binary)
    staged = Path(partial.name)
    staged.chmod(0o755)
    said = _version_of(tool, str(staged))
    if said != version:
        staged.unlink()
        return f"the downloaded {tool.command} reports version {said}, not {version}"
    staged.replace(target / tool.command)
    return None
