"""Build, run and probe a rendered service's images through the docker CLI, cleaning up always.

The docker CLI, not an SDK: the builds need buildx (cache and bind mounts), and every command
a failing test ran can be pasted into a shell as it stands.
"""

import json
import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import run

STAGE = re.compile(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", re.MULTILINE | re.IGNORECASE)
BASE_STAGE = re.compile(r"^FROM\s+(\S+)\s+AS\s+python\s*$", re.MULTILINE | re.IGNORECASE)
TEST_IMAGES = "shipshape-test"


def stages(project: Path) -> list[str]:
    """Every named stage of the project's Dockerfile, in file order."""
    return STAGE.findall((project / "Dockerfile").read_text(encoding="utf-8"))


def base_image(project: Path) -> str:
    """The image the Dockerfile's `python` stage starts from."""
    found = BASE_STAGE.search((project / "Dockerfile").read_text(encoding="utf-8"))
    assert found is not None, "the Dockerfile has no `FROM <python image> AS python` stage"
    return found.group(1)


def docker(*argv: str, cwd: Path = Path(), check: bool = True, timeout: float = 900) -> str:
    """Run `docker ...`; a failure's assertion message carries its output."""
    return run(["docker", *argv], cwd, check=check, timeout=timeout).stdout


def inspect(kind: str, name: str) -> dict[str, Any]:
    """`docker <kind> inspect`, parsed."""
    found: list[dict[str, Any]] = json.loads(docker(kind, "inspect", name))
    return found[0]


def build(
    project: Path, target: str, tag: str, build_args: Mapping[str, str] | None = None
) -> None:
    """Build one target of the project's Dockerfile with buildx, into the engine."""
    args = [f"--build-arg={key}={value}" for key, value in (build_args or {}).items()]
    docker(
        "buildx",
        "build",
        "--load",
        "--progress=plain",
        f"--target={target}",
        f"--tag={tag}",
        *args,
        ".",
        cwd=project,
    )


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_get(port: int, path: str, timeout: float = 5) -> tuple[int, str]:
    """GET http://127.0.0.1:<port><path>: (status, body); loopback only."""
    url = f"http://127.0.0.1:{port}{path}"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return int(response.status), response.read().decode()


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll until condition() returns something truthy (exceptions count as not yet)."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
        except (OSError, ValueError, AssertionError) as error:
            last_error = error
        else:
            if result:
                return result
        time.sleep(interval)
    message = f"{what}: not within {timeout:.0f} s (last error: {last_error})"
    raise AssertionError(message)


@dataclass(frozen=True)
class Running:
    """A container started by a test, and the host port its service port is published on."""

    id: str
    port: int

    def state(self) -> dict[str, Any]:
        """The container's State block."""
        state: dict[str, Any] = inspect("container", self.id)["State"]
        return state

    def logs(self) -> str:
        """Everything the container printed."""
        found = subprocess.run(
            ["docker", "logs", self.id], capture_output=True, text=True, check=False
        )
        return found.stdout + found.stderr


@contextmanager
def container(image: str, port: int, options: Sequence[str] = ()) -> Iterator[Running]:
    """Run image detached with port published on 127.0.0.1; remove it however the test ends."""
    container_id = docker(
        "run", "--detach", f"--publish=127.0.0.1::{port}", *options, image
    ).strip()
    try:
        published = docker("port", container_id, f"{port}/tcp").split()[0]
        yield Running(container_id, int(published.rsplit(":", 1)[1]))
    finally:
        docker("rm", "--force", "--volumes", container_id, check=False)


def wait_healthy(running: Running, timeout: float = 60) -> None:
    """Wait for the container's HEALTHCHECK to report healthy; fail early if it cannot."""

    def healthy() -> bool:
        state = running.state()
        status = state.get("Health", {}).get("Status")
        assert status != "unhealthy", f"unhealthy:\n{running.logs()}"
        assert state["Running"], f"exited {state['ExitCode']}:\n{running.logs()}"
        return bool(status == "healthy")

    wait_for(healthy, timeout, "the container's healthcheck passing", interval=0.5)


@contextmanager
def compose_stack(
    project: Path, files: Sequence[str], name: str, env: Mapping[str, str], up: Sequence[str]
) -> Iterator[list[str]]:
    """`docker compose up` a stack; yield the compose command prefix; always take it down."""
    compose = ["docker", "compose", "--project-name", name, *(f"--file={f}" for f in files)]
    try:
        run([*compose, "up", "--detach", *up], project, env=env, timeout=900)
        yield compose
    finally:
        with suppress(AssertionError):
            run([*compose, "down", "--volumes", "--remove-orphans"], project, env=env, check=False)
