"""Slow tier: every `database` x `cache` service passes its own lint, typecheck and test, and a
Postgres and Redis service its whole `invoke ci`, integration and docker jobs included.
"""

import itertools
import json
from pathlib import Path

import pytest

from helpers import copy_project, questions, run

pytestmark = pytest.mark.slow

DATABASES = [str(choice) for choice in questions()["database"]["choices"]]
CACHES = [str(choice) for choice in questions()["cache"]["choices"]]
# none/none is the default service, which test_generated.py runs in full; postgres/redis
# runs its whole CI below, lint, typecheck and test among it.
WITH_BACKING = [
    pytest.param(database, cache, id=f"database={database},cache={cache}")
    for database, cache in itertools.product(DATABASES, CACHES)
    if (database, cache) not in {("none", "none"), ("postgres", "redis")}
]


@pytest.mark.parametrize(("database", "cache"), WITH_BACKING)
def test_lint_typecheck_and_test_pass(tmp_path: Path, database: str, cache: str) -> None:
    project = copy_project(tmp_path / "service", database=database, cache=cache)
    for task in ("lint", "typecheck", "test"):
        run(["uv", "run", "--locked", "invoke", task], project, timeout=1200)


def test_postgres_and_redis_pass_their_whole_ci(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "service", database="postgres", cache="redis")
    result = run(["uv", "run", "--locked", "invoke", "ci", "--json"], project, timeout=3600)
    document = json.loads(result.stdout)
    assert document["exit_code"] == 0, result.stderr[-3000:]
    by_job = {entry["job"]: entry for entry in document["entries"]}
    must_pass = {"lint", "typecheck", "test", "integration"}
    assert must_pass <= set(by_job), sorted(by_job)
    for entry in document["entries"]:
        assert entry["job"] not in must_pass or entry["result"] == "passed", entry
    docker = by_job["docker"]
    assert docker["result"] == "passed" or "Docker" in docker["reason"], docker
