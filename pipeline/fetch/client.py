"""One URL: the HTTP client, redirects checked hop by hop, retries, conditional requests, the size cap.

    async with make_client(settings) as client:
        result = await fetch_url(client, "https://example.com/privacy", settings, archive)

Retries: a 429 or 5xx answer, or a connection dropped mid-answer, is retried up to
``http_retries`` times, waiting ``retry_backoff`` x 2^n seconds or the server's Retry-After if
longer (the whole host waits, and the wait does not count against ``total_timeout``). A
Retry-After over ``max_retry_after`` ends the fetch at once as ``rate_limited``, the asked wait
in the error. Re-audits pass the previous snapshot's :class:`~pipeline.records.Validators`:
the request to that URL carries If-None-Match / If-Modified-Since, and a 304 gives an OK
result with the previous body (read back from the archive) and ``not_modified=True``.

Safety: redirects are followed here, not by httpx, so each hop is checked by
:mod:`pipeline.fetch.netguard` (unless ``allow_private``); bodies are streamed and cut off at
``max_bytes``, counted after decompression, which is done in bounded steps
(:mod:`pipeline.fetch.bodies`) so a decompression bomb is stopped after ``max_bytes`` of
output, never inflated whole.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
import zlib
from datetime import UTC, datetime
from urllib.parse import urljoin

import httpx

from pipeline.content.charset import decode_body, sniff_kind
from pipeline.fetch import netguard
from pipeline.fetch.archive import Archive, ArchiveError
from pipeline.fetch.bodies import _decoded_chunks, _Stop
from pipeline.fetch.politeness import REDIRECT_CODES, FetchSession, _current_deadline, spend_bytes
from pipeline.records import FetchOutcome, FetchResult, Validators
from pipeline.settings import Settings

ACCEPT = "text/html,application/xhtml+xml,application/pdf;q=0.9,text/plain;q=0.8,*/*;q=0.5"
ACCEPT_LANGUAGE = "zh-CN,zh;q=0.9,en;q=0.8"


RETRY_CODES = {429, 500, 502, 503, 504}
ACCEPT_ENCODING = "gzip, deflate"  # decoded here, in bounded steps (see _Inflater)


def make_client(settings: Settings) -> httpx.AsyncClient:
    """An httpx client for fetching: project user agent, timeouts from settings, no auto-redirects.

    Unless ``settings.allow_private``, its connections go through
    :class:`pipeline.fetch.netguard.GuardedBackend`, which refuses non-public addresses at connect time.
    Proxies from the environment are not used (every address must be checked).
    """
    timeout = httpx.Timeout(
        connect=settings.connect_timeout,
        read=settings.read_timeout,
        write=settings.read_timeout,
        pool=settings.connect_timeout,
    )
    conns = max(settings.concurrency, 1)
    limits = httpx.Limits(max_connections=conns * 2, max_keepalive_connections=conns, keepalive_expiry=15.0)
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False, retries=0)
    if not settings.allow_private:
        pool = getattr(transport, "_pool", None)
        if pool is not None and hasattr(pool, "_network_backend"):
            pool._network_backend = netguard.GuardedBackend()
    return httpx.AsyncClient(
        transport=transport,
        headers={
            "User-Agent": settings.user_agent, "Accept": ACCEPT, "Accept-Language": ACCEPT_LANGUAGE,
            "Accept-Encoding": ACCEPT_ENCODING,
        },
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )


# ---------------------------------------------------------------- one URL


def _now() -> datetime:
    return datetime.now(UTC)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks to wait (delay-seconds or an HTTP date), or None if absent/unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or _now())).total_seconds())


def _backoff(settings: Settings, retries_done: int) -> float:
    return max(settings.retry_backoff, 0.0) * (2**retries_done)


_TRANSIENT = (httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


async def fetch_url(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    archive: Archive,
    *,
    session: FetchSession | None = None,
    validators: Validators | None = None,
    keep: bool = True,
) -> FetchResult:
    """Fetch one URL (following redirects), archive the body if OK. Never raises for a failure of the URL.

    ``validators`` (from the previous audit) make the request to ``validators.url`` conditional.
    ``keep=False`` does not archive the body (index lookups).
    """
    session = session or FetchSession(settings)
    started = time.monotonic()
    fetched_at = _now()
    state: dict[str, object] = {"final_url": None, "retries": 0}

    def failed(outcome: FetchOutcome, error: str, **fields: object) -> FetchResult:
        merged: dict[str, object] = {"final_url": state["final_url"], "retries": state["retries"], **fields}
        return FetchResult(
            requested_url=url, outcome=outcome, fetched_at=fetched_at, error=error,
            elapsed_s=time.monotonic() - started, **merged,  # type: ignore[arg-type]
        )

    try:
        async with asyncio.timeout(settings.total_timeout) as deadline:
            token = _current_deadline.set(deadline)
            try:
                fields = await _fetch_hops(client, url, settings, archive, session, state, validators, keep)
            finally:
                _current_deadline.reset(token)
        return FetchResult(
            requested_url=url, outcome=FetchOutcome.OK, fetched_at=fetched_at,
            elapsed_s=time.monotonic() - started, retries=state["retries"], **fields,  # type: ignore[arg-type]
        )
    except _Stop as stop:
        return failed(stop.outcome, stop.error, **stop.fields)
    except (TimeoutError, httpx.TimeoutException) as exc:
        kind = type(exc).__name__ if isinstance(exc, httpx.TimeoutException) else "total timeout"
        return failed(
            FetchOutcome.TIMEOUT,
            f"{kind} after {time.monotonic() - started:.1f}s (total_timeout={settings.total_timeout}s)",
        )
    except httpx.HTTPError as exc:
        text = str(exc) or type(exc).__name__
        outcome = FetchOutcome.REFUSED_ADDRESS if netguard.REFUSED_PREFIX in text else FetchOutcome.NETWORK_ERROR
        after = f" (after {state['retries']} retries)" if state["retries"] else ""
        return failed(outcome, f"{type(exc).__name__}: {text}{after}")
    except (OSError, ValueError, UnicodeError, zlib.error) as exc:
        return failed(FetchOutcome.NETWORK_ERROR, f"{type(exc).__name__}: {exc}")


async def _fetch_hops(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    archive: Archive,
    session: FetchSession,
    state: dict[str, object],
    validators: Validators | None,
    keep: bool,
) -> dict[str, object]:
    current = url
    seen = [url]
    problem = netguard.url_problem(url)
    if problem:
        raise _Stop(FetchOutcome.INVALID_URL, problem)
    retries = 0
    use_validators = validators is not None and bool(validators.etag or validators.last_modified)
    while True:
        state["final_url"] = current
        state["retries"] = retries
        if settings.obey_robots:
            verdict = await session.robots_verdict(client, current)
            if verdict:
                raise _Stop(FetchOutcome.ROBOTS_DISALLOWED, verdict)
        wait: float | None = None  # set: try this URL again after waiting
        count_retry = True
        body: bytes | None = None
        async with session.slot(current):
            refusal = await netguard.check_url(current, settings.allow_private)
            if refusal:
                outcome = FetchOutcome.INVALID_URL if netguard.url_problem(current) else FetchOutcome.REFUSED_ADDRESS
                raise _Stop(outcome, refusal)
            conditional = use_validators and validators is not None and current == validators.url
            extra: dict[str, str] = {}
            if conditional and validators is not None:
                if validators.etag:
                    extra["If-None-Match"] = validators.etag
                if validators.last_modified:
                    extra["If-Modified-Since"] = validators.last_modified
            try:
                request = client.build_request("GET", current, headers=extra)
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise _Stop(FetchOutcome.INVALID_URL, f"{current}: {exc}") from exc
            try:
                response = await client.send(request, stream=True)
            except _TRANSIENT as exc:
                if netguard.REFUSED_PREFIX in str(exc) or retries >= settings.http_retries:
                    raise
                wait = _backoff(settings, retries)
            else:
                try:
                    status = response.status_code
                    ctype = response.headers.get("content-type")
                    location = response.headers.get("location")
                    if status in RETRY_CODES:
                        reason = f"HTTP {status} {response.reason_phrase or ''}".strip()
                        asked = retry_after_seconds(response.headers.get("retry-after"))
                        if asked is not None and asked > settings.max_retry_after:
                            raise _Stop(
                                FetchOutcome.RATE_LIMITED,
                                f"{reason} from {current} asks to wait {asked:.0f} s (Retry-After), "
                                f"more than max_retry_after={settings.max_retry_after:g} s",
                                status_code=status, content_type=ctype,
                            )
                        if retries >= settings.http_retries:
                            raise _Stop(
                                FetchOutcome.RATE_LIMITED if status == 429 else FetchOutcome.HTTP_ERROR,
                                f"{reason} from {current}" + (f" after {retries} retries" if retries else ""),
                                status_code=status, content_type=ctype,
                            )
                        wait = max(asked or 0.0, _backoff(settings, retries))
                    elif status == 304 and conditional and validators is not None:
                        try:
                            old = await asyncio.to_thread(archive.get, validators.sha256)
                        except ArchiveError:
                            use_validators = False  # previous body lost: ask again, unconditionally
                            wait, count_retry = 0.0, False
                        else:
                            return _not_modified(response, current, validators, old, archive, retries)
                    elif status in REDIRECT_CODES and location:
                        nxt = urljoin(current, location.strip())
                        if nxt in seen:
                            raise _Stop(
                                FetchOutcome.TOO_MANY_REDIRECTS,
                                "redirect loop: " + " -> ".join([*seen[seen.index(nxt):], nxt]),
                                status_code=status,
                            )
                        if len(seen) > settings.max_redirects:
                            raise _Stop(
                                FetchOutcome.TOO_MANY_REDIRECTS,
                                f"more than {settings.max_redirects} redirects (last {current} -> {nxt})",
                                status_code=status,
                            )
                        seen.append(nxt)
                        current = nxt
                        continue
                    elif status >= 300:
                        reason = response.reason_phrase or ""
                        raise _Stop(
                            FetchOutcome.HTTP_ERROR, f"HTTP {status} {reason}".strip() + f" from {current}",
                            status_code=status, content_type=ctype,
                        )
                    else:
                        try:
                            body = await _read_capped(response, settings.max_bytes, current)
                        except (httpx.ReadError, httpx.RemoteProtocolError):
                            if retries >= settings.http_retries:
                                raise
                            wait = _backoff(settings, retries)
                        headers = {k: v for k, v in response.headers.items()}
                finally:
                    await response.aclose()
        if wait is not None:
            if count_retry:
                retries += 1
            session.hold_host(current, wait)
            continue
        break

    assert body is not None
    state["retries"] = retries
    kind = sniff_kind(body, ctype)
    if kind == "binary":
        raise _Stop(
            FetchOutcome.UNSUPPORTED_CONTENT,
            f"binary content ({ctype or 'no content type'}, {len(body)} bytes) from {current}",
            status_code=status, content_type=ctype, size=len(body),
        )
    encoding = None
    if kind in ("html", "text"):
        _, encoding = await asyncio.to_thread(decode_body, body, ctype) if len(body) > 200_000 else decode_body(body, ctype)
    sha = await asyncio.to_thread(archive.put, body, headers) if keep else None
    return {
        "final_url": current, "status_code": status, "content_type": ctype,
        "sha256": sha, "size": len(body), "encoding": encoding, "body": body,
        "etag": headers.get("etag"), "last_modified": headers.get("last-modified"),
    }


def _not_modified(
    response: httpx.Response, url: str, validators: Validators, old: bytes, archive: Archive, retries: int
) -> dict[str, object]:
    """The fields of a 304 answer: the previous body and its archived headers."""
    old_headers = archive.get_headers(validators.sha256) or {}
    ctype = old_headers.get("content-type") or response.headers.get("content-type")
    kind = sniff_kind(old, ctype)
    encoding = decode_body(old, ctype)[1] if kind in ("html", "text") else None
    return {
        "final_url": url, "status_code": 304, "content_type": ctype, "sha256": validators.sha256,
        "size": len(old), "encoding": encoding, "body": old, "not_modified": True,
        "etag": response.headers.get("etag") or validators.etag,
        "last_modified": response.headers.get("last-modified") or validators.last_modified,
    }


async def _read_capped(response: httpx.Response, max_bytes: int, url: str) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.strip().isdigit() and int(declared) > max_bytes:
        raise _Stop(
            FetchOutcome.TOO_LARGE, f"{url} declares {int(declared)} bytes, over max_bytes={max_bytes}",
            status_code=response.status_code, content_type=response.headers.get("content-type"),
        )
    body = bytearray()
    try:
        async for chunk in _decoded_chunks(response, url):
            body += chunk
            if not spend_bytes(len(chunk)):
                raise _Stop(
                    FetchOutcome.BUDGET_EXCEEDED, f"budget exceeded: bytes (the target's pages passed target_max_bytes; at {url})",
                    status_code=response.status_code, content_type=response.headers.get("content-type"),
                )
            if len(body) > max_bytes:
                packed = " (after decompression)" if response.headers.get("content-encoding") else ""
                raise _Stop(
                    FetchOutcome.TOO_LARGE, f"{url} sent more than max_bytes={max_bytes} bytes{packed}; cut off",
                    status_code=response.status_code, content_type=response.headers.get("content-type"),
                )
    except zlib.error as exc:
        raise _Stop(
            FetchOutcome.NETWORK_ERROR, f"{url}: corrupt {response.headers.get('content-encoding')} body ({exc})",
            status_code=response.status_code, content_type=response.headers.get("content-type"),
        ) from exc
    return bytes(body)


def validators_from_archive(archive: Archive, url: str | None, sha256: str | None) -> Validators | None:
    """Validators for the next audit from a previous snapshot (its final URL and archived headers).

    None when there is nothing to validate with (no URL, no archived body, or no ETag/Last-Modified).
    """
    if not url or not sha256:
        return None
    try:
        if not archive.has(sha256):
            return None
        headers = archive.get_headers(sha256) or {}
    except ArchiveError:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    etag, modified = lower.get("etag"), lower.get("last-modified")
    if not etag and not modified:
        return None
    return Validators(url=url, sha256=sha256, etag=etag, last_modified=modified)


def validators_of(result: FetchResult) -> Validators | None:
    """Validators for the next audit straight from an OK result."""
    if result.outcome is not FetchOutcome.OK or not result.sha256 or not result.final_url:
        return None
    if not result.etag and not result.last_modified:
        return None
    return Validators(url=result.final_url, sha256=result.sha256, etag=result.etag, last_modified=result.last_modified)
