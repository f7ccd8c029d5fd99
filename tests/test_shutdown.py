"""Graceful shutdown of a rendered service: the drain, then uvicorn's shutdown, exit 0.

The fast tier checks that the container files leave the stop to the service: one stop grace
period, in compose.yaml, and a stop signal that drains. The slow tier runs the service's own
tests/test_shutdown.py (the real process, signalled); the docker tier stops the prod image with
`docker stop` and watches `/ready` turn 503 before the container exits 0.
"""

import http.client
import json
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from containers import TEST_IMAGES, base_image, build, container, docker, wait_for
from helpers import ROOT, copy_project, questions, run

sys.path.insert(0, str(ROOT / "harness"))
import base_images

UV_VERSION = str(questions()["uv_version"]["default"])
HTTP_PORT = int(questions()["http_port"]["default"])
# What the prod compose file runs the image with (compose.prod.yaml), init included.
PROD_OPTIONS = (
    "--init",
    "--read-only",
    "--tmpfs=/tmp",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges:true",
)
# The signals the service drains on (`DrainingServer`); any other stop signal kills it cold.
DRAINING_SIGNALS = {"SIGTERM", "SIGINT", "15", "2"}
# Docker's stop timeout when none is given, which compose.yaml's stop_grace_period restates.
DOCKER_STOP_SECONDS = 10


def load_yaml(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded


# --- fast: the container files --------------------------------------------------------------


def test_only_compose_yaml_sets_the_stop_grace_period(default_project: Path) -> None:
    base = load_yaml(default_project / "compose.yaml")["services"]["app"]
    assert base["stop_grace_period"] == f"{DOCKER_STOP_SECONDS}s"
    # The service's own tests/test_shutdown.py holds its settings to this one value.
    for overlay in ("compose.dev.yaml", "compose.prod.yaml"):
        app = load_yaml(default_project / overlay)["services"]["app"]
        assert "stop_grace_period" not in app, f"{overlay} overrides the one stop grace period"


def test_the_image_stops_with_a_signal_that_drains(default_project: Path) -> None:
    dockerfile = (default_project / "Dockerfile").read_text(encoding="utf-8")
    stop_signals = re.findall(r"^STOPSIGNAL\s+(\S+)", dockerfile, re.MULTILINE | re.IGNORECASE)
    assert set(stop_signals) <= DRAINING_SIGNALS, stop_signals


# --- slow: the service's own shutdown tests -------------------------------------------------


@pytest.mark.slow
def test_the_services_shutdown_tests_pass(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "service")
    report = tmp_path / "junit.xml"
    run(
        [
            "uv",
            "run",
            "--locked",
            "pytest",
            "tests/test_shutdown.py",
            "--no-cov",  # one module cannot meet the suite's coverage gate
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
        ],
        project,
    )
    suite = ET.parse(report).getroot().find("testsuite")  # noqa: S314 - pytest wrote it
    assert suite is not None
    counts = {key: int(suite.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")}
    assert counts["failures"] == counts["errors"] == counts["skipped"] == 0, counts
    names = {case.get("name", "") for case in suite.iter("testcase")}
    for real_process in (
        "test_sigterm_drains_finishes_requests_in_flight_and_exits_0",
        "test_a_second_sigterm_skips_the_rest_of_the_drain",
        "test_stopping_fits_in_the_stop_grace_period",
    ):
        assert real_process in names, sorted(names)


# --- docker: `docker stop` on the prod image ------------------------------------------------


def status(port: int, path: str) -> int:
    """GET http://127.0.0.1:<port><path> on a new connection: the status, whatever it is."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except http.client.HTTPException as error:
        # A connection the port proxy accepted for a container that is going away.
        raise ConnectionError(error) from error
    finally:
        connection.close()


def log_events(logs: str) -> dict[str, dict[str, Any]]:
    """The service's JSON log records by event (the last of each)."""
    records = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    return {record["event"]: record for record in records}


@pytest.fixture(scope="module")
def prod_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The default service's prod image; skipped, with the reason, without an engine."""
    try:
        base_images.check_engine()
    except base_images.HarnessError as error:
        pytest.skip(str(error))
    project = copy_project(tmp_path_factory.mktemp("shutdown-docker") / "my-service")
    base = base_image(project)
    try:
        base_images.ensure_base_images(UV_VERSION, [base, f"{base_images.UV_IMAGE}:{UV_VERSION}"])
    except base_images.HarnessError as error:
        pytest.skip(f"{base} is not on this machine and cannot be made here: {error}")
    tag = f"{TEST_IMAGES}/my-service-shutdown:prod"
    build(project, "prod", tag)
    yield tag
    docker("image", "rm", "--force", tag, check=False)


@pytest.mark.docker
def test_docker_stop_drains_before_the_container_exits_0(prod_image: str) -> None:
    with container(prod_image, HTTP_PORT, PROD_OPTIONS) as running:
        wait_for(lambda: status(running.port, "/ready") == 200, 30, "/ready answering 200")
        # `docker stop` waits for the exit; meanwhile this test watches the service drain.
        stopping = subprocess.Popen(
            ["docker", "stop", f"--time={DOCKER_STOP_SECONDS}", running.id],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started = time.monotonic()
        try:
            wait_for(
                lambda: status(running.port, "/ready") == 503,
                DOCKER_STOP_SECONDS,
                "/ready turning 503 after `docker stop`",
                interval=0.05,
            )
            assert status(running.port, "/live") == 200, "alive while draining"
            assert status(running.port, "/health") == 200, "serving while draining"
            output, _ = stopping.communicate(timeout=DOCKER_STOP_SECONDS + 20)
        finally:
            if stopping.poll() is None:
                stopping.kill()
        seconds = time.monotonic() - started
        assert stopping.returncode == 0, output
        state = running.state()
        logs = running.logs()
    assert state["ExitCode"] == 0, f"{state}\n{logs}"
    assert not state["OOMKilled"]
    assert seconds < DOCKER_STOP_SECONDS, f"docker stop took {seconds:.1f} s:\n{logs}"
    events = log_events(logs)
    for event in ("drain started", "drain finished", "resources closed"):
        assert event in events, logs
    assert events["drain started"]["signal"] == "SIGTERM"
    assert seconds >= events["drain started"]["seconds"], "stopped before the drain was over"
