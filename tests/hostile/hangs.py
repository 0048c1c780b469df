"""Helpers for hostile tests: a bound on how long one case may hang, and misbehaving handlers.

    result = bounded(30, lambda: fetch(...))     # fails the test (never stalls the suite) after 30 s

The bound is generous on purpose: it keeps a regression from stalling the suite, it does not
measure speed (benchmarks do that).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import TypeVar

T = TypeVar("T")


def bounded(seconds: float, work: Callable[[], T]) -> T:
    """``work()``, failing with AssertionError if it has not returned after ``seconds``."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="bounded-case", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise AssertionError(f"still running after {seconds:g} s: a hostile input stalled the pipeline")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def hang(seconds: float) -> Callable[[BaseHTTPRequestHandler], None]:
    """A handler that sends nothing for ``seconds`` (a read timeout), then hangs up."""

    def handler(h: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        h.close_connection = True

    return handler


def reset(h: BaseHTTPRequestHandler) -> None:
    """A handler that resets the connection (RST) instead of answering."""
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.connection.close()
    h.close_connection = True


def drip(total: int, per_second: float = 1.0) -> Callable[[BaseHTTPRequestHandler], None]:
    """A handler that answers 200 and then sends one byte every ``1/per_second`` s, ``total`` bytes."""

    def handler(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", str(total))
        h.end_headers()
        try:
            for _ in range(total):
                h.wfile.write(b" ")
                h.wfile.flush()
                time.sleep(1 / per_second)
        except (BrokenPipeError, ConnectionResetError):
            pass
        h.close_connection = True

    return handler
