"""Fetch stage: get each target's privacy policy, politely, and archive the bytes.

    settings = Settings()
    archive = Archive(settings.archive_dir)
    results = fetch_targets(targets, settings, archive)          # sync, one event loop
    # or, inside async code, with your own client (tests, flows):
    async with make_client(settings) as client:
        results = await fetch_all(targets, settings, archive, client=client)

Every URL ends in one :class:`~pipeline.records.FetchOutcome`; a failure of one URL or one
target is a recorded result, never an exception (only a broken archive, e.g. a full disk,
raises :class:`~pipeline.archive.ArchiveError`, because nothing after it can work).

Politeness (Scrapy's defaults): robots.txt obeyed (cached per origin for a run, a 4xx
robots.txt allows everything, a 5xx one disallows everything per RFC 9309), a user agent
that names the project, at most ``per_host_concurrency`` requests in flight per host and
``per_host_delay`` seconds between request starts to one host, ``concurrency`` in all.
Time spent queueing for a host does not count against ``total_timeout``.

Safety: redirects are followed here, not by httpx, so each hop is checked by
:mod:`pipeline.netguard` (unless ``allow_private``); bodies are streamed and cut off at
``max_bytes`` (counted after decompression).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import heapq
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx
from protego import Protego

from pipeline import netguard
from pipeline.archive import Archive
from pipeline.charset import decode_body, sniff_kind
from pipeline.discover import STRONG, find_policy_links, looks_like_policy, site_key
from pipeline.errors import PolicyAuditError
from pipeline.records import FetchOutcome, FetchResult, Target
from pipeline.settings import Settings

ACCEPT = "text/html,application/xhtml+xml,application/pdf;q=0.9,text/plain;q=0.8,*/*;q=0.5"
ACCEPT_LANGUAGE = "zh-CN,zh;q=0.9,en;q=0.8"
REDIRECT_CODES = {301, 302, 303, 307, 308}
GONE_CODES = {404, 410}
ROBOTS_MAX_BYTES = 512_000
ROBOTS_MAX_REDIRECTS = 5
MAX_DISCOVERY_DEPTH = 3

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
    :class:`pipeline.netguard.GuardedBackend`, which refuses non-public addresses at connect time.
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
        headers={"User-Agent": settings.user_agent, "Accept": ACCEPT, "Accept-Language": ACCEPT_LANGUAGE},
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
    _robots: dict[str, tuple[Protego | None, str | None]] = field(default_factory=dict, init=False)
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
                            async for chunk in response.aiter_bytes():
                                body += chunk
                                if len(body) >= ROBOTS_MAX_BYTES:
                                    break
                        finally:
                            await response.aclose()
            except (httpx.HTTPError, TimeoutError, OSError):
                return None, None
            text, _ = decode_body(bytes(body[:ROBOTS_MAX_BYTES]), response.headers.get("content-type"))
            try:
                return Protego.parse(text), None
            except Exception:  # noqa: BLE001 - a robots.txt we cannot parse allows all
                return None, None
        return None, None


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


async def fetch_url(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    archive: Archive,
    *,
    session: FetchSession | None = None,
) -> FetchResult:
    """Fetch one URL (following redirects), archive the body if OK. Never raises for a failure of the URL."""
    session = session or FetchSession(settings)
    started = time.monotonic()
    fetched_at = _now()
    state: dict[str, object] = {"final_url": None}
    try:
        async with asyncio.timeout(settings.total_timeout) as deadline:
            token = _current_deadline.set(deadline)
            try:
                fields = await _fetch_hops(client, url, settings, archive, session, state)
            finally:
                _current_deadline.reset(token)
        return FetchResult(
            requested_url=url, outcome=FetchOutcome.OK, fetched_at=fetched_at,
            elapsed_s=time.monotonic() - started, **fields,  # type: ignore[arg-type]
        )
    except _Stop as stop:
        merged = {"final_url": state["final_url"], **stop.fields}
        return FetchResult(
            requested_url=url, outcome=stop.outcome, fetched_at=fetched_at, error=stop.error,
            elapsed_s=time.monotonic() - started, **merged,  # type: ignore[arg-type]
        )
    except (TimeoutError, httpx.TimeoutException) as exc:
        kind = type(exc).__name__ if isinstance(exc, httpx.TimeoutException) else "total timeout"
        return FetchResult(
            requested_url=url, outcome=FetchOutcome.TIMEOUT, fetched_at=fetched_at,
            final_url=state["final_url"],  # type: ignore[arg-type]
            error=f"{kind} after {time.monotonic() - started:.1f}s (total_timeout={settings.total_timeout}s)",
            elapsed_s=time.monotonic() - started,
        )
    except httpx.HTTPError as exc:
        text = str(exc) or type(exc).__name__
        outcome = FetchOutcome.REFUSED_ADDRESS if netguard.REFUSED_PREFIX in text else FetchOutcome.NETWORK_ERROR
        return FetchResult(
            requested_url=url, outcome=outcome, fetched_at=fetched_at,
            final_url=state["final_url"],  # type: ignore[arg-type]
            error=f"{type(exc).__name__}: {text}", elapsed_s=time.monotonic() - started,
        )
    except (OSError, ValueError, UnicodeError) as exc:
        return FetchResult(
            requested_url=url, outcome=FetchOutcome.NETWORK_ERROR, fetched_at=fetched_at,
            final_url=state["final_url"],  # type: ignore[arg-type]
            error=f"{type(exc).__name__}: {exc}", elapsed_s=time.monotonic() - started,
        )


async def _fetch_hops(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    archive: Archive,
    session: FetchSession,
    state: dict[str, object],
) -> dict[str, object]:
    current = url
    seen = [url]
    problem = netguard.url_problem(url)
    if problem:
        raise _Stop(FetchOutcome.INVALID_URL, problem)
    while True:
        state["final_url"] = current
        if settings.obey_robots:
            verdict = await session.robots_verdict(client, current)
            if verdict:
                raise _Stop(FetchOutcome.ROBOTS_DISALLOWED, verdict)
        async with session.slot(current):
            refusal = await netguard.check_url(current, settings.allow_private)
            if refusal:
                outcome = FetchOutcome.INVALID_URL if netguard.url_problem(current) else FetchOutcome.REFUSED_ADDRESS
                raise _Stop(outcome, refusal)
            try:
                request = client.build_request("GET", current)
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise _Stop(FetchOutcome.INVALID_URL, f"{current}: {exc}") from exc
            response = await client.send(request, stream=True)
            try:
                status = response.status_code
                ctype = response.headers.get("content-type")
                location = response.headers.get("location")
                if status in REDIRECT_CODES and location:
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
                if status >= 300:
                    reason = response.reason_phrase or ""
                    raise _Stop(
                        FetchOutcome.HTTP_ERROR, f"HTTP {status} {reason}".strip() + f" from {current}",
                        status_code=status, content_type=ctype,
                    )
                body = await _read_capped(response, settings.max_bytes, current)
                headers = {k: v for k, v in response.headers.items()}
            finally:
                await response.aclose()
        break

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
    sha = await asyncio.to_thread(archive.put, body, headers)
    return {
        "final_url": current, "status_code": status, "content_type": ctype,
        "sha256": sha, "size": len(body), "encoding": encoding, "body": body,
    }


async def _read_capped(response: httpx.Response, max_bytes: int, url: str) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.strip().isdigit() and int(declared) > max_bytes:
        raise _Stop(
            FetchOutcome.TOO_LARGE, f"{url} declares {int(declared)} bytes, over max_bytes={max_bytes}",
            status_code=response.status_code, content_type=response.headers.get("content-type"),
        )
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise _Stop(
                FetchOutcome.TOO_LARGE, f"{url} sent more than max_bytes={max_bytes} bytes; cut off",
                status_code=response.status_code, content_type=response.headers.get("content-type"),
            )
    return bytes(body)


# ---------------------------------------------------------------- one target


async def fetch_target(
    client: httpx.AsyncClient,
    target: Target,
    settings: Settings,
    archive: Archive,
    *,
    session: FetchSession | None = None,
) -> FetchResult:
    """Get one target's policy: its policy URL, else (or if that is gone) discovery from the homepage."""
    session = session or FetchSession(settings)
    requested = target.policy_url or target.homepage
    started = time.monotonic()
    if not requested:
        return FetchResult(
            requested_url="", outcome=FetchOutcome.INVALID_URL, fetched_at=_now(),
            error=f"target {target.id!r} has neither policy_url nor homepage ({target.source or 'no source'})",
        )
    if target.policy_url:
        result = await fetch_url(client, target.policy_url, settings, archive, session=session)
        gone = result.outcome is FetchOutcome.HTTP_ERROR and result.status_code in GONE_CODES
        if not gone:
            return result
        if not target.homepage:
            return replace(
                result, outcome=FetchOutcome.NO_POLICY_FOUND,
                error=f"policy URL returned {result.status_code}: {target.policy_url}",
            )
        found = await _discover(client, target.homepage, settings, archive, session)
        prefix = f"policy URL returned {result.status_code}; "
        return replace(
            found, requested_url=requested, elapsed_s=time.monotonic() - started,
            error=None if found.outcome is FetchOutcome.OK else prefix + (found.error or ""),
        )
    assert target.homepage is not None
    found = await _discover(client, target.homepage, settings, archive, session)
    return replace(found, requested_url=requested, elapsed_s=time.monotonic() - started)


async def _discover(
    client: httpx.AsyncClient, homepage: str, settings: Settings, archive: Archive, session: FetchSession
) -> FetchResult:
    """Breadth-first search from the homepage for a page that reads like a privacy policy.

    Level by level (depth <= 3), best-scored links first within a level; weak "hub" links
    (legal, help, about) are followed only on the homepage's own site.
    """
    home = await fetch_url(client, homepage, settings, archive, session=session)
    if home.outcome is not FetchOutcome.OK:
        return replace(home, error=f"homepage: {home.error}")
    home_url = home.final_url or homepage
    home_site = _site(home_url)
    visited = {homepage, home_url}
    queued: set[str] = set()
    heap: list[tuple[int, int, int, str, tuple[str, ...]]] = []  # (depth, -score, seq, url, path)
    seq = 0

    def enqueue(result: FetchResult, depth: int, path: tuple[str, ...]) -> None:
        nonlocal seq
        if depth > MAX_DISCOVERY_DEPTH or result.body is None or sniff_kind(result.body, result.content_type) != "html":
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

    enqueue(home, 1, (home_url,))
    visits = 0  # pages fetched after the homepage
    while heap and visits < settings.max_discovery_pages:
        depth, neg_score, _, url, path = heapq.heappop(heap)
        if url in visited:
            continue
        visited.add(url)
        page = await fetch_url(client, url, settings, archive, session=session)
        visits += 1
        if page.outcome is not FetchOutcome.OK or page.body is None:
            continue
        final = page.final_url or url
        visited.add(final)
        kind = sniff_kind(page.body, page.content_type)
        if kind == "pdf" and -neg_score >= STRONG:
            return replace(page, discovery_path=(*path, final))
        if kind in ("html", "text"):
            text, _ = decode_body(page.body, page.content_type)
            if looks_like_policy(text, is_html=kind == "html"):
                return replace(page, discovery_path=(*path, final))
        enqueue(page, depth + 1, (*path, final))
    return FetchResult(
        requested_url=homepage, outcome=FetchOutcome.NO_POLICY_FOUND, fetched_at=home.fetched_at,
        final_url=home_url, status_code=home.status_code,
        error=f"searched {visits + 1} pages from homepage, no privacy policy link",
    )


def _site(url: str) -> str:
    return site_key(urlsplit(url).hostname or "")


# ---------------------------------------------------------------- many targets


async def fetch_all(
    targets: Sequence[Target],
    settings: Settings,
    archive: Archive,
    client: httpx.AsyncClient | None = None,
    on_result: Callable[[Target, FetchResult], None] | None = None,
) -> list[FetchResult]:
    """Fetch every target politely; results in the order of ``targets``.

    A target that fails, even with an unexpected exception, yields a NETWORK_ERROR result.
    ``on_result`` is called as each target finishes. :class:`~pipeline.errors.PolicyAuditError`
    (e.g. the archive's disk is full) stops the batch and is raised.
    """
    own_client = client is None
    http = client if client is not None else make_client(settings)
    session = FetchSession(settings)
    results: list[FetchResult | None] = [None] * len(targets)

    async def one(index: int, target: Target) -> None:
        try:
            result = await fetch_target(http, target, settings, archive, session=session)
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


def fetch_targets(targets: Sequence[Target], settings: Settings, archive: Archive) -> list[FetchResult]:
    """Synchronous :func:`fetch_all` on its own event loop (in a worker thread if a loop already runs here)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(fetch_all(targets, settings, archive))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="policyaudit-fetch") as pool:
        return pool.submit(asyncio.run, fetch_all(targets, settings, archive)).result()


def response_headers(result: FetchResult, archive: Archive) -> Mapping[str, str] | None:
    """The archived response headers of an OK result, if any."""
    return archive.get_headers(result.sha256) if result.sha256 else None
