"""Grading on several cores: a pool of worker processes, each with the rubric and classifiers loaded once.

Reading, segmenting, classifying and grading are CPU-bound Python; threads would share
one core. :class:`GradingPool` runs :func:`pipeline.run.assess.grade_fetched` in
``Settings.workers`` processes (spawned, so it is safe beside Prefect's threads)::

    with GradingPool(settings) as pool:
        assessed, timings = pool.grade(fetched, known_docs)
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from pipeline.grade.classify import load_classifiers
from pipeline.grade.rubric import load_rubric
from pipeline.records import FetchResult, PolicyText, Segment, Target
from pipeline.run.assess import BatchTimings, grade_fetched
from pipeline.settings import Settings

_STATE: dict[str, Any] = {}


PARENT_CHECK_S = 1.0


def _exit_with_parent(parent: int) -> None:
    """A worker whose audit process was killed (SIGKILL, OOM) would wait for work forever,
    holding its memory: it still holds a write end of its own task pipe, so it never sees EOF."""
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent:
            os._exit(3)


def _init_worker(settings_json: dict[str, Any]) -> None:
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()

    settings = Settings(**settings_json)
    _STATE["rubric"] = load_rubric(settings.rubric)
    _STATE["classifiers"] = load_classifiers(settings)


def _grade_in_worker(
    fetched: Sequence[tuple[Target, FetchResult]],
    known_docs: Mapping[str, tuple[PolicyText, list[Segment]]],
) -> tuple[list[Any], dict[str, float]]:
    t = BatchTimings()
    out = grade_fetched(fetched, _STATE["rubric"], _STATE["classifiers"], t, known_docs)
    return out, t.as_dict()


class GradingPool:
    """``workers`` processes that grade batches; use as a context manager."""

    def __init__(self, settings: Settings, workers: int | None = None):
        self.workers = max(1, workers or settings.workers)
        self._settings = settings.model_dump(mode="json")
        self._executor: ProcessPoolExecutor | None = None
        self.started = False  # worker processes start on the first batch, not on entering the pool

    def __enter__(self) -> GradingPool:
        self._executor = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self._settings,),
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def grade(
        self,
        fetched: Sequence[tuple[Target, FetchResult]],
        known_docs: Mapping[str, tuple[PolicyText, list[Segment]]],
    ) -> tuple[list[Any], dict[str, float]]:
        """Grade one batch in a worker process (blocks until done); reused grades are settled by the caller."""
        if self._executor is None:
            raise RuntimeError("GradingPool used outside its with-block")
        self.started = True
        return self._executor.submit(_grade_in_worker, list(fetched), dict(known_docs)).result()
