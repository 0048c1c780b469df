"""A small HTTP server on 127.0.0.1 for the demo, tests and benchmarks.

Serves a mapping of paths to :class:`Route` (fixed responses) or to handler
callables (for slow, broken or hostile behaviour)::

    routes = {"/privacy": Route(b"<html>...</html>", content_type="text/html; charset=utf-8")}
    with serve(routes) as base_url:       # e.g. "http://127.0.0.1:40123"
        ...

    def slow(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(5); handler.send_response(200); handler.end_headers()
    with serve({"/slow": slow}) as base_url: ...

It never binds anything but loopback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Route:
    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0


Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class RequestLog:
    """Every request the server saw: (method, path, headers)."""

    entries: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [p for _, p, _ in self.entries]


def _make_handler(routes: Mapping[str, Route | Handler], log: RequestLog) -> type[BaseHTTPRequestHandler]:
    class _H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out without a 40 ms Nagle stall

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence
            return

        def _serve(self, head_only: bool) -> None:
            path = urlsplit(self.path).path
            log.entries.append((self.command, self.path, dict(self.headers.items())))
            route = routes.get(path) or routes.get(self.path)
            if route is None:
                body = b"not found"
                self.send_response(404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head_only:
                    self.wfile.write(body)
                return
            if callable(route):
                route(self)
                return
            if route.delay_s:
                time.sleep(route.delay_s)
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(route.body)))
            for k, v in route.headers:
                self.send_header(k, v)
            self.end_headers()
            if not head_only:
                self.wfile.write(route.body)

        def do_GET(self) -> None:  # noqa: N802
            self._serve(head_only=False)

        def do_HEAD(self) -> None:  # noqa: N802
            self._serve(head_only=True)

    return _H


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up (timeouts, size caps, killed runs) are expected here: no traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@contextmanager
def serve(
    routes: Mapping[str, Route | Handler], host: str = "127.0.0.1", port: int = 0, log: RequestLog | None = None
) -> Iterator[str]:
    """Serve ``routes`` on loopback in a background thread; yield the base URL."""
    if not (host in ("::1", "localhost") or host.startswith("127.")):
        raise ValueError("localserver only binds loopback addresses (127.0.0.0/8, ::1)")
    server = _QuietServer((host, port), _make_handler(routes, log or RequestLog()))
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="policyaudit-localserver", daemon=True
    )
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def routes_from_dir(directory: Path, content_types: Mapping[str, str] | None = None) -> dict[str, Route]:
    """Routes for every file under ``directory`` (path relative to it)."""
    types = {".html": "text/html; charset=utf-8", ".txt": "text/plain; charset=utf-8", ".md": "text/plain; charset=utf-8"}
    types.update(content_types or {})
    out: dict[str, Route] = {}
    for p in sorted(directory.rglob("*")):
        if p.is_file():
            rel = "/" + p.relative_to(directory).as_posix()
            out[rel] = Route(p.read_bytes(), content_type=types.get(p.suffix, "application/octet-stream"))
    return out
