"""Health endpoints for orchestrators and people.

`/health` describes the running build, `/live` answers while the process runs, and `/ready`
answers 200 only while every required dependency check passes and the service is not shutting
down: from the first SIGTERM on it answers 503 (`"failed": ["shutdown"]`) for the drain, while
the other routes keep answering (see `__main__`). A check that is not required (a cache the
service can do without) never fails readiness: while it fails `/ready` stays 200 and lists it
under `degraded`, a key the report has only when the service has such checks.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel

from . import __version__

Check = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class ReadinessCheck:
    """A named dependency check; it passes when it returns True within its timeout.

    `required=False` marks a dependency the service degrades without instead of failing.
    """

    name: str
    check: Check
    timeout_seconds: float = 2.0
    required: bool = True

    async def passes(self) -> bool:
        """Run the check; a timeout or an exception counts as a failure."""
        try:
            return await asyncio.wait_for(self.check(), self.timeout_seconds)
        except Exception:  # noqa: BLE001 - any failure of a dependency means "not ready"
            return False


class HealthReport(BaseModel):
    """What `/health` reports."""

    status: str
    version: str
    revision: str


class ReadinessReport(BaseModel):
    """What `/ready` reports."""

    status: str
    failed: list[str]
    degraded: list[str] | None = None


def build_router(revision: str, checks: Sequence[ReadinessCheck]) -> APIRouter:
    """Build the health router for one app."""
    router = APIRouter(tags=["health"])

    @router.get("/health")
    async def health() -> HealthReport:
        return HealthReport(status="ok", version=__version__, revision=revision)

    @router.get("/live")
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    @router.get("/ready", response_model_exclude_none=True)
    async def ready(request: Request, response: Response) -> ReadinessReport:
        results = await asyncio.gather(*(check.passes() for check in checks))
        outcomes = list(zip(checks, results, strict=True))
        failed = [check.name for check, ok in outcomes if check.required and not ok]
        degraded = None
        if not all(check.required for check in checks):
            degraded = [check.name for check, ok in outcomes if not check.required and not ok]
        if request.app.state.shutting_down:
            failed.append("shutdown")
        if failed:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
            return ReadinessReport(status="unavailable", failed=failed, degraded=degraded)
        state = "degraded" if degraded else "ready"
        return ReadinessReport(status=state, failed=[], degraded=degraded)

    return router
