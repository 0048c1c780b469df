"""Old versions of a policy from the Internet Archive (``--as-of YYYY-MM-DD``).

Pure functions around the Wayback CDX API; :mod:`pipeline.fetch.finder` does the requests (so the
archive is fetched as politely and as safely as any site)::

    cdx = cdx_query_url("https://web.archive.org", "https://example.com/privacy", date(2019, 3, 1))
    # https://web.archive.org/cdx/search/cdx?url=https%3A%2F%2Fexample.com%2Fprivacy&output=json&...
    capture = closest_capture(parse_cdx(body), date(2019, 3, 1), window_days=366)
    replay_url("https://web.archive.org", capture)
    # https://web.archive.org/web/20190228101500id_/https://example.com/privacy   (original bytes)
    split_replay_url("https://web.archive.org/web/20190228101500id_/https://example.com/privacy")
    # ("20190228101500", "https://example.com/privacy")

The ``id_`` replay flag asks for the page exactly as captured, links not rewritten, so the
links of an archived homepage are the live URLs of that day; each is looked up again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

CDX_PATH = "/cdx/search/cdx"
CDX_FIELDS = ("timestamp", "original", "statuscode", "mimetype", "digest")
CDX_LIMIT = 10
_TIMESTAMP = re.compile(r"^\d{14}$")
_REPLAY = re.compile(r"/web/(\d{14})(?:[a-z]{2}_)?/(https?://.+)$", re.I)


@dataclass(frozen=True)
class Capture:
    """One capture in the Internet Archive's index."""

    timestamp: str  # YYYYMMDDhhmmss, UTC
    original: str  # the URL as captured
    status: str  # HTTP status of the capture ("200", "301", "-" for revisits)
    mimetype: str = ""
    digest: str = ""

    @property
    def when(self) -> datetime:
        return datetime.strptime(self.timestamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def _stamp(day: date) -> str:
    return day.strftime("%Y%m%d")


def cdx_query_url(base: str, url: str, as_of: date, window_days: int = 366) -> str:
    """The CDX query for captures of ``url`` closest to ``as_of`` (2xx/3xx only, within the window)."""
    params = {
        "url": url,
        "output": "json",
        "fl": ",".join(CDX_FIELDS),
        "closest": _stamp(as_of) + "120000",
        "sort": "closest",
        "from": _stamp(as_of - timedelta(days=window_days)),
        "to": _stamp(as_of + timedelta(days=window_days)),
        "filter": "statuscode:[23]..",
        "limit": str(CDX_LIMIT),
    }
    return base.rstrip("/") + CDX_PATH + "?" + urlencode(params)


def parse_cdx(body: bytes | str) -> list[Capture]:
    """Captures from a CDX JSON answer (a header row, then rows). Unreadable rows are skipped.

    Raises ``ValueError`` if the answer is not CDX JSON at all.
    """
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    if not text.strip():
        return []
    rows = json.loads(text)
    if not isinstance(rows, list):
        raise ValueError("CDX answer is not a JSON list")
    if not rows:
        return []
    header = rows[0]
    if not isinstance(header, list) or "timestamp" not in header or "original" not in header:
        raise ValueError(f"CDX answer has no header row with timestamp and original: {str(header)[:200]}")
    index = {name: i for i, name in enumerate(header)}
    out: list[Capture] = []
    for row in rows[1:]:
        if not isinstance(row, list) or len(row) != len(header):
            continue  # e.g. the empty row before a resume key
        stamp = str(row[index["timestamp"]])
        if not _TIMESTAMP.match(stamp):
            continue
        out.append(
            Capture(
                timestamp=stamp,
                original=str(row[index["original"]]),
                status=str(row[index["statuscode"]]) if "statuscode" in index else "",
                mimetype=str(row[index["mimetype"]]) if "mimetype" in index else "",
                digest=str(row[index["digest"]]) if "digest" in index else "",
            )
        )
    return out


def closest_capture(captures: list[Capture], as_of: date, window_days: int = 366) -> Capture | None:
    """The 2xx/3xx capture closest to noon UTC of ``as_of``, within ``window_days``; ties go to the earlier one."""
    noon = datetime(as_of.year, as_of.month, as_of.day, 12, tzinfo=UTC)
    usable = [c for c in captures if c.status[:1] in ("2", "3") and abs(c.when - noon) <= timedelta(days=window_days)]
    if not usable:
        return None
    return min(usable, key=lambda c: (abs(c.when - noon), c.timestamp))


def replay_url(base: str, capture: Capture) -> str:
    """The replay URL giving the captured bytes unchanged (``id_``)."""
    return f"{base.rstrip('/')}/web/{capture.timestamp}id_/{capture.original}"


def split_replay_url(url: str) -> tuple[str, str] | None:
    """``(timestamp, original URL)`` of a Wayback replay URL, or None if it is not one."""
    match = _REPLAY.search(url)
    if not match:
        return None
    return match.group(1), match.group(2)
