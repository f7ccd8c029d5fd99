"""Prometheus metrics: request count and latency by route and status."""

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest


class RequestMetrics:
    """Collectors of one app, kept in their own registry so apps never share counts."""

    def __init__(self) -> None:
        """Create the collectors in a fresh registry."""
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests handled, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time spent handling HTTP requests, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )

    def render(self) -> Response:
        """Return the registry in the Prometheus text format."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def route_template(request: Request) -> str:
    """Return the matched route's path template, so `/items/1` and `/items/2` share a series.

    The router records the route it dispatched to in the scope; an unmatched request gets
    one shared label, so scanning random paths cannot grow the metric without bound.
    """
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


def instrument(app: FastAPI, metrics: RequestMetrics) -> None:
    """Count and time every request the app handles."""

    @app.middleware("http")
    async def record(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
        finally:
            labels = (request.method, route_template(request), str(status))
            metrics.requests.labels(*labels).inc()
            metrics.latency.labels(*labels).observe(time.perf_counter() - started)
        return response
