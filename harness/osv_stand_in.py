"""A loopback stand-in for the OSV API, so `uv audit --service-url` is tested offline.

It answers the two endpoints `uv audit` calls: `POST /v1/querybatch` (which of the queried
package versions have advisories: ids only, as OSV answers) and `GET /v1/vulns/{id}` (the
whole advisory). Advisories are given in OSV's schema, each listing the exact versions it
affects; a query matches when its ecosystem, name and version are listed.

Test harness only: nothing here ends up in a generated service.
"""

from __future__ import annotations

import json
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence


def normalized(name: str) -> str:
    """A package name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def advisory(  # noqa: PLR0913 - one argument per OSV field a test sets
    vuln_id: str,
    package: str,
    version: str,
    fixed: str | None,
    *,
    summary: str = "A planted advisory",
    aliases: Sequence[str] = (),
) -> dict[str, Any]:
    """An OSV record for one PyPI package: `version` is affected, `fixed` fixes it."""
    events: list[dict[str, str]] = [{"introduced": "0"}]
    if fixed is not None:
        events.append({"fixed": fixed})
    return {
        "schema_version": "1.6.0",
        "id": vuln_id,
        "modified": "2026-01-01T00:00:00Z",
        "published": "2026-01-01T00:00:00Z",
        "aliases": list(aliases),
        "summary": summary,
        "details": f"{summary}. Planted by the shipshape test harness.",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": package},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
                "versions": [version],
            }
        ],
        "references": [{"type": "WEB", "url": f"https://osv.invalid/{vuln_id}"}],
    }


@dataclass
class OsvStandIn:
    """The advisories served, and every request seen (method, path), for assertions."""

    advisories: Sequence[Mapping[str, Any]] = ()
    requests: list[tuple[str, str]] = field(default_factory=list)

    def matching(self, ecosystem: str, name: str, version: str) -> list[Mapping[str, Any]]:
        """The advisories that list this exact package version as affected."""
        found = []
        for record in self.advisories:
            for affected in record.get("affected", []):
                package = affected.get("package", {})
                if (
                    package.get("ecosystem") == ecosystem
                    and normalized(package.get("name", "")) == normalized(name)
                    and version in affected.get("versions", [])
                ):
                    found.append(record)
                    break
        return found

    def by_id(self, vuln_id: str) -> Mapping[str, Any] | None:
        """The advisory with this id, if served."""
        return next((r for r in self.advisories if r.get("id") == vuln_id), None)


def _handler(state: OsvStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
            del format, args

        def reply(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            state.requests.append(("POST", self.path))
            if self.path.rstrip("/") != "/v1/querybatch":
                self.reply(404, {"code": 5, "message": "Not Found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            try:
                queries = json.loads(self.rfile.read(length) or b"{}").get("queries", [])
            except json.JSONDecodeError:
                self.reply(400, {"code": 3, "message": "Invalid JSON"})
                return
            results = []
            for query in queries:
                package = query.get("package", {})
                records = state.matching(
                    package.get("ecosystem", ""), package.get("name", ""), query.get("version", "")
                )
                results.append(
                    {"vulns": [{"id": r["id"], "modified": r["modified"]} for r in records]}
                    if records
                    else {}
                )
            self.reply(200, {"results": results})

        def do_GET(self) -> None:
            state.requests.append(("GET", self.path))
            match = re.fullmatch(r"/v1/vulns/([^/?]+)", self.path)
            record = state.by_id(match.group(1)) if match else None
            if record is None:
                self.reply(404, {"code": 5, "message": "Bug not found."})
                return
            self.reply(200, record)

    return Handler


@contextmanager
def serving(advisories: Sequence[Mapping[str, Any]] = ()) -> Iterator[tuple[str, OsvStandIn]]:
    """Serve the advisories on a free 127.0.0.1 port; yield the base URL and the state."""
    state = OsvStandIn(advisories=advisories)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
