"""Charsets per the WHATWG encoding rules and robots.txt per RFC 9309 (issue 14, items 7 and 8).

Servers on 127.0.0.1 only; each fetch bounded so a regression cannot stall the suite.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pipeline.content.charset import decode_body
from pipeline.fetch.archive import Archive
from pipeline.fetch.client import fetch_url, make_client
from pipeline.records import FetchOutcome, FetchResult
from pipeline.serve.localserver import Handler, Route, serve
from pipeline.settings import Settings

from .hangs import bounded, hang, reset

BIG5_POLICY = "我們的隱私權政策說明我們如何收集、使用及保護您的個人資料。"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<p>privacy</p>", "text/html; charset=undefined"),
        (b'<meta charset="undefined"><p>privacy</p>', "text/html"),
        (b"<p>privacy</p>", "text/plain; charset=rot13"),
    ],
)
def test_a_python_codec_name_as_charset_is_ignored_not_raised(body: bytes, content_type: str) -> None:
    text, codec = decode_body(body, content_type)
    assert "privacy" in text and codec == "utf-8"


def test_big5_bytes_labelled_gbk_decode_as_big5() -> None:
    text, codec = decode_body(BIG5_POLICY.encode("big5"), "text/html; charset=gbk")
    assert text == BIG5_POLICY and codec.startswith("big5")


def test_gbk_bytes_labelled_gbk_stay_gbk() -> None:
    simplified = "我们的隐私政策说明我们如何收集、使用和保护您的个人信息。"
    assert decode_body(simplified.encode("gbk"), "text/html; charset=gbk")[0] == simplified


def _fetch_with_robots(tmp_path: Path, robots: Route | Handler) -> FetchResult:
    settings = Settings(
        data_dir=tmp_path, allow_private=True, per_host_delay=0.0, connect_timeout=2.0, read_timeout=1.0,
        total_timeout=3.0, retry_backoff=0.01, http_retries=0,
    )
    with serve({"/robots.txt": robots, "/privacy": Route(b"<h1>Privacy Policy</h1>")}) as base:

        async def main() -> FetchResult:
            async with make_client(settings) as client:
                return await fetch_url(client, f"{base}/privacy", settings, Archive(tmp_path / "archive"))

        return bounded(60, lambda: asyncio.run(main()))


@pytest.mark.parametrize(
    ("robots", "outcome"),
    [
        (hang(5.0), FetchOutcome.ROBOTS_DISALLOWED),  # unreachable: complete disallow (RFC 9309 2.3.1.4)
        (reset, FetchOutcome.ROBOTS_DISALLOWED),
        (Route(b"oops", status=503), FetchOutcome.ROBOTS_DISALLOWED),
        (Route(b"", status=404), FetchOutcome.OK),  # 4xx: allow
        (Route(b"User-agent: *\nDisallow:\n", content_type="text/plain; charset=undefined"), FetchOutcome.OK),
    ],
    ids=["timeout", "reset", "503", "404", "charset-undefined"],
)
def test_robots_txt_outcomes_follow_rfc_9309(tmp_path: Path, robots: Route | Handler, outcome: FetchOutcome) -> None:
    result = _fetch_with_robots(tmp_path, robots)
    assert result.outcome is outcome, result.error
