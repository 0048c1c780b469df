"""How far an audit has got: services fetched, graded and failed, for a live display or a log.

    def show(state: ProgressState) -> None: ...        # called from the audit's threads
    with reporting(show) as tracker:                    # the direct loop and the flow both report here
        run_audit(...)
    tracker.state().graded                              # counts so far

The stages report to :func:`current` (a tracker that drops everything when nobody listens), so
the same calls serve the direct loop, the Prefect flow in this process and the tests. Listeners
are called under a lock, from whichever thread made progress; they must be quick and must not
raise. Nothing here prints: the command line decides how to show a :class:`ProgressState`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from pipeline.records import FetchOutcome, FetchResult


@dataclass(frozen=True)
class ProgressState:
    """Counts of one audit so far. ``total`` is the services this run has to do (resumed ones excluded)."""

    label: str = ""
    total: int = 0
    skipped: int = 0  # already graded by an earlier run of the same label
    fetched: int = 0
    fetch_failed: int = 0  # fetched with an outcome other than ok (404, timeout, robots, no policy ...)
    graded: int = 0  # services stored, whatever their status
    by_status: Mapping[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    phase: str = "starting"  # starting, fetching, done

    @property
    def failed(self) -> int:
        """Services stored as could not assess."""
        return self.by_status.get("not_assessed", 0)

    @property
    def elapsed(self) -> float:
        return max(1e-9, time.monotonic() - self.started)

    @property
    def rate(self) -> float:
        """Services stored per second since the audit started."""
        return self.graded / self.elapsed

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate; None until something is stored."""
        if not self.graded:
            return None
        return max(0.0, (self.total - self.graded) / self.rate)


Listener = Callable[[ProgressState], None]


class Tracker:
    """Thread-safe counters of one audit, passed on to a listener at every change."""

    def __init__(self, listener: Listener | None = None) -> None:
        self._listener = listener
        self._lock = threading.Lock()
        self._state = ProgressState()

    def state(self) -> ProgressState:
        with self._lock:
            return self._state

    def _update(self, change: Callable[[ProgressState], ProgressState]) -> None:
        with self._lock:
            self._state = change(self._state)
            if self._listener is not None:
                self._listener(self._state)

    def start(self, label: str, total: int, skipped: int = 0) -> None:
        self._update(lambda s: replace(s, label=label, total=total, skipped=skipped, started=time.monotonic(), phase="fetching"))

    def fetched(self, results: Sequence[FetchResult]) -> None:
        bad = sum(1 for r in results if r.outcome != FetchOutcome.OK)
        self._update(lambda s: replace(s, fetched=s.fetched + len(results), fetch_failed=s.fetch_failed + bad))

    def graded(self, counts: Mapping[str, int]) -> None:
        """One stored batch: counts by grade status (``reused`` is a flag on top of a status, not counted)."""

        def add(s: ProgressState) -> ProgressState:
            by_status = dict(s.by_status)
            for status, k in counts.items():
                by_status[status] = by_status.get(status, 0) + k
            n = sum(k for status, k in counts.items() if status != "reused")
            return replace(s, graded=s.graded + n, by_status=by_status)

        self._update(add)

    def done(self) -> None:
        self._update(lambda s: replace(s, phase="done"))


_LOCK = threading.Lock()
_CURRENT: Tracker | None = None
_SILENT = Tracker()


def current() -> Tracker:
    """The tracker of the audit running in this process, or one that nobody listens to."""
    return _CURRENT or _SILENT


@contextmanager
def reporting(listener: Listener) -> Iterator[Tracker]:
    """Send the progress of audits run inside this block (in this process) to ``listener``."""
    global _CURRENT
    tracker = Tracker(listener)
    with _LOCK:
        previous, _CURRENT = _CURRENT, tracker
    try:
        yield tracker
    finally:
        with _LOCK:
            _CURRENT = previous
