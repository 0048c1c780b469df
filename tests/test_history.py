"""--as-of: the Internet Archive capture closest to a date, through a fake CDX server and replay pages.

The fake archive runs on 127.0.0.1 (``Settings.wayback_url`` points at it); the archived sites
(``www.example-shop.cn``...) are names only: nothing but 127.0.0.1 is contacted.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from pipeline.fetch.archive import Archive
from pipeline.fetch.batch import fetch_all
from pipeline.fetch.history import (
    Capture,
    cdx_query_url,
    closest_capture,
    parse_cdx,
    replay_url,
    split_replay_url,
)
from pipeline.records import FetchOutcome, FetchResult, Target
from pipeline.serve.localserver import RequestLog, serve
from pipeline.settings import Settings
from tests.test_fetch import POLICY_EN, POLICY_ZH, html

SHOP = "https://www.example-shop.cn"
HOME_2019 = '<html><body><p>示例商城</p><footer><a href="/legal/privacy.html">隐私政策</a></footer></body></html>'


class FakeArchive:
    """A CDX endpoint and ``/web/<ts>id_/<url>`` replays of the captures it was given."""

    def __init__(self) -> None:
        self.captures: dict[str, list[tuple[str, str, bytes, dict[str, str]]]] = {}  # url -> (ts, status, body, headers)
        self.cdx_queries: list[dict[str, list[str]]] = []
        self.cdx_status = 200
        self.cdx_body: bytes | None = None

    def add(self, url: str, ts: str, body: bytes | str, status: str = "200", headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.captures.setdefault(url, []).append((ts, status, data, headers or {}))

    def cdx(self, h: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(h.path).query)
        self.cdx_queries.append(query)
        if self.cdx_status != 200 or self.cdx_body is not None:
            body = self.cdx_body or b"index unavailable"
            self._send(h, self.cdx_status, body, "text/plain")
            return
        rows = self.captures.get(query["url"][0], [])
        low, high = query.get("from", ["0"])[0], query.get("to", ["9"])[0]
        rows = [r for r in rows if low <= r[0][: len(low)] and r[0][: len(high)] <= high]
        wanted = re.compile(query.get("filter", ["statuscode:.*"])[0].split(":", 1)[1])
        rows = [r for r in rows if wanted.fullmatch(r[1])]
        if "closest" in query:
            target = datetime.strptime(query["closest"][0], "%Y%m%d%H%M%S")
            rows.sort(key=lambda r: abs(datetime.strptime(r[0], "%Y%m%d%H%M%S") - target))
        rows = rows[: int(query.get("limit", ["100"])[0])]
        fields = query["fl"][0].split(",")
        table = [fields] + [
            [{"timestamp": ts, "original": query["url"][0], "statuscode": st, "mimetype": "text/html", "digest": "X"}[f]
             for f in fields]
            for ts, st, _, _ in rows
        ]
        self._send(h, 200, json.dumps(table if rows else []).encode(), "application/json")

    def replay(self, h: BaseHTTPRequestHandler) -> None:
        match = re.match(r"^/web/(\d{14})id_/(.+)$", h.path)
        if not match:
            self._send(h, 404, b"not a replay URL", "text/plain")
            return
        ts, url = match.groups()
        for cts, status, body, headers in self.captures.get(url, []):
            if cts == ts:
                h.send_response(int(status))
                for k, v in {"Content-Type": "text/html; charset=utf-8", **headers}.items():
                    h.send_header(k, v)
                h.send_header("Content-Length", str(len(body)))
                h.end_headers()
                h.wfile.write(body)
                return
        self._send(h, 404, b"no such capture", "text/plain")

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


class _Routes(dict):  # type: ignore[type-arg]
    """Routes where every /web/... path goes to the replay handler."""

    def __init__(self, fake: FakeArchive) -> None:
        super().__init__({"/cdx/search/cdx": fake.cdx})
        self.fake = fake

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        if isinstance(key, str) and key.startswith("/web/"):
            return self.fake.replay
        return super().get(key, default)


@pytest.fixture
def wayback() -> Iterator[tuple[str, FakeArchive, RequestLog]]:
    fake = FakeArchive()
    log = RequestLog()
    with serve(_Routes(fake), log=log) as base:
        yield base, fake, log


def as_of_settings(tmp_path: Path, base: str, day: date, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path, "allow_private": True, "per_host_delay": 0.0, "connect_timeout": 2.0,
        "read_timeout": 2.0, "total_timeout": 5.0, "retry_backoff": 0.01, "wayback_url": base, "as_of": day,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def run(targets: list[Target], settings: Settings, archive: Archive) -> list[FetchResult]:
    return asyncio.run(fetch_all(targets, settings, archive))


def test_as_of_fetches_the_capture_closest_to_the_date(
    wayback: tuple[str, FakeArchive, RequestLog], tmp_path: Path
) -> None:
    base, fake, log = wayback
    for ts, text in [("20180601080000", "old"), ("20190220101500", POLICY_ZH), ("20190415000000", "later"),
                     ("20210101000000", "new")]:
        fake.add(SHOP + "/privacy", ts, text)
    archive = Archive(tmp_path / "archive")
    target = Target(id="shop", name="示例商城", kind="site", policy_url=SHOP + "/privacy")
    (result,) = run([target], as_of_settings(tmp_path, base, date(2019, 3, 1)), archive)
    assert result.outcome is FetchOutcome.OK, result.error
    assert result.archive_timestamp == "20190220101500"
    assert result.archive_url == f"{base}/web/20190220101500id_/{SHOP}/privacy"
    assert result.final_url == SHOP + "/privacy" and result.requested_url == SHOP + "/privacy"
    assert result.body == POLICY_ZH.encode() and result.sha256 and archive.get(result.sha256) == POLICY_ZH.encode()
    (query,) = fake.cdx_queries
    assert query["url"] == [SHOP + "/privacy"] and query["output"] == ["json"]
    assert query["closest"] == ["20190301120000"] and query["sort"] == ["closest"]
    assert [p for p in log.paths() if p.startswith("/web/")] == [f"/web/20190220101500id_/{SHOP}/privacy"]


def test_no_capture_is_recorded_and_the_run_goes_on(wayback: tuple[str, FakeArchive, RequestLog], tmp_path: Path) -> None:
    base, fake, _ = wayback
    fake.add(SHOP + "/privacy", "20190220101500", POLICY_ZH)
    fake.add("https://old-only.example/privacy", "20120101000000", POLICY_EN)
    targets = [
        Target(id="none", name="N", kind="site", policy_url="https://never-archived.example/privacy"),
        Target(id="old", name="O", kind="site", policy_url="https://old-only.example/privacy"),
        Target(id="shop", name="S", kind="site", policy_url=SHOP + "/privacy"),
    ]
    results = run(targets, as_of_settings(tmp_path, base, date(2019, 3, 1)), Archive(tmp_path / "a"))
    assert [r.outcome for r in results] == [FetchOutcome.NO_ARCHIVED_COPY, FetchOutcome.NO_ARCHIVED_COPY, FetchOutcome.OK]
    assert "no capture of https://never-archived.example/privacy within 366 days of 2019-03-01" in (results[0].error or "")
    assert results[0].sha256 is None


def test_discovery_runs_through_archived_pages(wayback: tuple[str, FakeArchive, RequestLog], tmp_path: Path) -> None:
    base, fake, _ = wayback
    fake.add(SHOP + "/", "20190301000000", HOME_2019)
    fake.add(SHOP + "/legal/privacy.html", "20190305000000", POLICY_ZH)
    target = Target(id="shop", name="S", kind="site", homepage=SHOP + "/")
    (result,) = run([target], as_of_settings(tmp_path, base, date(2019, 3, 1)), Archive(tmp_path / "a"))
    assert result.outcome is FetchOutcome.OK, result.error
    assert result.discovery_path == (SHOP + "/", SHOP + "/legal/privacy.html") and result.click_depth == 1
    assert result.archive_timestamp == "20190305000000"


def test_archived_redirect_is_followed_to_the_capture_it_points_at(
    wayback: tuple[str, FakeArchive, RequestLog], tmp_path: Path
) -> None:
    base, fake, _ = wayback
    fake.add(SHOP + "/pp", "20190301000000", b"", status="302",
             headers={"Location": f"{base}/web/20190302000000id_/{SHOP}/privacy"})
    fake.add(SHOP + "/privacy", "20190302000000", POLICY_ZH)
    target = Target(id="shop", name="S", kind="site", policy_url=SHOP + "/pp")
    (result,) = run([target], as_of_settings(tmp_path, base, date(2019, 3, 1)), Archive(tmp_path / "a"))
    assert result.outcome is FetchOutcome.OK, result.error
    assert result.final_url == SHOP + "/privacy" and result.archive_timestamp == "20190302000000"


def test_several_years_from_one_targets_list(wayback: tuple[str, FakeArchive, RequestLog], tmp_path: Path) -> None:
    base, fake, _ = wayback
    fake.add(SHOP + "/privacy", "20180310000000", POLICY_EN)
    fake.add(SHOP + "/privacy", "20200310000000", POLICY_ZH)
    targets = [Target(id="shop", name="S", kind="site", policy_url=SHOP + "/privacy")]
    archive = Archive(tmp_path / "a")
    by_year = {year: run(targets, as_of_settings(tmp_path, base, date(year, 3, 1)), archive)[0] for year in (2018, 2020)}
    assert by_year[2018].body == POLICY_EN.encode() and by_year[2020].body == POLICY_ZH.encode()
    assert by_year[2018].archive_timestamp == "20180310000000"


def test_index_that_is_down_is_recorded_with_its_status(wayback: tuple[str, FakeArchive, RequestLog], tmp_path: Path) -> None:
    base, fake, _ = wayback
    fake.cdx_status = 503
    target = Target(id="shop", name="S", kind="site", policy_url=SHOP + "/privacy")
    (result,) = run([target], as_of_settings(tmp_path, base, date(2019, 3, 1), http_retries=1), Archive(tmp_path / "a"))
    assert result.outcome is FetchOutcome.HTTP_ERROR and result.status_code == 503
    assert "Internet Archive index lookup" in (result.error or "") and result.retries == 1


def test_index_answer_that_is_not_cdx_json_is_network_error(
    wayback: tuple[str, FakeArchive, RequestLog], tmp_path: Path
) -> None:
    base, fake, _ = wayback
    fake.cdx_body = b"<html>maintenance</html>"
    target = Target(id="shop", name="S", kind="site", policy_url=SHOP + "/privacy")
    (result,) = run([target], as_of_settings(tmp_path, base, date(2019, 3, 1)), Archive(tmp_path / "a"))
    assert result.outcome is FetchOutcome.NETWORK_ERROR
    assert "not CDX JSON" in (result.error or "")


def test_live_fetch_is_used_without_as_of(tmp_path: Path) -> None:
    log = RequestLog()
    with serve({"/privacy": html(POLICY_EN)}, log=log) as base:
        settings = as_of_settings(tmp_path, "http://127.0.0.1:9", date(2019, 3, 1)).model_copy(update={"as_of": None})
        (result,) = run([Target(id="x", name="X", kind="site", policy_url=base + "/privacy")], settings, Archive(tmp_path / "a"))
    assert result.outcome is FetchOutcome.OK and result.archive_timestamp is None and result.archive_url is None


# ---------------------------------------------------------------- pure functions


def test_cdx_query_url_asks_for_closest_captures_in_a_window() -> None:
    url = cdx_query_url("https://web.archive.org/", "https://example.com/p?a=1", date(2019, 3, 1), window_days=30)
    parts = urlsplit(url)
    assert parts.path == "/cdx/search/cdx"
    query = parse_qs(parts.query)
    assert query["url"] == ["https://example.com/p?a=1"]
    assert query["from"] == ["20190130"] and query["to"] == ["20190331"]
    assert query["filter"] == ["statuscode:[23].."]


def test_parse_cdx_reads_rows_and_skips_resume_keys() -> None:
    body = json.dumps([
        ["timestamp", "original", "statuscode", "mimetype", "digest"],
        ["20190220101500", "https://e.com/p", "200", "text/html", "A"],
        ["2019", "https://e.com/p", "200", "text/html", "B"],
        [],
        ["e.com%2Cp+20190220101500"],
    ]).encode()
    assert parse_cdx(body) == [Capture("20190220101500", "https://e.com/p", "200", "text/html", "A")]
    assert parse_cdx(b"[]") == [] and parse_cdx(b"") == []
    with pytest.raises(ValueError):
        parse_cdx(b'{"error": "x"}')


def test_closest_capture_prefers_nearest_2xx_3xx_within_window() -> None:
    caps = [Capture("20190101000000", "u", "200"), Capture("20190228000000", "u", "404"),
            Capture("20190310000000", "u", "301"), Capture("20170101000000", "u", "200")]
    assert closest_capture(caps, date(2019, 3, 1)) == caps[2]
    assert closest_capture(caps[3:], date(2019, 3, 1), window_days=366) is None


def test_replay_url_round_trips() -> None:
    cap = Capture("20190220101500", "https://e.com/p?x=1", "200")
    url = replay_url("https://web.archive.org", cap)
    assert url == "https://web.archive.org/web/20190220101500id_/https://e.com/p?x=1"
    assert split_replay_url(url) == ("20190220101500", "https://e.com/p?x=1")
    assert split_replay_url("https://e.com/web/page") is None
