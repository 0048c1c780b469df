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
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from pipeline.grade.classify import load_classifiers
from pipeline.grade.rubric import load_rubric
from pipeline.records import FetchResult, Grade, GradeStatus, PolicyText, Segment, Target
from pipeline.run.assess import Assessed, BatchTimings, grade_fetched
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


BUDGET_SLACK_S = 30.0  # added to a batch's read+grade budget: starting a worker loads the rubric and models


class GradingPool:
    """``workers`` processes that grade batches; use as a context manager.

    A batch still running after ``target_read_budget`` x its size (+ slack) has its worker
    processes killed and replaced; its targets are then graded one at a time, each within
    ``target_read_budget``, and a target that exceeds it again is not assessed with
    "budget exceeded: read+grade" (its worker killed and replaced too).
    """

    def __init__(self, settings: Settings, workers: int | None = None):
        self.workers = max(1, workers or settings.workers)
        self._settings = settings.model_dump(mode="json")
        self._budget = settings.target_read_budget
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self.started = False  # worker processes start on the first batch, not on entering the pool
        self.replaced = 0  # worker pools killed for exceeding a budget
        self.slack = BUDGET_SLACK_S

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self._settings,),
        )

    def __enter__(self) -> GradingPool:
        self._executor = self._new_executor()
        return self

    def _kill_and_replace(self, stuck: ProcessPoolExecutor) -> None:
        """Kill the worker processes of ``stuck`` (if still current) and start a fresh pool."""
        with self._lock:
            if self._executor is not stuck:
                return  # another batch already replaced it
            for proc in list((getattr(stuck, "_processes", None) or {}).values()):
                proc.kill()
            stuck.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()
            self.replaced += 1

    def _run(
        self, fetched: Sequence[tuple[Target, FetchResult]], known_docs: Mapping[str, tuple[PolicyText, list[Segment]]],
        timeout: float,
    ) -> tuple[list[Any], dict[str, float]] | None:
        """One batch in a worker, or None when it ran past ``timeout`` (its workers are then replaced)."""
        executor = self._executor
        if executor is None:
            raise RuntimeError("GradingPool used outside its with-block")
        future = executor.submit(_grade_in_worker, list(fetched), dict(known_docs))
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            self._kill_and_replace(executor)
            return None

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
        self.started = True
        done = self._run(fetched, known_docs, self._budget * len(fetched) + self.slack)
        if done is not None:
            return done
        out: list[Any] = []
        timings: dict[str, float] = {}
        for item in fetched:  # one at a time: only the target past its budget is lost
            one = self._run([item], known_docs, self._budget + self.slack)
            if one is None:
                out.append(_over_budget(item[1], self._settings))
                continue
            out.extend(one[0])
            for k, v in one[1].items():
                timings[k] = timings.get(k, 0.0) + v
        return out, timings


def _over_budget(fetch: FetchResult, settings_json: Mapping[str, Any]) -> Assessed:
    rubric = load_rubric(settings_json["rubric"])
    budget = settings_json["target_read_budget"]
    return Assessed(Grade(
        status=GradeStatus.NOT_ASSESSED, rubric_id=rubric.id, rubric_version=rubric.version,
        reason=f"budget exceeded: read+grade (target_read_budget={budget:g} s; the grading worker was killed and replaced)",
    ))
