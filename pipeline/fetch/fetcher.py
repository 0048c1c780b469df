"""One fetcher for a whole audit: batches share one event loop, one HTTP client and one politeness state.

    with Fetcher(settings, archive) as fetcher:
        first = fetcher.submit(batch1, previous1)      # concurrent.futures.Future
        second = fetcher.submit(batch2, previous2)     # fetched alongside the first
        results = first.result()

Fetching batch by batch with a fresh client each time waits for each batch's slowest site
before the next starts, reopens every connection and forgets when each host was last asked.
Here batches overlap, connections are kept alive between them, and the per-host limits
(``per_host_concurrency``, ``per_host_delay``) and robots.txt verdicts hold across the whole
audit, not just within a batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType

import httpx

from pipeline.fetch.archive import Archive
from pipeline.fetch.batch import fetch_all
from pipeline.fetch.client import make_client
from pipeline.fetch.finder import PdfText
from pipeline.fetch.politeness import FetchSession
from pipeline.records import FetchResult, Target, Validators
from pipeline.settings import Settings


class Fetcher:
    """A background thread running an event loop; :meth:`submit` queues a batch on it."""

    def __init__(self, settings: Settings, archive: Archive, pdf_text: PdfText | None = None) -> None:
        self.settings = settings
        self.archive = archive
        self.pdf_text = pdf_text  # see pipeline.fetch.finder.fetch_target
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="policyaudit-fetcher", daemon=True)
        self._client: httpx.AsyncClient | None = None
        self._session: FetchSession | None = None
        self._lock = threading.Lock()
        self._in_flight = 0
        self._busy_since = 0.0
        self._busy = 0.0

    def __enter__(self) -> Fetcher:
        self._thread.start()

        async def setup() -> None:
            self._client = make_client(self.settings)
            self._session = FetchSession(self.settings)

        asyncio.run_coroutine_threadsafe(setup(), self._loop).result()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if not self._thread.is_alive():
            return

        async def teardown() -> None:
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
            if self._client is not None:
                await self._client.aclose()

        try:
            asyncio.run_coroutine_threadsafe(teardown(), self._loop).result(timeout=30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._loop.close()

    @property
    def busy_seconds(self) -> float:
        """Wall seconds during which at least one batch was being fetched."""
        with self._lock:
            return self._busy + (time.perf_counter() - self._busy_since if self._in_flight else 0.0)

    def _started(self) -> None:
        with self._lock:
            if self._in_flight == 0:
                self._busy_since = time.perf_counter()
            self._in_flight += 1

    def _finished(self, _future: object) -> None:
        with self._lock:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._busy += time.perf_counter() - self._busy_since

    def submit(
        self, targets: Sequence[Target], previous: Mapping[str, Validators] | None = None
    ) -> concurrent.futures.Future[list[FetchResult]]:
        """Start fetching ``targets``; the future gives their results in order (or the batch's
        :class:`~pipeline.errors.PolicyAuditError`, e.g. a full archive disk)."""
        if self._session is None or not self._thread.is_alive():
            raise RuntimeError("Fetcher is not running: use it as a context manager")
        self._started()
        future = asyncio.run_coroutine_threadsafe(
            fetch_all(list(targets), self.settings, self.archive, client=self._client, previous=previous,
                      session=self._session, pdf_text=self.pdf_text),
            self._loop,
        )
        future.add_done_callback(self._finished)
        return future

    def fetch(self, targets: Sequence[Target], previous: Mapping[str, Validators] | None = None) -> list[FetchResult]:
        """Fetch one batch and wait for it."""
        return self.submit(targets, previous).result()
