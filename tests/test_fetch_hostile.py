"""Hostile servers on 127.0.0.1: each one ends as a recorded outcome and the run goes on.

Decompression bombs, connection resets mid-body, 50 MB bodies, unaccepted connections,
slow and trickling servers, redirect loops, lying charsets, unknown content encodings,
robots.txt refusals; and the SSRF guard refusing 127.0.0.1, 10.0.0.1 and redirects to them.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import struct
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.content.charset import decode_body
from pipeline.fetch import netguard
from pipeline.fetch.archive import Archive
from pipeline.fetch.batch import fetch_all
from pipeline.fetch.client import fetch_url
from pipeline.records import FetchOutcome, FetchResult, Target
from pipeline.serve.localserver import RequestLog, Route, serve
from pipeline.settings import Settings
from tests.test_fetch import (
    POLICY_EN,
    POLICY_ZH,
    Site,
    _quiet,
    get,
    html,
    redirect,
    settings_for,
)

BOMB_BYTES = 200_000_000  # what the bomb inflates to

from tests.fetch_support import _server, archive, site  # noqa: F401 - fixtures


def _zeros_compressed(wbits: int, total: int = BOMB_BYTES) -> bytes:
    packer = zlib.compressobj(1, zlib.DEFLATED, wbits)  # fast; still ~230:1
    block = b"\x00" * 1_000_000
    out = bytearray()
    for _ in range(total // len(block)):
        out += packer.compress(block)
    out += packer.flush()
    return bytes(out)


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    return {"gzip": _zeros_compressed(31), "deflate": _zeros_compressed(15)}


def encoded(body: bytes, coding: str, ctype: str = "text/html; charset=utf-8") -> Route:
    return Route(body, content_type=ctype, headers=(("Content-Encoding", coding),))


# ---------------------------------------------------------------- compression


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_decompression_bomb_is_too_large_without_inflating_it_all(
    site: Site, tmp_path: Path, archive: Archive, bombs: dict[str, bytes], coding: str
) -> None:
    bomb = bombs[coding]
    assert len(bomb) < 1_000_000  # a small download...
    with site.serve({"/bomb": encoded(bomb, coding)}) as base:
        tracemalloc.start()
        try:
            result = get(base + "/bomb", settings_for(tmp_path, max_bytes=2_000_000, obey_robots=False), archive)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.outcome is FetchOutcome.TOO_LARGE
    assert "after decompression" in (result.error or "")
    assert peak < 20_000_000  # ...that would be 200 MB inflated
    assert not archive.root.exists()


@pytest.mark.parametrize(
    ("coding", "pack"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),  # zlib-wrapped, as the RFC says
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send
        ("gzip", lambda b: gzip.compress(b[:100]) + gzip.compress(b[100:])),  # two gzip members
        ("gzip, identity", gzip.compress),
        ("deflate, gzip", lambda b: gzip.compress(zlib.compress(b))),  # applied in order, undone in reverse
    ],
)
def test_compressed_policy_is_decoded_exactly(site: Site, tmp_path: Path, archive: Archive, coding: str, pack: object) -> None:
    body = (POLICY_ZH * 20).encode()
    with site.serve({"/p": encoded(pack(body), coding)}) as base:  # type: ignore[operator]
        result = get(base + "/p", settings_for(tmp_path, obey_robots=False), archive)
    assert result.outcome is FetchOutcome.OK, result.error
    assert result.body == body and result.size == len(body)


def test_corrupt_gzip_body_is_network_error(site: Site, tmp_path: Path, archive: Archive) -> None:
    with site.serve({"/p": encoded(b"\x1f\x8b\x08\x00garbage-not-deflate" * 10, "gzip")}) as base:
        result = get(base + "/p", settings_for(tmp_path, obey_robots=False), archive)
    assert result.outcome is FetchOutcome.NETWORK_ERROR
    assert "corrupt gzip" in (result.error or "")


def test_content_encoding_we_did_not_ask_for_is_unsupported_content(site: Site, tmp_path: Path, archive: Archive) -> None:
    log = RequestLog()
    with site.serve({"/p": encoded(b"\x8b\x02\x80hello\x03", "br")}, log=log) as base:
        result = get(base + "/p", settings_for(tmp_path, obey_robots=False), archive)
    assert result.outcome is FetchOutcome.UNSUPPORTED_CONTENT
    assert "'br'" in (result.error or "")
    assert log.entries[0][2].get("Accept-Encoding") == "gzip, deflate"


# ---------------------------------------------------------------- broken connections, huge bodies


def _reset_mid_body(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "text/html; charset=utf-8")
    h.send_header("Content-Length", "100000")
    h.end_headers()
    h.wfile.write(b"<html><body>" + b"x" * 1000)
    h.wfile.flush()
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.connection.close()  # RST: the client sees "connection reset" 1 KB into a 100 KB body
    h.close_connection = True


def _close_without_answer(h: BaseHTTPRequestHandler) -> None:
    h.close_connection = True


def test_server_resetting_mid_body_is_network_error_after_retries(site: Site, tmp_path: Path, archive: Archive) -> None:
    log = RequestLog()
    with site.serve({"/reset": _reset_mid_body}, log=log) as base:
        result = get(base + "/reset", settings_for(tmp_path, obey_robots=False, http_retries=2), archive)
    assert result.outcome is FetchOutcome.NETWORK_ERROR
    assert result.retries == 2 and log.paths() == ["/reset"] * 3
    assert "after 2 retries" in (result.error or "")
    assert not archive.root.exists()


def test_server_closing_without_an_answer_is_network_error(site: Site, tmp_path: Path, archive: Archive) -> None:
    with site.serve({"/silent": _close_without_answer}) as base:
        result = get(base + "/silent", settings_for(tmp_path, obey_robots=False, http_retries=0), archive)
    assert result.outcome is FetchOutcome.NETWORK_ERROR
    assert "RemoteProtocolError" in (result.error or "")


def _fifty_mb(declare: bool) -> object:
    def handler(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        if declare:
            h.send_header("Content-Length", str(50 * 1024 * 1024))
        else:
            h.send_header("Connection", "close")
        h.end_headers()
        block = b"<p>" + b"z" * 65_529 + b"</p>"

        def write() -> None:
            for _ in range(50 * 16):
                h.wfile.write(block)
        _quiet(write)
        h.close_connection = True

    return handler


@pytest.mark.parametrize("declare", [True, False], ids=["declared", "undeclared"])
def test_fifty_megabyte_body_is_too_large_and_reading_stops_at_the_cap(
    site: Site, tmp_path: Path, archive: Archive, declare: bool
) -> None:
    with site.serve({"/huge": _fifty_mb(declare)}) as base:  # type: ignore[dict-item]
        started = time.monotonic()
        result = get(base + "/huge", settings_for(tmp_path, obey_robots=False), archive)  # default cap 10 MB
    assert result.outcome is FetchOutcome.TOO_LARGE
    assert ("declares 52428800 bytes" if declare else "more than max_bytes=10000000") in (result.error or "")
    assert time.monotonic() - started < 3.0
    assert not archive.root.exists()


@pytest.fixture
def unaccepting_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose accept queue is full: new connections hang in SYN."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(8):
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.05)
    try:
        yield port
    finally:
        for c in fillers:
            c.close()
        server.close()


def test_connection_never_accepted_is_connect_timeout(unaccepting_port: int, tmp_path: Path, archive: Archive) -> None:
    settings = settings_for(tmp_path, connect_timeout=0.3, obey_robots=False)
    started = time.monotonic()
    result = get(f"http://127.0.0.1:{unaccepting_port}/p", settings, archive)
    assert result.outcome is FetchOutcome.TIMEOUT
    assert "ConnectTimeout" in (result.error or "")
    assert time.monotonic() - started < 2.0


# ---------------------------------------------------------------- charsets that lie


@pytest.mark.parametrize(
    ("text", "codec", "label"),
    [
        (POLICY_ZH.replace("<h1>", "<p>朱镕基、陶喆</p><h1>"), "gbk", "utf-8"),
        ("<html><head><meta charset=\"utf-8\"></head>" + POLICY_ZH[6:].replace("<h1>", "<p>朱镕基、陶喆</p><h1>"), "gb18030", None),
        ("<html><body><h1>隱私權政策</h1><p>本公司重視您的個人資料保護，說明我們如何蒐集、處理及利用您的個人資料。</p></body></html>",
         "big5", "utf-8"),
    ],
    ids=["gbk-labelled-utf8", "gb18030-meta-says-utf8", "big5-labelled-utf8"],
)
def test_lying_charset_is_still_decoded_right(
    site: Site, tmp_path: Path, archive: Archive, text: str, codec: str, label: str | None
) -> None:
    ctype = f"text/html; charset={label}" if label else "text/html"
    with site.serve({"/p": Route(text.encode(codec), content_type=ctype)}) as base:
        result = get(base + "/p", settings_for(tmp_path, obey_robots=False), archive)
    assert result.outcome is FetchOutcome.OK
    decoded, _ = decode_body(result.body or b"", result.content_type)
    visible = text.split("<h1>")[1][:5]
    assert visible in decoded


# ---------------------------------------------------------------- SSRF guard


def test_address_check_refuses_loopback_and_private_addresses() -> None:
    assert asyncio.run(netguard.check_url("http://127.0.0.1/", allow_private=False))
    assert asyncio.run(netguard.check_url("http://10.0.0.1/admin", allow_private=False))
    assert "10.0.0.1" in (asyncio.run(netguard.check_url("http://10.0.0.1/", allow_private=False)) or "")
    assert asyncio.run(netguard.check_url("http://10.0.0.1/", allow_private=True)) is None


@pytest.mark.parametrize("inside", ["http://10.0.0.1/admin", "http://127.0.0.1:8080/", "http://[::1]/", "http://169.254.169.254/latest"])
def test_redirect_to_a_private_address_is_refused_without_allow_private(tmp_path: Path, archive: Archive, inside: str) -> None:
    # the "public" site is a MockTransport at a public literal address: nothing leaves this process
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        return httpx.Response(302, headers={"Location": inside})

    settings = settings_for(tmp_path, allow_private=False, obey_robots=False)

    async def main() -> FetchResult:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            return await fetch_url(client, "http://93.184.216.34/privacy", settings, archive)

    result = asyncio.run(main())
    assert result.outcome is FetchOutcome.REFUSED_ADDRESS
    assert result.final_url == inside
    assert asked == ["http://93.184.216.34/privacy"]  # the private address was never asked


def test_loopback_target_is_refused_without_allow_private(site: Site, tmp_path: Path, archive: Archive) -> None:
    log = RequestLog()
    with site.serve({"/p": html(POLICY_EN)}, log=log) as base:
        result = get(base + "/p", settings_for(tmp_path, allow_private=False), archive)
    assert result.outcome is FetchOutcome.REFUSED_ADDRESS and log.entries == []


# ---------------------------------------------------------------- one run through all of them


def _slow(h: BaseHTTPRequestHandler) -> None:
    time.sleep(1.0)
    _quiet(lambda: h.send_response(200))


def test_one_run_through_every_hostile_server_records_each_outcome_and_goes_on(
    site: Site, tmp_path: Path, archive: Archive, bombs: dict[str, bytes], unaccepting_port: int
) -> None:
    routes = {
        "/robots.txt": Route(b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"),
        "/good": html(POLICY_EN),
        "/bomb": encoded(bombs["gzip"], "gzip"),
        "/reset": _reset_mid_body,
        "/huge": _fifty_mb(False),
        "/slow": _slow,
        "/loop-a": redirect("/loop-b"), "/loop-b": redirect("/loop-a"),
        "/busy": Route(b"busy", status=429, headers=(("Retry-After", "86400"),)),
        "/down": Route(b"down", status=503),
        "/private/policy": html(POLICY_EN),
        "/image": Route(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", content_type="image/png"),
        "/shell": html('<html><head><script src="/a.js"></script></head><body><div id="root"></div></body></html>'),
        "/lying": Route(POLICY_ZH.encode("gbk"), content_type="text/html; charset=utf-8"),
        "/gone": Route(b"gone", status=410),
    }
    expected = {
        "/good": FetchOutcome.OK, "/bomb": FetchOutcome.TOO_LARGE, "/reset": FetchOutcome.NETWORK_ERROR,
        "/huge": FetchOutcome.TOO_LARGE, "/slow": FetchOutcome.TIMEOUT, "/loop-a": FetchOutcome.TOO_MANY_REDIRECTS,
        "/busy": FetchOutcome.RATE_LIMITED, "/down": FetchOutcome.HTTP_ERROR,
        "/private/policy": FetchOutcome.ROBOTS_DISALLOWED, "/image": FetchOutcome.UNSUPPORTED_CONTENT,
        "/shell": FetchOutcome.NEEDS_JAVASCRIPT, "/lying": FetchOutcome.OK, "/gone": FetchOutcome.NO_POLICY_FOUND,
        "connect": FetchOutcome.TIMEOUT, "ssrf": FetchOutcome.INVALID_URL,
    }
    settings: Settings = settings_for(tmp_path, read_timeout=0.5, connect_timeout=0.5, total_timeout=4.0,
                                      max_bytes=5_000_000, per_host_concurrency=4)
    with site.serve(routes) as base:
        targets = [Target(id=p, name=p, kind="site", policy_url=base + p) for p in expected if p.startswith("/")]
        targets.append(Target(id="connect", name="c", kind="site", policy_url=f"http://127.0.0.1:{unaccepting_port}/p"))
        targets.append(Target(id="ssrf", name="s", kind="site", policy_url="gopher://127.0.0.1/"))
        started = time.monotonic()
        results = asyncio.run(fetch_all(targets, settings, archive))
        took = time.monotonic() - started
    got = {t.id: r.outcome for t, r in zip(targets, results, strict=True)}
    assert got == expected
    assert all(r.error for r in results if r.outcome is not FetchOutcome.OK)
    assert took < 10.0
