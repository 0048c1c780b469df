"""Fetch stage entry points: get each target's privacy policy, politely, and archive the bytes.

    settings = Settings()
    archive = Archive(settings.archive_dir)
    results = fetch_targets(targets, settings, archive)          # sync, one event loop
    # or, inside async code, with your own client (tests, flows):
    async with make_client(settings) as client:
        results = await fetch_all(targets, settings, archive, client=client)

Every URL ends in one :class:`~pipeline.records.FetchOutcome`; a failure of one URL or one
target is a recorded result, never an exception (only a broken archive, e.g. a full disk,
raises :class:`~pipeline.fetch.archive.ArchiveError`, because nothing after it can work).
One URL is :mod:`pipeline.fetch.client`, one target :mod:`pipeline.fetch.finder`, the
politeness shared by a run :mod:`pipeline.fetch.politeness`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

import httpx
from protego import Protego

from pipeline.errors import PolicyAuditError
from pipeline.fetch.archive import Archive
from pipeline.fetch.client import _now, make_client
from pipeline.fetch.finder import PdfText, fetch_target
from pipeline.fetch.politeness import FetchSession, TargetBudget, _current_target
from pipeline.records import FetchOutcome, FetchResult, Target, Validators
from pipeline.settings import Settings

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
            result = await _within_budget(
                target, settings,
                fetch_target(http, target, settings, archive, session=session, previous=known.get(target.id), pdf_text=pdf_text),
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


async def _within_budget(target: Target, settings: Settings, work: Coroutine[Any, Any, FetchResult]) -> FetchResult:
    """``work`` (one target's fetch and discovery) under the target's time and byte budget.

    Past ``target_fetch_budget`` seconds (time spent waiting for a host's turn not counted) the
    target ends as BUDGET_EXCEEDED, "budget exceeded: fetch", whatever it was doing.
    """
    started = time.monotonic()
    budget = TargetBudget(deadline=None, bytes_left=settings.target_max_bytes)
    token = _current_target.set(budget)
    try:
        async with asyncio.timeout(settings.target_fetch_budget) as deadline:
            budget.deadline = deadline
            return await work
    except TimeoutError:
        return FetchResult(
            requested_url=target.policy_url or target.homepage or "", outcome=FetchOutcome.BUDGET_EXCEEDED,
            fetched_at=_now(), elapsed_s=time.monotonic() - started,
            error=f"budget exceeded: fetch (target_fetch_budget={settings.target_fetch_budget:g} s of fetching and discovery)",
        )
    finally:
        _current_target.reset(token)


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
