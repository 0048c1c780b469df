"""pipeline.fetch.warc: snapshots exported as WARC files that warcio's ArchiveIterator reads back."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from pipeline.fetch.archive import Archive, ArchiveError
from pipeline.fetch.client import validators_of
from pipeline.fetch.warc import NOT_MODIFIED_PROFILE, export_warc
from pipeline.records import FetchOutcome, FetchResult, Target
from pipeline.serve.localserver import RequestLog, Route, serve
from tests.fetch_support import _server, archive, site  # noqa: F401 - fixtures
from tests.test_fetch import (
    POLICY_EN,
    POLICY_ZH,
    Site,
    _target_fetch,
    _Validating,
    get,
    settings_for,
)


def read_warc(path: Path) -> list[tuple[str, dict[str, str], dict[str, str] | None, str | None, bytes]]:
    """(type, WARC headers, HTTP headers, HTTP status line, content) of every record, in file order."""
    out = []
    with path.open("rb") as stream:
        for record in ArchiveIterator(stream):
            http = dict(record.http_headers.headers) if record.http_headers else None
            status = None
            if record.http_headers is not None:
                status = record.http_headers.statusline
                if record.rec_type == "request":  # warcio reads the method as the "protocol"
                    status = f"{record.http_headers.protocol} {status}"
            out.append((record.rec_type, dict(record.rec_headers.headers), http, status, record.content_stream().read()))
    return out


@pytest.fixture
def fetched(site: Site, tmp_path: Path, archive: Archive) -> tuple[str, FetchResult, FetchResult]:
    routes = {
        "/en": Route(POLICY_EN.encode(), headers=(("ETag", '"e1"'),)),
        "/zh": Route(gzip.compress(POLICY_ZH.encode()), headers=(("Content-Encoding", "gzip"),)),
    }
    with site.serve(routes) as base:
        en = get(base + "/en", settings_for(tmp_path, obey_robots=False), archive)
        zh = get(base + "/zh", settings_for(tmp_path, obey_robots=False), archive)
    assert en.outcome is FetchOutcome.OK and zh.outcome is FetchOutcome.OK
    return base, en, zh


@pytest.mark.parametrize("name", ["audit.warc.gz", "audit.warc"])
def test_exported_warc_reads_back_request_response_and_metadata(
    tmp_path: Path, archive: Archive, fetched: tuple[str, FetchResult, FetchResult], name: str
) -> None:
    base, en, zh = fetched
    out = tmp_path / "out" / name
    assert export_warc(archive, [en, zh], out, user_agent="policyaudit-test (+https://example.org)") == 2
    records = read_warc(out)
    # warcio writes a pair response first, then its request
    assert [r[0] for r in records] == ["warcinfo", "response", "request", "metadata", "response", "request", "metadata"]
    _, resp_h, resp_http, resp_status, resp_body = records[1]
    _, req_h, req_http, req_status, _ = records[2]
    assert resp_h["WARC-Target-URI"] == base + "/en" and req_h["WARC-Target-URI"] == base + "/en"
    assert req_h["WARC-Concurrent-To"] == resp_h["WARC-Record-ID"]
    assert req_status == "GET /en HTTP/1.1" and req_http and req_http["User-Agent"] == "policyaudit-test (+https://example.org)"
    assert resp_status == "200 OK" and resp_http and resp_http["etag"] == '"e1"'
    assert resp_body == POLICY_EN.encode()
    assert resp_h["WARC-Date"].startswith(en.fetched_at.strftime("%Y-%m-%dT%H:%M"))
    meta = json.loads(records[3][4])
    assert meta["outcome"] == "ok" and meta["sha256"] == en.sha256
    assert records[3][1]["WARC-Concurrent-To"] == resp_h["WARC-Record-ID"]


def test_gzip_encoded_response_is_stored_decoded_without_content_encoding(
    tmp_path: Path, archive: Archive, fetched: tuple[str, FetchResult, FetchResult]
) -> None:
    _, _, zh = fetched
    out = tmp_path / "zh.warc.gz"
    export_warc(archive, [zh], out)
    response = next(r for r in read_warc(out) if r[0] == "response")
    http = {k.lower(): v for k, v in (response[2] or {}).items()}
    assert "content-encoding" not in http
    assert http["x-policyaudit-original-content-encoding"] == "gzip"
    assert http["content-length"] == str(len(POLICY_ZH.encode()))
    assert response[4] == POLICY_ZH.encode()


def test_failed_snapshot_gets_a_metadata_record_only(tmp_path: Path, archive: Archive) -> None:
    failed = FetchResult(requested_url="https://example.cn/privacy", outcome=FetchOutcome.TIMEOUT,
                         fetched_at=datetime(2026, 11, 2, 8, 0, tzinfo=UTC), error="ReadTimeout after 20.0s")
    out = tmp_path / "f.warc.gz"
    assert export_warc(archive, [failed], out) == 0
    records = read_warc(out)
    assert [r[0] for r in records] == ["warcinfo", "metadata"]
    meta = json.loads(records[1][4])
    assert meta["outcome"] == "timeout" and meta["error"] == "ReadTimeout after 20.0s"
    assert records[1][1]["WARC-Target-URI"] == "https://example.cn/privacy"


def test_not_modified_snapshot_is_a_revisit_with_the_body_kept_once(site: Site, tmp_path: Path, archive: Archive) -> None:
    settings = settings_for(tmp_path, obey_robots=False)
    with site.serve({"/privacy": _Validating(POLICY_EN.encode())}) as base:
        target = Target(id="v", name="V", kind="site", policy_url=base + "/privacy")
        first = _target_fetch(target, settings, archive)
        again = _target_fetch(target, settings, archive, previous=validators_of(first))
    assert again.not_modified
    alone = tmp_path / "again.warc.gz"
    export_warc(archive, [again], alone)
    kinds = [r[0] for r in read_warc(alone)]
    assert kinds == ["warcinfo", "revisit", "request", "resource", "metadata"]
    revisit = next(r for r in read_warc(alone) if r[0] == "revisit")
    assert revisit[1]["WARC-Profile"] == NOT_MODIFIED_PROFILE and revisit[3] == "304 Not Modified"
    resource = next(r for r in read_warc(alone) if r[0] == "resource")
    assert resource[4] == POLICY_EN.encode()
    both = tmp_path / "both.warc.gz"
    export_warc(archive, [first, again], both)
    assert [r[0] for r in read_warc(both)].count("resource") == 0  # the body is already in the response record


def test_unwritable_warc_path_raises_archive_error(tmp_path: Path, archive: Archive) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ArchiveError, match="cannot write WARC"):
        export_warc(archive, [], blocker / "x.warc.gz")
