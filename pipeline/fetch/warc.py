"""Export fetched snapshots as a WARC file that archivists' tools (pywb, warcio, ReplayWeb.page) open.

    n = export_warc(archive, snapshots, Path("audit-2026.warc.gz"))

For each snapshot (a :class:`~pipeline.records.FetchResult`, e.g. from the store, no body needed)
whose body is in the archive, in this order:

- ``request``: the GET we sent (user agent, Accept headers), WARC-Concurrent-To the response;
- ``response``: status line, the archived response headers, the body. The archive keeps bodies
  decoded, so Content-Encoding/Transfer-Encoding are dropped (kept as
  ``X-Policyaudit-Original-Content-Encoding``) and Content-Length is the stored length;
- for a re-audit answered 304: a ``revisit`` record (profile server-not-modified) with the 304
  headers, plus the unchanged body once as a ``resource`` record unless this file already has it;
- for a page rendered by Chromium: a ``resource`` record (it is a DOM, not an HTTP response);
- ``metadata`` (JSON): outcome, requested URL, discovery path, click depth, archive timestamp...

A snapshot without a body (a failure) gets only its ``metadata`` record, so the file says what
happened to every service. The file is written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import http
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.timeutils import datetime_to_iso_date
from warcio.warcwriter import WARCWriter

from pipeline.fetch.archive import Archive, ArchiveError
from pipeline.fetch.client import ACCEPT, ACCEPT_ENCODING, ACCEPT_LANGUAGE
from pipeline.records import FetchResult
from pipeline.settings import VERSION, Settings

NOT_MODIFIED_PROFILE = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
_DROPPED = {"content-encoding", "transfer-encoding", "content-length"}


def _status_line(code: int | None) -> str:
    code = code or 200
    try:
        return f"{code} {http.HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Unknown"


def _request_headers(url: str, user_agent: str) -> StatusAndHeaders:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = [
        ("Host", parts.netloc), ("User-Agent", user_agent), ("Accept", ACCEPT),
        ("Accept-Language", ACCEPT_LANGUAGE), ("Accept-Encoding", ACCEPT_ENCODING),
    ]
    return StatusAndHeaders(f"GET {target} HTTP/1.1", headers, is_http_request=True)


def _response_headers(stored: Mapping[str, str], length: int) -> list[tuple[str, str]]:
    out = [(k, v) for k, v in stored.items() if k.lower() not in _DROPPED]
    for k, v in stored.items():
        if k.lower() == "content-encoding":
            out.append(("X-Policyaudit-Original-Content-Encoding", v))
    out.append(("Content-Length", str(length)))
    return out


def _metadata(snap: FetchResult) -> bytes:
    fields = {
        "requested_url": snap.requested_url, "final_url": snap.final_url, "outcome": str(snap.outcome),
        "status_code": snap.status_code, "error": snap.error, "sha256": snap.sha256, "size": snap.size,
        "encoding": snap.encoding, "discovery_path": list(snap.discovery_path), "click_depth": snap.click_depth,
        "not_modified": snap.not_modified, "archive_timestamp": snap.archive_timestamp,
        "archive_url": snap.archive_url, "retries": snap.retries, "warnings": list(snap.warnings),
        "fetched_at": snap.fetched_at.isoformat(),
    }
    return json.dumps(fields, ensure_ascii=False, indent=1).encode("utf-8")


def export_warc(
    archive: Archive,
    snapshots: Iterable[FetchResult],
    out_path: Path,
    *,
    user_agent: str | None = None,
    info: Mapping[str, str] | None = None,
) -> int:
    """Write ``snapshots`` to ``out_path`` (gzipped per record if it ends in ``.gz``); return how many
    snapshots had a body to export. Raises :class:`~pipeline.fetch.archive.ArchiveError` if the file cannot be written.
    """
    out_path = Path(out_path)
    agent = user_agent or Settings.model_fields["user_agent"].default
    exported = 0
    written_bodies: set[str] = set()
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".warc", dir=out_path.parent)
    except OSError as exc:
        raise ArchiveError(f"cannot write WARC file {out_path}: {exc}") from exc
    try:
        with os.fdopen(fd, "wb") as stream:
            writer = WARCWriter(stream, gzip=out_path.name.endswith(".gz"), warc_version="1.1")
            writer.write_record(writer.create_warcinfo_record(out_path.name, {
                "software": f"policyaudit/{VERSION}", "format": "WARC File Format 1.1",
                "description": "privacy policies fetched for a transparency audit", **(info or {}),
            }))
            for snap in snapshots:
                exported += _write_snapshot(writer, archive, snap, agent, written_bodies)
        os.replace(tmp, out_path)
        tmp = ""
    except OSError as exc:
        raise ArchiveError(f"cannot write WARC file {out_path}: {exc}") from exc
    finally:
        if tmp:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return exported


def _write_snapshot(writer: WARCWriter, archive: Archive, snap: FetchResult, agent: str, written: set[str]) -> int:
    uri = snap.archive_url or snap.final_url or snap.requested_url
    date = datetime_to_iso_date(snap.fetched_at.replace(tzinfo=None), use_micros=True)
    body = archive.get(snap.sha256) if snap.sha256 and archive.has(snap.sha256) else None
    main_id: str | None = None
    if body is not None:
        assert snap.sha256 is not None
        stored = archive.get_headers(snap.sha256) or {}
        if any(k.lower() == "x-policyaudit-renderer" for k in stored):
            main = _resource(writer, uri, date, body, stored)
            written.add(snap.sha256)
        elif snap.not_modified:
            headers = [(k, v) for k, v in (("ETag", snap.etag), ("Last-Modified", snap.last_modified)) if v]
            main = writer.create_warc_record(
                uri, "revisit", http_headers=StatusAndHeaders(_status_line(304), headers, protocol="HTTP/1.1"),
                warc_headers_dict={"WARC-Date": date},
            )
            main.rec_headers.add_header("WARC-Profile", NOT_MODIFIED_PROFILE)
            main.rec_headers.add_header("WARC-Refers-To-Target-URI", uri)
        else:
            http_headers = StatusAndHeaders(
                _status_line(snap.status_code), _response_headers(stored, len(body)), protocol="HTTP/1.1"
            )
            main = writer.create_warc_record(
                uri, "response", payload=BytesIO(body), length=len(body), http_headers=http_headers,
                warc_headers_dict={"WARC-Date": date},
            )
            written.add(snap.sha256)
        main_id = main.rec_headers.get_header("WARC-Record-ID")
        if main.rec_type in ("response", "revisit"):
            request = writer.create_warc_record(
                uri, "request", http_headers=_request_headers(uri, agent), warc_headers_dict={"WARC-Date": date}
            )
            writer.write_request_response_pair(request, main)
        else:
            writer.write_record(main)
        if snap.not_modified and snap.sha256 not in written:
            writer.write_record(_resource(writer, uri, date, body, stored))
            written.add(snap.sha256)
    meta = _metadata(snap)
    extra = {"WARC-Date": date, **({"WARC-Concurrent-To": main_id} if main_id else {})}
    writer.write_record(writer.create_warc_record(
        uri, "metadata", payload=BytesIO(meta), length=len(meta), warc_content_type="application/json",
        warc_headers_dict=extra,
    ))
    return 1 if body is not None else 0


def _resource(writer: WARCWriter, uri: str, date: str, body: bytes, stored: Mapping[str, str]):  # type: ignore[no-untyped-def]
    ctype = next((v for k, v in stored.items() if k.lower() == "content-type"), "application/octet-stream")
    return writer.create_warc_record(
        uri, "resource", payload=BytesIO(body), length=len(body), warc_content_type=ctype,
        warc_headers_dict={"WARC-Date": date},
    )
