"""Prefect flows: they only wire the stages of :mod:`pipeline.run.audit`.

Tasks are per batch of targets (``Settings.batch_size``), never per sentence. Big task
arguments (a batch's targets and fetched bodies, the rubric, the classifiers) are passed in
``quote()`` on the local runner: Prefect then does not walk them looking for futures.
Only fetching is retried. Up to ``FETCH_AHEAD`` batches are fetched at once, on one
shared :class:`~pipeline.fetch.fetcher.Fetcher`, while earlier ones are graded. Runs without a Prefect server (Prefect starts a temporary one) or
against ``PREFECT_API_URL`` when it is set.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import deque
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from pipeline.fetch.archive import Archive
from pipeline.fetch.batch import fetch_targets
from pipeline.fetch.fetcher import Fetcher
from pipeline.grade.classify import Classifiers, load_classifiers
from pipeline.grade.rubric import load_rubric
from pipeline.read.reader import pdf_text
from pipeline.records import FetchResult, Rubric, Target
from pipeline.run.assess import BatchTimings
from pipeline.run.audit import (
    FETCH_AHEAD,
    batches,
    fetch_results,
    parse_shard,
    plan_audit,
    previous_validators,
    process_batch,
    submit_fetch,
)
from pipeline.run import progress
from pipeline.run.parallel import GradingPool
from pipeline.run.targets import load_targets
from pipeline.settings import Settings
from pipeline.store import db, queries, save

# robots.txt verdicts per audit run, shared by its fetch tasks in this process
_ROBOTS: dict[int, dict] = {}


@task(name="fetch-batch", cache_policy=NO_CACHE, retry_delay_seconds=2)
def fetch_batch(
    targets: list[Target], settings: Settings, run_id: int, fetcher: Fetcher | None = None
) -> tuple[list[FetchResult], float]:
    """Fetch one batch: on the flow's shared ``fetcher`` when given (batches overlap and share
    connections and per-host limits), else on its own (Dask workers)."""
    start = time.perf_counter()
    archive = fetcher.archive if fetcher is not None else Archive(settings.archive_dir)
    engine = db.make_engine(settings.db_url)
    previous = previous_validators(engine, run_id, targets, archive)
    engine.dispose()
    if fetcher is not None:
        results = fetch_results(submit_fetch(fetcher, targets, previous))
    else:
        results = fetch_targets(
            targets, settings, archive, previous, robots_cache=_ROBOTS.setdefault(run_id, {}), pdf_text=pdf_text
        )
    return results, time.perf_counter() - start


@task(name="grade-batch", cache_policy=NO_CACHE)
def grade_batch(
    run_id: int,
    targets: list[Target],
    results: list[FetchResult],
    rubric: Rubric,
    classifiers: Classifiers,
    settings: Settings,
    pool: GradingPool | None = None,
) -> tuple[dict[str, int], dict[str, float]]:
    timings = BatchTimings()
    engine = db.make_engine(settings.db_url)
    counts = process_batch(engine, run_id, list(zip(targets, results, strict=True)), rubric, classifiers, timings, pool)
    engine.dispose()
    return counts, timings.as_dict()


def scheduled_label(prefix: str, when: datetime | None = None) -> str:
    """The label of a scheduled run: prefix plus its scheduled start (UTC), e.g. weekly-2026-11-23T030000."""
    when = (when or datetime.now(UTC)).astimezone(UTC)
    return f"{prefix}{when:%Y-%m-%dT%H%M%S}"


def _label_for_this_run(label: str | None, label_prefix: str) -> str:
    if label:
        return label
    from prefect.runtime import flow_run

    scheduled = flow_run.scheduled_start_time
    return scheduled_label(label_prefix, scheduled if isinstance(scheduled, datetime) else None)


@task(name="grade-fetched-batch", cache_policy=NO_CACHE)
def grade_batch_fetched(
    run_id: int,
    targets: list[Target],
    fetched: tuple[list[FetchResult], float],
    rubric: Rubric,
    classifiers: Classifiers,
    settings: Settings,
) -> tuple[dict[str, int], dict[str, float]]:
    results, fetch_s = fetched
    counts, timings = grade_batch.fn(run_id, targets, results, rubric, classifiers, settings)
    return counts, {**timings, "fetch": fetch_s}


@flow(name="audit", log_prints=False)
def audit(
    targets_file: str,
    label: str | None = None,
    settings_overrides: dict[str, Any] | None = None,
    refresh: bool = False,
    label_prefix: str = "weekly-",
    distributed: bool = False,
    shard: str | None = None,
    report_dir: str | None = None,
) -> dict[str, Any]:
    """Audit every service in ``targets_file`` under ``label``; resumable and idempotent.

    Without a label (scheduled runs), the label is ``label_prefix`` + the run's scheduled start
    time, so every run of a schedule is its own audit. With ``distributed`` every batch is
    submitted at once, for a Dask task runner to spread over its workers. With ``report_dir`` the
    run's report is written to ``report_dir/<label>/`` and copied to ``report_dir/latest/``; a
    scheduled run logs one line (label, counts, report path) to the ``policyaudit.schedule`` logger.
    """
    scheduled = label is None
    wall = time.perf_counter()
    logger = get_run_logger()
    label = _label_for_this_run(label, label_prefix)
    settings = Settings(**(settings_overrides or {}))
    targets = load_targets(targets_file)
    rubric = load_rubric(settings.rubric)
    classifiers = load_classifiers(settings)
    engine = db.make_engine(settings.db_url)
    plan = plan_audit(engine, targets, label, rubric, classifiers, targets_file, refresh, parse_shard(shard))
    logger.info("audit %s: %d targets, %d to do, %d already done", label, len(targets), len(plan.todo), plan.skipped)
    tracker = progress.current()
    tracker.start(label, len(plan.todo), plan.skipped)
    fetch_task = fetch_batch.with_options(retries=settings.fetch_retries)
    timings: dict[str, float] = {"fetch": 0.0}
    groups = batches(plan.todo, settings.batch_size)

    def add(batch_t: dict[str, float]) -> None:
        for k, v in batch_t.items():
            timings[k] = timings.get(k, 0.0) + v

    try:
        if distributed:
            fetched = [fetch_task.submit(g, settings, plan.run_id) for g in groups]  # (quote() does not survive Dask's transport)
            graded = [
                grade_batch_fetched.submit(plan.run_id, g, f, rubric, classifiers, settings)
                for g, f in zip(groups, fetched, strict=True)
            ]
            for fut in graded:
                counts, batch_t = fut.result()
                tracker.graded(counts)
                add(batch_t)
        else:
            # fetch up to FETCH_AHEAD batches at once while up to `workers` batches are graded
            with ExitStack() as stack:
                pool = stack.enter_context(GradingPool(settings)) if settings.workers > 1 and len(groups) > 1 else None
                fetcher = stack.enter_context(Fetcher(settings, Archive(settings.archive_dir), pdf_text=pdf_text))
                stack.callback(lambda: timings.__setitem__("fetch", fetcher.busy_seconds))
                todo = iter(groups)
                fetching: deque[tuple[list[Target], Any]] = deque()

                def fetch_next() -> None:
                    group = next(todo, None)
                    if group is not None:
                        fetching.append((group, fetch_task.submit(quote(group), settings, plan.run_id, fetcher)))

                grading: list[Any] = []

                def collect() -> None:
                    counts, batch_t = grading.pop(0).result()
                    tracker.graded(counts)
                    add(batch_t)
                    logger.info("graded batch: %s", counts)

                for _ in range(FETCH_AHEAD):
                    fetch_next()
                while fetching:
                    group, pending = fetching.popleft()
                    results, _fetch_s = pending.result()
                    fetch_next()
                    grading.append(grade_batch.submit(
                        plan.run_id, quote(group), quote(results), quote(rubric), quote(classifiers), settings, pool
                    ))
                    while len(grading) > max(1, settings.workers):
                        collect()
                while grading:
                    collect()
    except BaseException as exc:
        with db.session_scope(engine) as session:
            save.finish_run(session, plan.run_id, timings, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    timings["wall"] = time.perf_counter() - wall
    _ROBOTS.pop(plan.run_id, None)
    with db.session_scope(engine) as session:
        run = save.finish_run(session, plan.run_id, timings)
    engine.dispose()
    summary = queries.run_summary(run)
    index = None
    if report_dir:
        from pipeline.report.publish import publish_scheduled

        index = publish_scheduled(settings, label, Path(report_dir))
    if scheduled:
        schedule_log().info(run_line(summary, index))
    return summary


def run_line(summary: dict[str, Any], report: Path | None) -> str:
    """One line for a finished run: label, counts by status, wall time, report path."""
    return (
        f"run {summary['label']}: {summary['status']} · {summary['n_targets']} services · {summary['n_assessed']} assessed · "
        f"{summary['n_no_policy']} no policy · {summary['n_not_assessed']} could not assess · "
        f"{(summary.get('timings') or {}).get('wall', 0):.1f} s · report: {report or '(none: no --report-dir)'}"
    )


def schedule_log() -> logging.Logger:
    """The ``policyaudit.schedule`` logger, writing timestamped lines to stderr unless configured elsewhere."""
    log = logging.getLogger("policyaudit.schedule")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


def serve_schedule(name: str, cron: str | None, interval: float | None, parameters: dict[str, Any]) -> None:
    """Serve the ``audit`` flow as deployment ``audit/<name>`` on a schedule until Ctrl-C or SIGTERM.

    What ``audit.serve`` does, except on SIGTERM: Prefect's runner handler calls ``sys.exit`` from
    inside the running event loop, which leaves its stop coroutine never awaited (a warning at every
    shutdown). Here SIGTERM schedules the runner's own ``astop()`` on its loop: it stops polling,
    cancels what runs, and ``start()`` returns.
    """
    import asyncio

    from prefect.runner import Runner

    runner = Runner(name=name, pause_on_shutdown=True)
    runner.add_flow(audit, name=name, cron=cron, interval=interval, parameters=parameters)
    stopping: list[asyncio.Task[None]] = []

    def stop(*_: object) -> None:  # runs in the main thread, which runs the loop
        loop = asyncio.get_event_loop()
        loop.call_soon_threadsafe(lambda: stopping.append(loop.create_task(runner.astop())))

    runner.handle_sigterm = stop  # type: ignore[method-assign]  # installed by Runner.start in the main thread
    try:
        asyncio.run(runner.start())
    except KeyboardInterrupt:
        pass
    schedule_log().info("schedule %s stopped", name)
