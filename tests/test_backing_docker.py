"""Docker tier: the backing services' stand-in images keep the official images' contract, and
a service with Postgres and Redis passes its own `invoke integration` against them.

Only ports published on 127.0.0.1 are probed.
"""

import json
import re
import socket
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from containers import compose_stack, docker, free_port, wait_for
from helpers import ROOT, copy_project, questions, run

sys.path.insert(0, str(ROOT / "harness"))
import base_images

pytestmark = pytest.mark.docker

UV_VERSION = str(questions()["uv_version"]["default"])
POSTGRES, REDIS = sorted(base_images.SERVICE_STAND_INS)


@pytest.fixture(scope="module")
def images() -> None:
    """The stand-ins (or the real images) present; skipped with the reason when they cannot be."""
    try:
        base_images.check_engine()
        base_images.ensure_base_images(UV_VERSION, list(base_images.SERVICE_STAND_INS))
    except base_images.HarnessError as error:
        pytest.skip(str(error))


@pytest.fixture
def started() -> Iterator[list[str]]:
    """Container ids a test starts; removed, volumes too, when it ends."""
    ids: list[str] = []
    yield ids
    for container in ids:
        docker("rm", "--force", "--volumes", container, check=False)


def logs(container: str) -> str:
    return (
        run(["docker", "logs", container], ROOT, check=False).stdout
        + run(["docker", "logs", container], ROOT, check=False).stderr
    )


def exited_with(container: str) -> int:
    wait_for(
        lambda: docker("inspect", "--format", "{{.State.Status}}", container).strip() == "exited",
        60,
        "the container exiting",
    )
    return int(docker("inspect", "--format", "{{.State.ExitCode}}", container).strip())


def test_postgres_initialises_from_secret_files_and_keeps_its_data(
    images: None, started: list[str], tmp_path: Path
) -> None:
    del images
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, value in [("user", "app"), ("password", "s3cret"), ("db", "things")]:
        (secrets / name).write_text(value + "\n", encoding="utf-8")
    secrets.chmod(0o755)
    for path in secrets.iterdir():
        path.chmod(0o644)
    container = docker(
        "run",
        "--detach",
        "--publish=127.0.0.1::5432",
        f"--volume={secrets}:/run/secrets:ro",
        "--env=POSTGRES_USER_FILE=/run/secrets/user",
        "--env=POSTGRES_PASSWORD_FILE=/run/secrets/password",
        "--env=POSTGRES_DB_FILE=/run/secrets/db",
        POSTGRES,
    ).strip()
    started.append(container)
    ready = "database system is ready to accept connections"
    wait_for(lambda: logs(container).count(ready) == 2, 60, "the server ready after its init")
    assert "PostgreSQL init process complete; ready for start up." in logs(container)
    assert "pg_isready" in docker("exec", container, "sh", "-c", "command -v pg_isready")
    docker("exec", container, "pg_isready", "--host=127.0.0.1", "--username=app", "--dbname=things")
    who = docker(
        "exec",
        "--env=PGPASSWORD=s3cret",
        container,
        "psql",
        "--host=127.0.0.1",
        "--username=app",
        "--dbname=things",
        "--tuples-only",
        "--no-align",
        "--command=SELECT current_user || ' ' || current_database()",
    )
    assert who.strip() == "app things"
    # Inside the container local connections are trusted, as in the official image; from
    # another container the password is checked (scram-sha-256).
    address = docker("inspect", "--format", "{{.NetworkSettings.IPAddress}}", container).strip()
    for password, expected in [("wrong", 2), ("s3cret", 0)]:
        attempt = run(
            [
                "docker",
                "run",
                "--rm",
                f"--env=PGPASSWORD={password}",
                "--entrypoint=psql",
                POSTGRES,
                f"--host={address}",
                "--username=app",
                "--dbname=things",
                "--command=SELECT 1",
            ],
            ROOT,
            check=False,
        )
        assert attempt.returncode == expected, attempt.stderr
    docker("restart", container)
    wait_for(lambda: "Skipping initialization" in logs(container), 60, "a restart keeping the data")
    port = docker("port", container, "5432/tcp").split(":")[-1].strip()
    wait_for(lambda: accepts(int(port)), 60, "the port answering on 127.0.0.1")


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ([], "superuser password is not specified"),
        (
            ["--env=POSTGRES_PASSWORD=a", "--env=POSTGRES_PASSWORD_FILE=/etc/hostname"],
            "both POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are set",
        ),
    ],
    ids=["no-password", "both-forms"],
)
def test_postgres_refuses_what_the_official_image_refuses(
    images: None, started: list[str], env: list[str], message: str
) -> None:
    del images
    container = docker("run", "--detach", *env, POSTGRES).strip()
    started.append(container)
    assert exited_with(container) == 1
    assert message in logs(container)


def test_redis_answers_pings_inside_and_on_loopback(images: None, started: list[str]) -> None:
    del images
    container = docker("run", "--detach", "--publish=127.0.0.1::6379", REDIS).strip()
    started.append(container)
    wait_for(lambda: "Ready to accept connections" in logs(container), 30, "redis ready")
    assert docker("exec", container, "redis-cli", "ping").strip() == "PONG"
    port = int(docker("port", container, "6379/tcp").split(":")[-1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(b"PING\r\n")
        assert connection.recv(16) == b"+PONG\r\n"
    uid = docker("exec", container, "awk", "/^Uid:/ {print $2}", "/proc/1/status").strip()
    assert uid not in {"", "0"}, "redis-server runs as the redis user, not root"


def test_a_postgres_and_redis_service_passes_its_integration_job(
    images: None, tmp_path: Path
) -> None:
    del images
    project = copy_project(tmp_path / "service", database="postgres", cache="redis")
    started = time.monotonic()
    run(["uv", "run", "--locked", "invoke", "integration"], project, timeout=900)
    report = ET.parse(project / "reports" / "junit-integration.xml").getroot()  # noqa: S314 - ours
    suite = report if report.tag == "testsuite" else report[0]
    assert int(suite.get("tests", "0")) >= 6
    assert suite.get("failures") == "0"
    assert suite.get("errors") == "0"
    # With coverage, in its own report beside the unit suite's, for the uploads to flag apart.
    coverage = ET.parse(project / "reports" / "coverage-integration.xml").getroot()  # noqa: S314
    assert float(coverage.get("line-rate", "0")) > 0
    assert time.monotonic() - started < 600


def call(
    port: int, method: str, path: str, body: object = None
) -> tuple[int, Mapping[str, str], str]:
    """One request to 127.0.0.1:port: (status, headers, body), whatever the status."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status), dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.fixture
def stack_service(images: None, tmp_path: Path) -> Path:
    """A Postgres and Redis service, with the password file its prod stack mounts."""
    del images
    project = copy_project(tmp_path / "service", database="postgres", cache="redis")
    secrets = project / "secrets"
    secrets.mkdir()
    (secrets / "postgres-password").write_text("stack-test-only\n", encoding="utf-8")
    secrets.chmod(0o755)
    (secrets / "postgres-password").chmod(0o644)
    return project


def test_the_docker_job_brings_up_the_prod_stack_with_its_database(stack_service: Path) -> None:
    result = run(["uv", "run", "--locked", "invoke", "docker"], stack_service, timeout=1500)
    assert re.search(
        r"^docker: prod stack: item \d+ written and read back$", result.stdout, re.MULTILINE
    )
    projects = docker("compose", "ls", "--all", "--format=json")
    assert f"{stack_service.name}-stack-" not in projects, "the stack was taken down"


def test_the_prod_stack_degrades_and_recovers(stack_service: Path) -> None:
    port = free_port()
    name = f"backing-faults-{port}"
    env = {"MY_SERVICE_HOST_PORT": str(port)}
    files = ["compose.yaml", "compose.prod.yaml"]
    up = ["--build", "--wait", "--wait-timeout=300"]
    with compose_stack(stack_service, files, name, env, up) as compose:
        status, _, body = call(port, "POST", "/items", {"name": "kept"})
        assert status == 201, body
        kept = json.loads(body)
        status, _, body = call(port, "POST", "/items", {"name": "never read"})
        uncached = json.loads(body)
        assert call(port, "GET", f"/items/{kept['id']}")[2] == json.dumps(
            kept, separators=(",", ":")
        )

        run([*compose, "restart", "app"], stack_service, env=env)
        wait_for(lambda: call(port, "GET", "/ready")[0] == 200, 60, "app back after a restart")
        assert json.loads(call(port, "GET", f"/items/{kept['id']}")[2]) == kept

        run([*compose, "stop", "postgres"], stack_service, env=env)
        assert call(port, "GET", "/ready")[0] == 503
        assert call(port, "GET", "/live")[0] == 200
        status, headers, body = call(port, "GET", f"/items/{uncached['id']}")
        assert status == 503, body
        assert headers["content-type"] == "application/problem+json"
        assert int(headers["retry-after"]) > 0
        assert json.loads(body)["status"] == 503

        run([*compose, "start", "postgres"], stack_service, env=env)
        back = time.monotonic()
        wait_for(lambda: call(port, "GET", "/ready")[0] == 200, 30, "/ready 200 again")
        wait_for(lambda: call(port, "GET", f"/items/{uncached['id']}")[0] == 200, 30, "reads again")
        assert time.monotonic() - back < 30

        run([*compose, "stop", "redis"], stack_service, env=env)
        status, _, body = call(port, "GET", f"/items/{kept['id']}")
        assert (status, json.loads(body)) == (200, kept)
        status, _, body = call(port, "GET", "/ready")
        assert status == 200
        assert json.loads(body)["degraded"] == ["cache"]
        metrics = call(port, "GET", "/metrics")[2]
        assert 'cache_bypasses_total{operation="get"}' in metrics
