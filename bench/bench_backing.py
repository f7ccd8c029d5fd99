"""Benchmark a Postgres and Redis service's prod stack against a bare FastAPI + asyncpg app.

Run: `uv run python bench/bench_backing.py [--seconds S] [--connections N]`. Needs Docker and
the base images (`uv run invoke base-images`). Renders a service with database=postgres and
cache=redis, brings up its prod compose stack, starts the baseline (BARE_APP below) in the
service's own prod image (same base image, venv, asyncpg and limits) on the same
Postgres, then drives each over loopback with a fixed number of keep-alive connections for a
fixed time. Writes its section of bench/results.md.
"""

import argparse
import asyncio
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from argparse import Namespace
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from results_file import verdict, write_section

ROOT = Path(__file__).resolve().parent.parent
# The baseline, run inside the service's prod image (its venv has FastAPI and asyncpg).
BARE_APP = '''
"""The baselines: bare FastAPI, no middleware, logging, models, repository or settings.

`/items` is the issue's baseline: the same driver (asyncpg), one query per request.
`/same-work/items` does what the service does with the libraries the service must use,
bare: SQLAlchemy Core (with the service's pool and autocommit) and, for reads, a cache-aside
read through Redis with redis-py (get, else query and set). The service's ratio to it is what
the template's own code costs.
"""

import json
import os
from pathlib import Path
from typing import Any

import asyncpg
from fastapi import FastAPI, HTTPException
from redis.asyncio import Redis
from sqlalchemy import URL, text
from sqlalchemy.ext.asyncio import create_async_engine

app = FastAPI()
pool: Any = None
PASSWORD = Path(os.environ["BARE_PASSWORD_FILE"]).read_text(encoding="utf-8").strip()
cache = Redis(host=os.environ["BARE_REDIS_HOST"])
engine = create_async_engine(
    URL.create(
        "postgresql+asyncpg",
        username=os.environ["BARE_USER"],
        password=PASSWORD,
        host=os.environ["BARE_HOST"],
        database=os.environ["BARE_DATABASE"],
    ),
    pool_size=10,
    max_overflow=0,
    isolation_level="AUTOCOMMIT",
)
SELECT = "SELECT id, name, created_at FROM items WHERE id = "
INSERT = "INSERT INTO items (name) VALUES ({}) RETURNING id, name, created_at"


@app.on_event("startup")
async def connect() -> None:
    """One pool of 10 connections, as the service's (pool size 10, no overflow)."""
    global pool  # noqa: PLW0603 - a baseline, kept bare
    pool = await asyncpg.create_pool(
        host=os.environ["BARE_HOST"],
        user=os.environ["BARE_USER"],
        password=PASSWORD,
        database=os.environ["BARE_DATABASE"],
        min_size=10,
        max_size=10,
    )


@app.get("/items/{item_id}")
async def get_item(item_id: int) -> dict[str, Any]:
    """One item by id, one query."""
    row = await pool.fetchrow(SELECT + "$1", item_id)
    if row is None:
        raise HTTPException(404)
    return dict(row)


@app.post("/items", status_code=201)
async def create_item(body: dict[str, str]) -> dict[str, Any]:
    """A new item, one query."""
    row = await pool.fetchrow(INSERT.format("$1"), body["name"])
    return dict(row)


@app.get("/same-work/items/{item_id}")
async def get_item_as_the_service(item_id: int) -> dict[str, Any]:
    """One item by id through the cache: get, else query (SQLAlchemy Core) and set."""
    key = f"bare-items:{item_id}"
    cached = await cache.get(key)
    if cached is not None:
        found: dict[str, Any] = json.loads(cached)
        return found
    async with engine.connect() as connection:
        result = await connection.execute(text(SELECT + ":id"), {"id": item_id})
        row = result.mappings().one_or_none()
    if row is None:
        raise HTTPException(404)
    item = {**row, "created_at": row["created_at"].isoformat()}
    await cache.set(key, json.dumps(item), ex=300)
    return item


@app.post("/same-work/items", status_code=201)
async def create_item_as_the_service(body: dict[str, str]) -> dict[str, Any]:
    """A new item through SQLAlchemy Core."""
    async with engine.connect() as connection:
        result = await connection.execute(text(INSERT.format(":name")), {"name": body["name"]})
        return dict(result.mappings().one())
'''
GOAL_RATIO = 0.8
GOAL_RSS_MIB = 60.0
PER_CALL_N = 2000
PREFIX = "MY_SERVICE_"
# The prod app's limits (compose.prod.yaml), given to the baseline too.
CPUS, MEMORY = "0.5", "256m"


def run(argv: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    """Run a command, failing loudly with its output."""
    result = subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def free_port() -> int:
    """A port nothing listens on at 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass(frozen=True)
class Load:
    """What one scenario measured."""

    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        """Requests answered per second."""
        return self.requests / self.seconds

    def percentile(self, fraction: float) -> float:
        """The latency (ms) within which `fraction` of the requests were answered."""
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


async def drive(
    port: int, requests: Callable[[int], bytes], connections: int, seconds: float
) -> Load:
    """`connections` keep-alive clients sending `requests(n)` until `seconds` have passed."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(requests(next(counter)))
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in {b"\r\n", b""}:
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            if not status_line.split()[1].startswith(b"2"):
                errors += 1
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    return Load(len(latencies), errors, time.perf_counter() - began, latencies)


def get(path: Callable[[int], str]) -> Callable[[int], bytes]:
    """Request n: a GET of path(n)."""
    return lambda n: f"GET {path(n)} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()


def post_to(path: str) -> Callable[[int], bytes]:
    """Request n: a POST of a new item to path."""

    def request(n: int) -> bytes:
        body = json.dumps({"name": f"bench {n}"}).encode()
        head = f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body

    return request


post = post_to("/items")


def wait_ok(port: int, path: str, within: float = 120) -> None:
    """Wait for a 2xx on path."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"no 200 on {path} within {within:.0f} s")


@contextmanager
def stack(service: Path) -> Iterator[tuple[list[str], int, Path]]:
    """The service's prod stack, up and healthy; taken down with its volumes afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bench-secrets-"))
    password = folder / "postgres-password"
    password.write_text(secrets.token_hex(16), encoding="utf-8")
    folder.chmod(0o755)
    password.chmod(0o644)
    port = free_port()
    env = {f"{PREFIX}POSTGRES_PASSWORD_FILE": str(password), f"{PREFIX}HOST_PORT": str(port)}
    os.environ.update(env)
    compose = ["docker", "compose", "--project-name=bench-backing"]
    compose += ["--file=compose.yaml", "--file=compose.prod.yaml"]
    try:
        run([*compose, "up", "--build", "--detach", "--wait", "--wait-timeout=300"], service)
        yield compose, port, password
    finally:
        subprocess.run(
            [*compose, "down", "--volumes", "--remove-orphans"], cwd=service, check=False
        )


@contextmanager
def bare_app(image: str, password: Path) -> Iterator[int]:
    """The baseline in the service's prod image, on the stack's networks, with app's limits."""
    source = password.parent / "bare_app.py"
    source.write_text(BARE_APP, encoding="utf-8")
    source.chmod(0o644)
    port = free_port()
    container = run(
        [
            "docker",
            "create",
            f"--publish=127.0.0.1:{port}:8000",
            f"--cpus={CPUS}",
            f"--memory={MEMORY}",
            "--network=bench-backing_default",
            "--init",
            f"--volume={source}:/bench/bare_app.py:ro",
            f"--volume={password}:/run/secrets/postgres-password:ro",
            "--env=BARE_HOST=postgres",
            "--env=BARE_REDIS_HOST=redis",
            "--env=BARE_USER=my_service",
            "--env=BARE_DATABASE=my_service",
            "--env=BARE_PASSWORD_FILE=/run/secrets/postgres-password",
            "--workdir=/bench",
            image,
            "python",
            "-m",
            "uvicorn",
            "bare_app:app",
            "--host=0.0.0.0",
            "--port=8000",
            "--log-level=warning",
        ]
    ).strip()
    run(["docker", "network", "connect", "bench-backing_backend", container])
    run(["docker", "start", container])
    try:
        wait_ok(port, "/items/1")
        yield port
    finally:
        subprocess.run(["docker", "rm", "--force", container], capture_output=True, check=False)


def idle_rss_mib(compose: list[str], service: Path) -> float:
    """VmRSS of the service's Python process (not the init) after it settled."""
    app = run([*compose, "ps", "--quiet", "app"], service).strip()
    script = (
        "import pathlib;"
        "print(max(int(l.split()[1]) for p in pathlib.Path('/proc').glob('[0-9]*')"
        " if 'python' in (p/'cmdline').read_text(errors='ignore')"
        " for l in (p/'status').read_text().splitlines() if l.startswith('VmRSS:')))"
    )
    return int(run(["docker", "exec", app, "python", "-c", script])) / 1024


# The libraries a Postgres and Redis service is built on, as the issue names them: a process
# that imports them and does nothing else, in the app's image.
FLOOR_IMPORTS = (
    "fastapi",
    "uvicorn",
    "pydantic_settings",
    "sqlalchemy.ext.asyncio",
    "asyncpg",
    "redis.asyncio",
)


def import_floor_rss_mib(compose: list[str], service: Path) -> float:
    """VmRSS of a Python process in the app's image that only imports FLOOR_IMPORTS."""
    app = run([*compose, "ps", "--quiet", "app"], service).strip()
    script = (
        f"import {', '.join(FLOOR_IMPORTS)}, pathlib;"
        "print(next(int(l.split()[1]) for l in pathlib.Path('/proc/self/status')"
        ".read_text().splitlines() if l.startswith('VmRSS:')))"
    )
    return int(run(["docker", "exec", app, "python", "-c", script])) / 1024


# Run inside the app's container (its settings, its venv, its network): CPU per call of what
# a request does, in-process, so the HTTP stack is out of the figure.
PER_CALL = """
import asyncio, json, time
import asyncpg
from prometheus_client import CollectorRegistry
from my_service.cache import Cache, bypass_counter, create_client
from my_service.db import Database
from my_service.repository import SqlItemRepository
from my_service.settings import get_settings

N = 2000

async def per_call(call):
    started = time.process_time()
    for n in range(N):
        await call(n)
    return (time.process_time() - started) / N * 1000

async def main():
    settings = get_settings()
    database = Database(settings)
    items = SqlItemRepository(database)
    cache = Cache(create_client(settings), ttl_seconds=60, retry_seconds=0,
                  bypasses=bypass_counter(CollectorRegistry()))
    pool = await asyncpg.create_pool(
        host=settings.database_host, user=settings.database_user,
        password=settings.database_password.get_secret_value(),
        database=settings.database_name, min_size=1, max_size=1)
    query = "SELECT id, name, created_at FROM items WHERE id = $1"
    figures = {
        "SqlItemRepository.get (SQLAlchemy Core)": await per_call(lambda n: items.get(1 + n)),
        "asyncpg fetchrow, the same query": await per_call(lambda n: pool.fetchrow(query, 1 + n)),
        "Cache.get (redis-py, hiredis)": await per_call(lambda n: cache.get(f"bench:{n % 50}")),
    }
    print(json.dumps(figures))

asyncio.run(main())
"""


def per_call_cpu_ms(compose: list[str], service: Path) -> dict[str, float]:
    """CPU milliseconds per call of the repository, raw asyncpg and the cache, in the app."""
    app = run([*compose, "ps", "--quiet", "app"], service).strip()
    figures: dict[str, float] = json.loads(
        run(["docker", "exec", app, "python", "-c", PER_CALL], service)
    )
    return figures


def scenarios(first_uncached: int) -> dict[str, Callable[[int], bytes]]:
    """The service's scenarios; "not cached" reads ids from first_uncached on, once each."""
    return {
        "GET /items/{id}, cached": get(lambda n: f"/items/{1 + n % 50}"),
        "GET /items/{id}, not cached": get(lambda n: f"/items/{first_uncached + n}"),
        "POST /items": post,
    }


def measure_service(
    stack: tuple[list[str], Path, int], log_level: str, first_uncached: int, args: Namespace
) -> dict[str, Load]:
    """Recreate app at `log_level` (info logs every request), warm its cache, drive it."""
    compose, service, port = stack
    os.environ[f"{PREFIX}LOG_LEVEL"] = log_level
    run([*compose, "up", "--detach", "--wait", "--no-deps", "--force-recreate", "app"], service)
    for n in range(1, 51):
        wait_ok(port, f"/items/{n}")
    return {
        name: asyncio.run(drive(port, requests, args.connections, args.seconds))
        for name, requests in scenarios(first_uncached).items()
    }


HEADER = (
    "| scenario | log level | req/s | p50 ms | p99 ms | errors | bare req/s | ratio | goal 0.8 "
    "| bare, same work req/s (ratio) |\n|---|---|---|---|---|---|---|---|---|---|"
)


def table(
    loads: dict[str, dict[str, Load]], baseline: dict[str, Load], same: dict[str, Load]
) -> str:
    """The scenarios' rows, each against the bare app's figure and the bare same-work one."""
    rows = []
    for level, measured in loads.items():
        for name, load in measured.items():
            ratio = load.rps / baseline[name].rps
            to_same = f"{same[name].rps:.0f} ({load.rps / same[name].rps:.2f})"
            rows.append(
                f"| `{name}` | {level} | {load.rps:.0f} | {load.percentile(0.5):.1f} | "
                f"{load.percentile(0.99):.1f} | {load.errors} | {baseline[name].rps:.0f} | "
                f"{ratio:.2f} | {verdict(ratio >= GOAL_RATIO)} | {to_same} |"
            )
    return "\n".join(rows)


def ceilings(baseline: dict[str, Load], same: dict[str, Load]) -> str:
    """Per scenario, the bare same-work app's throughput as a share of the bare app's."""
    return "\n".join(
        f"| `{name}` | {same[name].rps / baseline[name].rps:.2f} |" for name in baseline
    )


def main() -> None:
    """Measure, then write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    copier = [sys.executable, "-m", "copier", "copy", "--quiet", "--trust", "--defaults"]
    answers = ["--data", "database=postgres", "--data", "cache=redis"]
    with tempfile.TemporaryDirectory() as scratch:
        service = Path(scratch) / "my-service"
        run([*copier, "--vcs-ref", "HEAD", *answers, str(ROOT), str(service)])
        with stack(service) as (compose, port, password):
            postgres = run([*compose, "ps", "--quiet", "postgres"], service).strip()
            seed = "INSERT INTO items (name) SELECT 'seed ' || n FROM generate_series(1, 200000) n"
            psql = ["psql", "--username=my_service", "--dbname=my_service", f"--command={seed}"]
            run(["docker", "exec", postgres, *psql])
            time.sleep(3)
            rss = idle_rss_mib(compose, service)
            floor_rss = import_floor_rss_mib(compose, service)
            calls = per_call_cpu_ms(compose, service)
            image = json.loads(run([*compose, "images", "--format=json", "app"], service))[0]
            tag = f"{image['Repository']}:{image['Tag']}"
            levels = {"info": 1000, "warning": 100000}
            loads = {
                level: measure_service((compose, service, port), level, first, args)
                for level, first in levels.items()
            }
            with bare_app(tag, password) as bare_port:
                bare_reads = get(lambda n: f"/items/{150000 + n}")
                bare_get = asyncio.run(drive(bare_port, bare_reads, args.connections, args.seconds))
                bare_post = asyncio.run(drive(bare_port, post, args.connections, args.seconds))
                for n in range(1, 51):
                    wait_ok(bare_port, f"/same-work/items/{n}")
                same_work = {
                    "GET /items/{id}, cached": get(lambda n: f"/same-work/items/{1 + n % 50}"),
                    "GET /items/{id}, not cached": get(lambda n: f"/same-work/items/{170000 + n}"),
                    "POST /items": post_to("/same-work/items"),
                }
                bare_same = {
                    name: asyncio.run(drive(bare_port, requests, args.connections, args.seconds))
                    for name, requests in same_work.items()
                }
    baseline = {
        "GET /items/{id}, cached": bare_get,
        "GET /items/{id}, not cached": bare_get,
        "POST /items": bare_post,
    }
    today = datetime.now(UTC).date().isoformat()
    rss_verdict, goal = verdict(rss < GOAL_RSS_MIB), f"{GOAL_RSS_MIB:.0f}"
    floor_names = ", ".join(f"`{name}`" for name in FLOOR_IMPORTS)
    body = f"""
## Backing services: a Postgres and Redis service's prod stack

Measured {today} by `bench/bench_backing.py` on {platform.machine()}, {os.cpu_count()} CPUs
(shared), Docker prod stack of `database=postgres`, `cache=redis` (stand-in images
`postgres:17`, `redis:8`), app limited as compose.prod.yaml limits it ({CPUS} CPU,
{MEMORY}); {args.connections} keep-alive connections over loopback for {args.seconds:g} s per
scenario. Baseline: `BARE_APP` in the script, bare FastAPI on asyncpg (no ORM, middleware,
logging or cache), run in the service's own prod image with the same limits against the same
Postgres (200,000 rows). "Not cached" reads ids never read before: each is a cache miss, a
query and a cache write. Log level `info` (the default) writes a JSON access line per
request; `warning` does not, as the bare app does not. The last column is the bare app doing
the same work with the libraries the service must use (`/same-work/items`: SQLAlchemy Core
with the service's pool; reads through Redis with redis-py, get, else query and set), and the
service's ratio to it: what the template's own code costs (routing, models, repository,
metrics, access log).

{HEADER}
{table(loads, baseline, bare_same)}

The most any service on these libraries can reach, whatever its own code: the bare app doing
the same work, as a share of the bare app's throughput.

| scenario | bare, same work / bare |
|---|---|
{ceilings(baseline, bare_same)}

| figure | value | goal | |
|---|---|---|---|
| idle RSS of the app's Python process | {rss:.1f} MiB | under {goal} MiB | {rss_verdict} |
| RSS of a process that only imports {floor_names} | {floor_rss:.1f} MiB | | |

Where a request's CPU goes: each figure is CPU milliseconds per call, in-process inside the app
container, {PER_CALL_N} calls in a row (no HTTP). At {CPUS} CPU, 1 ms of CPU per request caps a
scenario near {float(CPUS) * 1000:.0f} req/s.

| call | CPU ms per call |
|---|---|
{chr(10).join(f"| {name} | {value:.3f} |" for name, value in calls.items())}
"""
    write_section("backing", body)
    print(body)


if __name__ == "__main__":
    main()
