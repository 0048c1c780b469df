"""Fetch stage: get each target's privacy policy, politely, and archive the bytes.

    settings = Settings()
    archive = Archive(settings.archive_dir)
    results = fetch_targets(targets, settings, archive)          # sync, one event loop
    # or, inside async code, with your own client (tests, flows):
    async with make_client(settings) as client:
        results = await fetch_all(targets, settings, archive, client=client)

Every URL ends in one :class:`~pipeline.records.FetchOutcome`; a failure of one URL or one
target is a recorded result, never an exception (only a broken archive, e.g. a full disk,
raises :class:`~pipeline.fetch.archive.ArchiveError`, because nothing after it can work).

Politeness (Scrapy's defaults): robots.txt obeyed (cached per origin for a run, a 4xx
robots.txt allows everything, a 5xx one disallows everything per RFC 9309), a user agent
that names the project, at most ``per_host_concurrency`` requests in flight per host and
``per_host_delay`` seconds between request starts to one host, ``concurrency`` in all.
Time spent queueing for a host does not count against ``total_timeout``.

Retries: a 429 or 5xx answer, or a connection dropped mid-answer, is retried up to
``http_retries`` times, waiting ``retry_backoff`` x 2^n seconds or the server's Retry-After if
longer (the whole host waits, and the wait does not count against ``total_timeout``). A
Retry-After over ``max_retry_after`` ends the fetch at once as ``rate_limited``, the asked wait
in the error. Re-audits pass the previous snapshot's :class:`~pipeline.records.Validators`:
the request to that URL carries If-None-Match / If-Modified-Since, and a 304 gives an OK
result with the previous body (read back from the archive) and ``not_modified=True``.

Finding the policy (:func:`fetch_target`): the policy URL, else a breadth-first search from
the homepage (:mod:`pipeline.fetch.discover`), recording the path and click depth and warning when
the policy is more than ``max_policy_clicks`` clicks away; an app-store listing leads to the
developer's policy link (:mod:`pipeline.fetch.appstores`); a user agreement without privacy rules
is not taken for the policy (``not_a_policy`` when the policy URL points at one); an app shell
that needs JavaScript is ``needs_javascript`` unless ``render_javascript`` lets Chromium render
it (:mod:`pipeline.fetch.render`). With ``as_of`` every page comes from the Internet Archive capture
closest to that date (:mod:`pipeline.fetch.history`), or ``no_archived_copy``.

Safety: redirects are followed here, not by httpx, so each hop is checked by
:mod:`pipeline.fetch.netguard` (unless ``allow_private``); bodies are streamed and cut off at
``max_bytes``, counted after decompression, which is done here in bounded steps so a
decompression bomb is stopped after ``max_bytes`` of output, never inflated whole.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import email.utils
import heapq
import re
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx
from protego import Protego

from pipeline.fetch import appstores

from pipeline.fetch import history

from pipeline.fetch import netguard

from pipeline.fetch import render
from pipeline.fetch.archive import Archive, ArchiveError
from pipeline.content.charset import decode_body, sniff_kind
from pipeline.fetch.discover import (
    STRONG,
    classify_page,
    find_policy_links,
    needs_javascript,
    site_key,
)
from pipeline.errors import PolicyAuditError
from pipeline.records import FetchOutcome, FetchResult, Target, Validators
from pipeline.settings import Settings

ACCEPT = "text/html,application/xhtml+xml,application/pdf;q=0.9,text/plain;q=0.8,*/*;q=0.5"
ACCEPT_LANGUAGE = "zh-CN,zh;q=0.9,en;q=0.8"
REDIRECT_CODES = {301, 302, 303, 307, 308}
GONE_CODES = {404, 410}
ROBOTS_MAX_BYTES = 512_000
ROBOTS_MAX_REDIRECTS = 5
RETRY_CODES = {429, 500, 502, 503, 504}
ACCEPT_ENCODING = "gzip, deflate"  # decoded here, in bounded steps (see _Inflater)
# reads a PDF's text layer; given by the caller (the read stage), so fetching imports no reading
PdfText = Callable[[bytes], str]
INFLATE_STEP = 64 * 1024  # most output one decompression step may produce
CDX_MAX_BYTES = 2_000_000

# The asyncio.timeout of the fetch in progress: a host queue wait pushes its deadline back.
_current_deadline: contextvars.ContextVar[asyncio.Timeout | None] = contextvars.ContextVar(
    "policyaudit_fetch_deadline", default=None
)


@asynccontextmanager
async def _deadline_paused() -> AsyncIterator[None]:
    """Stop the clock of the fetch in progress (if any) inside this block."""
    deadline = _current_deadline.get()
    when = deadline.when() if deadline is not None else None
    if deadline is None or when is None:
        yield
        return
    loop = asyncio.get_running_loop()
    remaining = when - loop.time()
    deadline.reschedule(None)
    try:
        yield
    finally:
        deadline.reschedule(loop.time() + remaining)


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


# ---------------------------------------------------------------- politeness state of one run


@dataclass
class FetchSession:
    """Shared state of one run: concurrency slots, per-host pacing, robots.txt cache.

    :func:`fetch_all` makes one; :func:`fetch_url` and :func:`fetch_target` make a throwaway
    one when called alone.
    """

    settings: Settings
    _global: asyncio.Semaphore = field(init=False)
    _host_sems: dict[str, asyncio.Semaphore] = field(default_factory=dict, init=False)
    _host_locks: dict[str, asyncio.Lock] = field(default_factory=dict, init=False)
    _host_next: dict[str, float] = field(default_factory=dict, init=False)
    # robots.txt verdicts by origin; pass one dict to several sessions (batches of one audit) to share it
    _robots: dict[str, tuple[Protego | None, str | None]] = field(default_factory=dict)
    _robots_locks: dict[str, asyncio.Lock] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._global = asyncio.Semaphore(max(self.settings.concurrency, 1))

    @asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        """Hold a request slot for ``url``'s host (and a global one), after the host's delay.

        The total timeout of the fetch in progress is paused while queueing here.
        """
        host = (urlsplit(url).hostname or "").lower()
        loop = asyncio.get_running_loop()
        sem = self._host_sems.setdefault(host, asyncio.Semaphore(max(self.settings.per_host_concurrency, 1)))
        lock = self._host_locks.setdefault(host, asyncio.Lock())
        acquired_host = acquired_global = False
        async with _deadline_paused():  # queueing is not the site's fault
            try:
                await sem.acquire()
                acquired_host = True
                async with lock:
                    wait = self._host_next.get(host, 0.0) - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    self._host_next[host] = loop.time() + max(self.settings.per_host_delay, 0.0)
                await self._global.acquire()
                acquired_global = True
            finally:
                if acquired_host and not acquired_global:
                    sem.release()
        try:
            yield
        finally:
            self._global.release()
            sem.release()

    def hold_host(self, url: str, seconds: float) -> None:
        """Make every request to ``url``'s host wait ``seconds`` from now (Retry-After, backoff)."""
        host = (urlsplit(url).hostname or "").lower()
        until = asyncio.get_running_loop().time() + max(seconds, 0.0)
        self._host_next[host] = max(self._host_next.get(host, 0.0), until)

    async def robots_verdict(self, client: httpx.AsyncClient, url: str) -> str | None:
        """None if robots.txt lets us fetch ``url``, else the reason it does not."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        lock = self._robots_locks.setdefault(origin, asyncio.Lock())
        async with _deadline_paused():  # waiting for robots.txt (it has its own timeout)
            async with lock:
                if origin not in self._robots:
                    self._robots[origin] = await self._load_robots(client, origin)
        parser, blanket = self._robots[origin]
        if blanket is not None:
            return blanket
        if parser is not None and not parser.can_fetch(url, self.settings.user_agent):
            return f"robots.txt of {origin} disallows {parts.path or '/'} for our user agent"
        return None

    async def _load_robots(self, client: httpx.AsyncClient, origin: str) -> tuple[Protego | None, str | None]:
        """(parser, blanket refusal). 4xx or unreachable: allow all; 5xx: disallow all (RFC 9309)."""
        url = origin + "/robots.txt"
        for _ in range(ROBOTS_MAX_REDIRECTS + 1):
            if await netguard.check_url(url, self.settings.allow_private):
                return None, None  # the page fetch will be refused with the real reason
            try:
                async with self.slot(url):
                    async with asyncio.timeout(self.settings.total_timeout):
                        response = await client.send(client.build_request("GET", url), stream=True)
                        try:
                            if response.status_code in REDIRECT_CODES and response.headers.get("location"):
                                url = urljoin(url, response.headers["location"])
                                continue
                            if response.status_code >= 500:
                                return None, (
                                    f"robots.txt of {origin} answered HTTP {response.status_code}; "
                                    "the site is treated as disallowed (RFC 9309)"
                                )
                            if response.status_code >= 400:
                                return None, None
                            body = bytearray()
                            async for chunk in _decoded_chunks(response):
                                body += chunk
                                if len(body) >= ROBOTS_MAX_BYTES:
                                    break
                        finally:
                            await response.aclose()
            except (httpx.HTTPError, TimeoutError, OSError, _Stop):
                return None, None
            text, _ = decode_body(bytes(body[:ROBOTS_MAX_BYTES]), response.headers.get("content-type"))
            try:
                return Protego.parse(text), None
            except Exception:  # noqa: BLE001 - a robots.txt we cannot parse allows all
                return None, None
        return None, None


# ---------------------------------------------------------------- bodies: bounded decompression


class _Inflater:
    """Streaming gzip/deflate decoder that never produces more than INFLATE_STEP bytes per step.

    httpx's own decoders inflate each received chunk whole (a 64 KB chunk of zeros becomes
    ~64 MB at once); this one yields the output in steps, so reading stops at the size cap.
    """

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._d: zlib._Decompress | None = None  # deflate: chosen on the first bytes (zlib or raw)
        if coding in ("gzip", "x-gzip"):
            self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def _start(self, data: bytes) -> zlib._Decompress:
        if self._d is None:
            zlib_header = len(data) >= 2 and data[0] & 0x0F == 8 and ((data[0] << 8) | data[1]) % 31 == 0
            self._d = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        return self._d

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not data:
            return
        d = self._start(data)
        pending = data
        while True:
            out = d.decompress(pending, INFLATE_STEP)
            pending = d.unconsumed_tail
            if out:
                yield out
            if d.eof:
                rest = d.unused_data
                if self.coding in ("gzip", "x-gzip") and rest.strip(b"\x00"):
                    d = self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)  # next gzip member
                    pending = rest
                    continue
                return
            if not pending and len(out) < INFLATE_STEP:
                return

    def finish(self) -> bytes:
        if self._d is None or self._d.eof:
            return b""
        return self._d.flush(INFLATE_STEP)


def _inflaters(content_encoding: str | None, url: str) -> list[_Inflater]:
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    for coding in codings:
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise _Stop(
                FetchOutcome.UNSUPPORTED_CONTENT,
                f"{url} sent Content-Encoding {coding!r}, which we did not ask for and do not decode",
            )
    return [_Inflater(c) for c in reversed(codings)]  # the last coding applied is undone first


async def _decoded_chunks(response: httpx.Response, url: str = "") -> AsyncIterator[bytes]:
    """The body of a streamed response, decompressed in bounded steps."""
    try:
        already = response.content  # a response built in memory (e.g. by a MockTransport), decoded by httpx
    except httpx.ResponseNotRead:
        pass
    else:
        yield already
        return
    stages = _inflaters(response.headers.get("content-encoding"), url)

    def through(data: bytes, i: int = 0) -> Iterator[bytes]:
        if i == len(stages):
            yield data
            return
        for piece in stages[i].feed(data):
            yield from through(piece, i + 1)

    async for raw in response.aiter_raw():
        for piece in through(raw):
            yield piece
    for i, stage in enumerate(stages):
        tail = stage.finish()
        if tail:
            for piece in through(tail, i + 1):
                yield piece


# ---------------------------------------------------------------- one URL


def _now() -> datetime:
    return datetime.now(UTC)


class _Stop(Exception):
    """Internal: ends a fetch with a recorded outcome."""

    def __init__(self, outcome: FetchOutcome, error: str, **fields: object) -> None:
        super().__init__(error)
        self.outcome = outcome
        self.error = error
        self.fields = fields


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


# ---------------------------------------------------------------- one target


@dataclass
class _Finder:
    """Finding one target's policy: live or from the Internet Archive, by URL, discovery or app listing."""

    client: httpx.AsyncClient
    settings: Settings
    archive: Archive
    session: FetchSession
    previous: Validators | None = None
    pdf_text: PdfText | None = None

    async def get(self, url: str) -> FetchResult:
        if self.settings.as_of is None:
            return await fetch_url(
                self.client, url, self.settings, self.archive, session=self.session, validators=self.previous
            )
        return await self._get_archived(url)

    async def _get_archived(self, url: str) -> FetchResult:
        """The capture of ``url`` closest to ``as_of``: index lookup, then the replay of the raw bytes."""
        as_of = self.settings.as_of
        assert as_of is not None
        problem = netguard.url_problem(url)
        if problem:
            return FetchResult(requested_url=url, outcome=FetchOutcome.INVALID_URL, fetched_at=_now(), error=problem)
        window = self.settings.as_of_window_days
        query = history.cdx_query_url(self.settings.wayback_url, url, as_of, window)
        cdx = await fetch_url(
            self.client, query, self.settings.model_copy(update={"max_bytes": CDX_MAX_BYTES}), self.archive,
            session=self.session, keep=False,
        )
        if cdx.outcome is not FetchOutcome.OK:
            return replace(cdx, requested_url=url, final_url=None, error=f"Internet Archive index lookup for {url}: {cdx.error}")
        try:
            captures = history.parse_cdx(cdx.body or b"")
        except ValueError as exc:
            return replace(
                cdx, requested_url=url, final_url=None, outcome=FetchOutcome.NETWORK_ERROR, body=None,
                error=f"Internet Archive index answer for {url} is not CDX JSON: {exc}",
            )
        capture = history.closest_capture(captures, as_of, window)
        if capture is None:
            return FetchResult(
                requested_url=url, outcome=FetchOutcome.NO_ARCHIVED_COPY, fetched_at=_now(),
                elapsed_s=cdx.elapsed_s, retries=cdx.retries,
                error=f"the Internet Archive has no capture of {url} within {window} days of {as_of.isoformat()}"
                + (f" ({len(captures)} captures outside it or not 2xx/3xx)" if captures else ""),
            )
        replay = history.replay_url(self.settings.wayback_url, capture)
        page = await fetch_url(self.client, replay, self.settings, self.archive, session=self.session)
        landed = page.final_url or replay
        split = history.split_replay_url(landed)
        stamp, original = split if split is not None else (capture.timestamp, capture.original)
        return replace(page, requested_url=url, final_url=original, archive_timestamp=stamp, archive_url=landed)

    # -------------------------------------------------------- judging a fetched page

    def _html(self, page: FetchResult) -> str | None:
        if page.body is None or sniff_kind(page.body, page.content_type) != "html":
            return None
        return decode_body(page.body, page.content_type)[0]

    def _kind(self, page: FetchResult) -> str:
        """classify_page of an OK page: policy / agreement / js_shell / other (PDF and text judged by their text)."""
        body = page.body or b""
        kind = sniff_kind(body, page.content_type)
        if kind == "html":
            return classify_page(decode_body(body, page.content_type)[0])
        if kind == "text":
            return classify_page(decode_body(body, page.content_type)[0], is_html=False)
        if kind == "pdf" and self.pdf_text is not None:
            text = self.pdf_text(body)
            return classify_page(text, is_html=False) if text.strip() else "other"
        return "other"

    async def javascript(self, page: FetchResult, html: str) -> FetchResult:
        """An app shell: rendered with Chromium when allowed (the result is re-judged), else NEEDS_JAVASCRIPT."""
        url = page.final_url or page.requested_url
        reason = needs_javascript(html) or "page needs JavaScript"
        if not self.settings.render_javascript or self.settings.as_of is not None:
            why = "render_javascript is off" if not self.settings.render_javascript else "archived copies are not rendered"
            return replace(page, outcome=FetchOutcome.NEEDS_JAVASCRIPT, error=f"{url} needs JavaScript: {reason} ({why})")
        script_hosts = [
            urlsplit(urljoin(url, src)).hostname or ""
            for src in _SCRIPT_SRC.findall(html)
        ]
        try:
            dom = await render.render_dom(url, self.settings, script_hosts)
        except render.RenderFailed as exc:
            return replace(page, outcome=FetchOutcome.NEEDS_JAVASCRIPT, error=f"{url} needs JavaScript: {reason}; {exc}")
        still = needs_javascript(dom.decode("utf-8", errors="replace"))
        if still:
            return replace(
                page, outcome=FetchOutcome.NEEDS_JAVASCRIPT,
                error=f"{url} needs JavaScript: {reason}; rendered with Chromium, but still {still}",
            )
        headers = {
            "content-type": "text/html; charset=utf-8",
            "x-policyaudit-renderer": "chromium --dump-dom",
            "x-policyaudit-rendered-from": page.sha256 or "",
        }
        sha = await asyncio.to_thread(self.archive.put, dom, headers)
        return replace(
            page, body=dom, sha256=sha, size=len(dom), content_type=headers["content-type"], encoding="utf-8",
            warnings=(*page.warnings, f"rendered with Chromium; the unrendered page is archived as {page.sha256}"),
        )

    def _found(self, page: FetchResult, path: tuple[str, ...]) -> FetchResult:
        final = page.final_url or page.requested_url
        full = (*path, final)
        clicks = len(full) - 1
        warnings = page.warnings
        if clicks > self.settings.max_policy_clicks:
            warnings = (
                *warnings,
                (
                    f"policy is {clicks} clicks from the start page; more than {self.settings.max_policy_clicks} "
                    "counts as not public (2019 认定方法: 需多于4次点击)"
                ),
            )
        return replace(page, outcome=FetchOutcome.OK, error=None, discovery_path=full, click_depth=clicks, warnings=warnings)

    # -------------------------------------------------------- the three ways to a policy

    async def settle(self, page: FetchResult) -> FetchResult:
        """A page fetched from the target's policy URL: follow an app listing, refuse a bare user agreement."""
        html = self._html(page)
        if html is None:
            return page
        url = page.final_url or page.requested_url
        layout = appstores.detect_store(url, html)
        if layout is not None:
            return await self.from_listing(page, html, layout, ())
        verdict = classify_page(html)
        if verdict == "js_shell":
            return await self.javascript(page, html)
        if verdict == "agreement":
            found = await self.search(page, (), max_depth=1)
            if found.outcome is FetchOutcome.OK:
                return found
            return replace(
                page, outcome=FetchOutcome.NOT_A_POLICY,
                error=f"{url} is a user agreement without privacy rules, and links to no privacy policy",
            )
        return page

    async def discover(self, homepage: str) -> FetchResult:
        home = await self.get(homepage)
        if home.outcome is not FetchOutcome.OK:
            return replace(home, error=f"homepage: {home.error}")
        return await self.search(home, ())

    async def from_listing(
        self, listing: FetchResult, html: str, layout: appstores.StoreLayout, prefix: tuple[str, ...]
    ) -> FetchResult:
        """An app-store listing: the developer's policy link, then that page (or a search from it)."""
        listing_url = listing.final_url or listing.requested_url
        path = (*prefix, listing_url)
        link = appstores.find_app_policy_link(html, listing_url, layout)
        if link is None:
            return replace(
                listing, outcome=FetchOutcome.NO_POLICY_FOUND, discovery_path=path,
                error=f"the {layout.name} listing {listing_url} has no privacy policy link",
            )
        page = await self.get(link.url)
        if page.outcome is not FetchOutcome.OK:
            return replace(
                page, discovery_path=(*path, link.url),
                error=f"privacy policy link {link.text!r} on the {layout.name} listing: {page.error}",
            )
        verdict = self._kind(page)
        if verdict == "js_shell":
            html_page = self._html(page) or ""
            page = await self.javascript(page, html_page)
            if page.outcome is not FetchOutcome.OK:
                return replace(page, discovery_path=(*path, page.final_url or link.url))
            verdict = self._kind(page)
        if verdict == "policy" or (verdict == "other" and sniff_kind(page.body or b"", page.content_type) != "html"):
            return self._found(page, path)
        # the developer gave a homepage or a user agreement: look for the policy from there
        found = await self.search(page, path)
        if found.outcome is FetchOutcome.NO_POLICY_FOUND:
            return replace(found, error=f"{layout.name} privacy link {link.url}: {found.error}")
        return found

    async def search(self, start: FetchResult, prefix: tuple[str, ...], max_depth: int | None = None) -> FetchResult:
        """Breadth-first search from a fetched start page for a page that reads like a privacy policy.

        Level by level (depth <= ``max_discovery_depth``), best-scored links first within a level;
        weak "hub" links (legal, help, about) are followed only on the start page's own site.
        User agreements are not taken but their links are followed.
        """
        depth_limit = self.settings.max_discovery_depth if max_depth is None else max_depth
        start_url = start.final_url or start.requested_url
        start_html = self._html(start)
        if start_html is not None:
            if not prefix and max_depth is None:
                layout = appstores.detect_store(start_url, start_html)
                if layout is not None:
                    return await self.from_listing(start, start_html, layout, prefix)
            if needs_javascript(start_html):
                rendered = await self.javascript(start, start_html)
                if rendered.outcome is not FetchOutcome.OK:
                    return replace(rendered, discovery_path=(*prefix, start_url),
                                   error=f"start page {rendered.error}; no links to follow without it")
                start = rendered
        home_site = _site(start_url)
        visited = {start.requested_url, start_url}
        queued: set[str] = set()
        heap: list[tuple[int, int, int, str, tuple[str, ...]]] = []  # (depth, -score, seq, url, path)
        seq = 0
        agreements: list[str] = []
        shells: list[FetchResult] = []

        def enqueue(result: FetchResult, depth: int, path: tuple[str, ...]) -> None:
            nonlocal seq
            if depth > depth_limit or result.body is None or sniff_kind(result.body, result.content_type) != "html":
                return
            html, _ = decode_body(result.body, result.content_type)
            for link, _text, score in find_policy_links(html, result.final_url or path[-1]):
                if link in visited or link in queued:
                    continue
                if score < STRONG and _site(link) != home_site:
                    continue
                queued.add(link)
                heapq.heappush(heap, (depth, -score, seq, link, path))
                seq += 1

        enqueue(start, 1, (*prefix, start_url))
        visits = 0  # pages fetched after the start page
        while heap and visits < self.settings.max_discovery_pages:
            depth, neg_score, _, url, path = heapq.heappop(heap)
            if url in visited:
                continue
            visited.add(url)
            page = await self.get(url)
            visits += 1
            if page.outcome is not FetchOutcome.OK or page.body is None:
                continue
            final = page.final_url or url
            visited.add(final)
            kind = sniff_kind(page.body, page.content_type)
            verdict = self._kind(page)
            if kind == "pdf" and (verdict == "policy" or -neg_score >= STRONG):
                return self._found(page, path)
            if verdict == "js_shell" and -neg_score >= STRONG:
                rendered = await self.javascript(page, self._html(page) or "")
                if rendered.outcome is not FetchOutcome.OK:
                    shells.append(replace(rendered, discovery_path=(*path, final)))
                    continue
                page, verdict = rendered, self._kind(rendered)
            if verdict == "policy":
                return self._found(page, path)
            if verdict == "agreement":
                agreements.append(final)
            enqueue(page, depth + 1, (*path, final))
        if shells:
            return shells[0]
        what = "homepage" if not prefix else "start page"
        error = f"searched {visits + 1} pages from {what}, no privacy policy link"
        if agreements:
            error += f"; only a user agreement without privacy rules ({agreements[0]})"
        return FetchResult(
            requested_url=start.requested_url, outcome=FetchOutcome.NO_POLICY_FOUND, fetched_at=start.fetched_at,
            final_url=start_url, status_code=start.status_code, error=error,
            discovery_path=(*prefix, start_url) if prefix else (),
            archive_timestamp=start.archive_timestamp, archive_url=start.archive_url,
        )


_SCRIPT_SRC = re.compile(r"""<script[^>]+src\s*=\s*["']?([^"'\s>]+)""", re.I)


async def fetch_target(
    client: httpx.AsyncClient,
    target: Target,
    settings: Settings,
    archive: Archive,
    *,
    session: FetchSession | None = None,
    previous: Validators | None = None,
    pdf_text: PdfText | None = None,
) -> FetchResult:
    """Get one target's policy: its policy URL, else (or if that is gone) discovery from the homepage.

    A policy URL or homepage that is an app-store listing leads to the developer's policy link.
    ``previous`` (the last audit's validators) makes the request for that same URL conditional.
    ``pdf_text`` reads a PDF's text so a PDF page can be judged like any other (the audit passes
    :func:`pipeline.read.reader.pdf_text`); without it a PDF found while searching is taken only
    when its link is strong.
    """
    session = session or FetchSession(settings)
    finder = _Finder(client, settings, archive, session, previous, pdf_text)
    requested = target.policy_url or target.homepage
    started = time.monotonic()
    if not requested:
        return FetchResult(
            requested_url="", outcome=FetchOutcome.INVALID_URL, fetched_at=_now(),
            error=f"target {target.id!r} has neither policy_url nor homepage ({target.source or 'no source'})",
        )
    if target.policy_url:
        result = await finder.get(target.policy_url)
        gone = result.outcome is FetchOutcome.HTTP_ERROR and result.status_code in GONE_CODES
        if not gone:
            if result.outcome is FetchOutcome.OK:
                result = await finder.settle(result)
            return replace(result, requested_url=requested, elapsed_s=time.monotonic() - started)
        if not target.homepage:
            return replace(
                result, outcome=FetchOutcome.NO_POLICY_FOUND,
                error=f"policy URL returned {result.status_code}: {target.policy_url}",
            )
        found = await finder.discover(target.homepage)
        prefix = f"policy URL returned {result.status_code}; "
        return replace(
            found, requested_url=requested, elapsed_s=time.monotonic() - started,
            error=None if found.outcome is FetchOutcome.OK else prefix + (found.error or ""),
        )
    assert target.homepage is not None
    found = await finder.discover(target.homepage)
    return replace(found, requested_url=requested, elapsed_s=time.monotonic() - started)


def _site(url: str) -> str:
    return site_key(urlsplit(url).hostname or "")


# ---------------------------------------------------------------- many targets


async def fetch_all(
    targets: Sequence[Target],
    settings: Settings,
    archive: Archive,
    client: httpx.AsyncClient | None = None,
    on_result: Callable[[Target, FetchResult], None] | None = None,
    previous: Mapping[str, Validators] | None = None,
    robots_cache: dict[str, tuple[Protego | None, str | None]] | None = None,
    session: FetchSession | None = None,
    pdf_text: PdfText | None = None,
) -> list[FetchResult]:
    """Fetch every target politely; results in the order of ``targets``.

    A target that fails, even with an unexpected exception, yields a NETWORK_ERROR result.
    ``on_result`` is called as each target finishes. ``previous`` maps target ids to the last
    audit's validators (conditional requests). ``session`` shares politeness state (per-host
    slots and pacing, robots.txt) with other batches. ``pdf_text``: see :func:`fetch_target`. :class:`~pipeline.errors.PolicyAuditError`
    (e.g. the archive's disk is full) stops the batch and is raised.
    """
    own_client = client is None
    http = client if client is not None else make_client(settings)
    if session is None:  # one batch alone; pipeline.fetch.fetcher.Fetcher shares one session across batches
        session = FetchSession(settings) if robots_cache is None else FetchSession(settings, _robots=robots_cache)
    results: list[FetchResult | None] = [None] * len(targets)
    known = previous or {}

    async def one(index: int, target: Target) -> None:
        try:
            result = await fetch_target(
                http, target, settings, archive, session=session, previous=known.get(target.id), pdf_text=pdf_text
            )
        except PolicyAuditError:
            raise
        except Exception as exc:  # noqa: BLE001 - one target's bug must not sink the batch
            result = FetchResult(
                requested_url=target.policy_url or target.homepage or "",
                outcome=FetchOutcome.NETWORK_ERROR, fetched_at=_now(),
                error=f"unexpected {type(exc).__name__}: {exc}",
            )
        results[index] = result
        if on_result is not None:
            on_result(target, result)

    tasks = [asyncio.create_task(one(i, t)) for i, t in enumerate(targets)]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        if own_client:
            await http.aclose()
    return [r for r in results if r is not None]


def fetch_targets(
    targets: Sequence[Target],
    settings: Settings,
    archive: Archive,
    previous: Mapping[str, Validators] | None = None,
    robots_cache: dict[str, tuple[Protego | None, str | None]] | None = None,
    pdf_text: PdfText | None = None,
) -> list[FetchResult]:
    """Synchronous :func:`fetch_all` on its own event loop (in a worker thread if a loop already runs here).

    ``robots_cache``: a dict kept across the batches of one audit so robots.txt is read once per site.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(fetch_all(targets, settings, archive, previous=previous, robots_cache=robots_cache, pdf_text=pdf_text))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="policyaudit-fetch") as pool:
        return pool.submit(
            asyncio.run, fetch_all(targets, settings, archive, previous=previous, robots_cache=robots_cache, pdf_text=pdf_text)
        ).result()


def response_headers(result: FetchResult, archive: Archive) -> Mapping[str, str] | None:
    """The archived response headers of an OK result, if any."""
    return archive.get_headers(result.sha256) if result.sha256 else None
