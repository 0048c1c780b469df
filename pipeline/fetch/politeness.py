"""Politeness state of one run: concurrency slots, per-host pacing, robots.txt.

Politeness (Scrapy's defaults): robots.txt obeyed (cached per origin for a run, a 4xx
robots.txt allows everything, a 5xx one or one that times out or resets disallows everything per RFC 9309), a user agent
that names the project, at most ``per_host_concurrency`` requests in flight per host and
``per_host_delay`` seconds between request starts to one host, ``concurrency`` in all.
Time spent queueing for a host does not count against ``total_timeout``.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx
from protego import Protego

from pipeline.content.charset import decode_body
from pipeline.fetch import netguard
from pipeline.fetch.bodies import _decoded_chunks, _Stop
from pipeline.settings import Settings

REDIRECT_CODES = {301, 302, 303, 307, 308}


ROBOTS_MAX_BYTES = 512_000
ROBOTS_MAX_REDIRECTS = 5


# The asyncio.timeout of the fetch in progress: a host queue wait pushes its deadline back.
_current_deadline: contextvars.ContextVar[asyncio.Timeout | None] = contextvars.ContextVar(
    "policyaudit_fetch_deadline", default=None
)


# The budget of the target in progress (set by pipeline.fetch.batch): its deadline, paused like
# a fetch's while queueing for a host, and the bytes it may still receive.
@dataclass
class TargetBudget:
    deadline: asyncio.Timeout | None
    bytes_left: int


_current_target: contextvars.ContextVar[TargetBudget | None] = contextvars.ContextVar(
    "policyaudit_target_budget", default=None
)


@asynccontextmanager
async def _deadline_paused() -> AsyncIterator[None]:
    """Stop the clocks of the fetch and of the target in progress (if any) inside this block."""
    target = _current_target.get()
    deadlines = [_current_deadline.get(), target.deadline if target is not None else None]
    loop = asyncio.get_running_loop()
    paused: list[tuple[asyncio.Timeout, float]] = []
    for deadline in deadlines:
        when = deadline.when() if deadline is not None else None
        if deadline is not None and when is not None:
            paused.append((deadline, when - loop.time()))
            deadline.reschedule(None)
    try:
        yield
    finally:
        for deadline, remaining in paused:
            deadline.reschedule(loop.time() + remaining)


def spend_bytes(count: int) -> bool:
    """Count ``count`` bytes against the target in progress; False once its byte budget is spent."""
    target = _current_target.get()
    if target is None:
        return True
    target.bytes_left -= count
    return target.bytes_left >= 0


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
        """(parser, blanket refusal). 4xx: allow all; 5xx, a timeout or a broken connection: disallow
        all (RFC 9309 2.3.1.3-4); no server at all: allow (the page fetch then fails with its reason)."""
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
            except (httpx.ConnectError, httpx.ConnectTimeout, _Stop):
                return None, None  # nothing answers: the page fetch fails with the real reason
            except (httpx.HTTPError, TimeoutError, OSError) as exc:
                return None, (
                    f"robots.txt of {origin} could not be read ({type(exc).__name__}: timeout or broken connection); "
                    "the site is treated as disallowed (RFC 9309 2.3.1.4)"
                )
            text, _ = decode_body(bytes(body[:ROBOTS_MAX_BYTES]), response.headers.get("content-type"))
            try:
                return Protego.parse(text), None
            except Exception:  # noqa: BLE001 - a robots.txt we cannot parse allows all
                return None, None
        return None, None
