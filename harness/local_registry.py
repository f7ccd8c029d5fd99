"""A throwaway OCI registry on 127.0.0.1, so image pushes are tested for real, offline.

Debian's `docker-registry` (the CNCF distribution registry) serves from a temporary
directory on a free loopback port; the engine trusts loopback registries without TLS.

Test harness only: nothing here ends up in a generated service.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

PACKAGE = "docker-registry"
BINARY = "docker-registry"
START_TIMEOUT = 20.0
CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
http:
  addr: 127.0.0.1:{port}
"""


class RegistryError(RuntimeError):
    """The local registry cannot be installed or started; the message says why."""


def ensure_installed() -> str:
    """The registry binary's path; as root, install Debian's package when it is missing."""
    found = shutil.which(BINARY)
    if found:
        return found
    if os.geteuid() != 0:
        msg = f"{BINARY} is missing; as root: apt-get install {PACKAGE}"
        raise RegistryError(msg)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # A policy-rc.d that says no keeps the package from starting a registry of its own.
    policy = Path("/usr/sbin/policy-rc.d")
    created = not policy.exists()
    if created:
        policy.write_text("#!/bin/sh\nexit 101\n", encoding="utf-8")
        policy.chmod(0o755)
    try:
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", PACKAGE]
        if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
            result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                msg = f"apt-get install {PACKAGE} failed: {result.stderr.strip()[-300:]}"
                raise RegistryError(msg)
    finally:
        if created:
            policy.unlink(missing_ok=True)
    found = shutil.which(BINARY)
    if found is None:
        msg = f"{PACKAGE} is installed but {BINARY} is not on PATH"
        raise RegistryError(msg)
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def tags(address: str, repository: str) -> list[str]:
    """The tags the registry holds for a repository (empty when it has none)."""
    url = f"http://{address}/v2/{repository}/tags/list"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            listed = json.loads(response.read())
    except OSError:
        return []
    return sorted(listed.get("tags") or [])


@contextmanager
def running_registry() -> Iterator[str]:
    """Serve a fresh, empty registry on 127.0.0.1; yield its `host:port`; stop and delete it."""
    binary = ensure_installed()
    with tempfile.TemporaryDirectory(prefix="shipshape-registry-") as scratch:
        port = _free_port()
        config = Path(scratch) / "config.yml"
        config.write_text(CONFIG.format(root=Path(scratch) / "data", port=port), encoding="utf-8")
        log = (Path(scratch) / "registry.log").open("w", encoding="utf-8")
        process = subprocess.Popen(
            [binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        address = f"127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not _answers(address):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    output = (Path(scratch) / "registry.log").read_text(encoding="utf-8")
                    msg = f"the registry did not start on {address}: {output.strip()[-300:]}"
                    raise RegistryError(msg)
                time.sleep(0.1)
            yield address
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
