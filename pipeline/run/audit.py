"""The audit, stage by stage, without Prefect.

:func:`process_batch` has one batch of fetched targets read and graded
(:func:`pipeline.run.assess.grade_fetched`, here or in the worker pool) and stores them; :func:`run_audit` runs a whole audit directly (used by benchmarks to
measure Prefect's overhead, and by tests). The Prefect flow in
:mod:`pipeline.run.flows` wires the same functions with retries and progress.

One broken policy never stops a run: an unexpected error while reading or
grading one service is recorded as "could not assess" with the error text.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from pipeline.errors import PolicyAuditError
from pipeline.fetch.archive import Archive
from pipeline.fetch.client import validators_from_archive
from pipeline.fetch.fetcher import Fetcher
from pipeline.grade.classify import Classifiers, load_classifiers
from pipeline.grade.rubric import load_rubric, rubric_fingerprint
from pipeline.read.reader import pdf_text
from pipeline.records import FetchOutcome, FetchResult, PolicyText, Rubric, Segment, Target, Validators
from pipeline.run.assess import BatchTimings, grade_fetched
from pipeline.run import progress
from pipeline.run.parallel import GradingPool
from pipeline.run.targets import load_targets
from pipeline.settings import Settings
from pipeline.store import db, queries, save, tables

log = logging.getLogger(__name__)

FETCH_AHEAD = 8  # batches being fetched at once (they share one client and the per-host limits)
FETCH_CHUNK = 5  # a batch is handed to the fetcher in parts this big, so progress is seen service by service
INLINE_MAX = 3  # until the grading processes have started, a batch with this few policies to grade is graded in-process


def process_batch(
    engine: Engine,
    run_id: int,
    fetched: Sequence[tuple[Target, FetchResult]],
    rubric: Rubric,
    classifiers: Classifiers,
    timings: BatchTimings | None = None,
    pool: GradingPool | None = None,
) -> dict[str, int]:
    """Grade a fetched batch (in ``pool`` when given) and store every result. Returns counts by grade status."""
    t = timings or BatchTimings()
    start = time.perf_counter()
    shas = {f.sha256 for _, f in fetched if f.outcome == FetchOutcome.OK and f.sha256}
    known_docs: dict[str, tuple[PolicyText, list[Segment]]] = {}
    known_grades: dict[str, queries.ReusableGrade] = {}
    with db.session_scope(engine) as session:
        previous = queries.previous_snapshots(session, run_id, [tg.id for tg, _ in fetched])
        languages = queries.document_languages(session, shas)
        wanted = {}
        for sha, language in languages.items():
            clf = classifiers.by_language.get(language)
            wanted[sha] = f"{language}@{clf.version}" if clf else None  # as grade_policy records it
        known_grades = queries.reusable_scores(session, wanted, rubric.id, rubric.version)  # nothing to redo for these
        for sha in languages:
            if sha not in known_grades and (doc := queries.load_document(session, sha)) is not None:
                known_docs[sha] = doc
    t.store += time.perf_counter() - start
    if pool is not None:
        # only content that needs reading or grading goes to a worker process (bodies are big);
        # failed fetches and reused grades are settled here
        work = [i for i, (_, f) in enumerate(fetched) if f.outcome == FetchOutcome.OK and f.sha256 not in known_grades]
        if not pool.started and len(work) <= INLINE_MAX:
            work = []  # a few changed policies in a re-run: graded here, not worth starting the worker processes
        graded = [None] * len(fetched)  # type: ignore[list-item]
        if work:
            done, worker_t = pool.grade([fetched[i] for i in work], known_docs)
            for k, v in worker_t.items():
                setattr(t, k, getattr(t, k) + v)
            for i, a in zip(work, done, strict=True):
                graded[i] = a
        rest = [i for i in range(len(fetched)) if graded[i] is None]
        for i, a in zip(rest, grade_fetched([fetched[i] for i in rest], rubric, classifiers, t, known_docs, known_grades), strict=True):
            graded[i] = a
    else:
        graded = grade_fetched(fetched, rubric, classifiers, t, known_docs, known_grades)
    start = time.perf_counter()
    counts: dict[str, int] = {}
    items = [
        save.ResultItem(
            target, fetch, a.grade, a.policy, a.segments, previous.get(target.id),
            reused_from_run=a.reused.run_id if a.reused else None,
            criteria_from=(a.reused.run_id, a.reused.service_id) if a.reused else None,
        )
        for (target, fetch), a in zip(fetched, graded, strict=True)
    ]
    with db.session_scope(engine) as session:
        save.save_results(session, run_id, items)  # one transaction; one service at a time if that fails
    for a in graded:
        counts[str(a.grade.status)] = counts.get(str(a.grade.status), 0) + 1
        if a.reused is not None:
            counts["reused"] = counts.get("reused", 0) + 1
    t.store += time.perf_counter() - start
    return counts


@dataclass(frozen=True)
class AuditPlan:
    """What an audit will do: the run row, and which targets still need work."""

    run_id: int
    label: str
    todo: list[Target]
    skipped: int


def parse_shard(shard: str | None) -> tuple[int, int] | None:
    """"2/4" -> (2, 4): this worker takes the second of four disjoint parts of the list."""
    if not shard:
        return None
    try:
        k, n = (int(x) for x in shard.split("/"))
    except ValueError:
        raise PolicyAuditError(f"--shard must look like K/N (e.g. 1/2), not {shard!r}") from None
    if not 1 <= k <= n:
        raise PolicyAuditError(f"--shard {shard}: K must be between 1 and N")
    return k, n


def in_shard(target_id: str, shard: tuple[int, int] | None) -> bool:
    """Stable assignment of a service to one of N shards (same on every machine)."""
    if shard is None:
        return True
    k, n = shard
    return int(hashlib.sha256(target_id.encode()).hexdigest(), 16) % n == k - 1


def plan_audit(
    engine: Engine, targets: Sequence[Target], label: str, rubric: Rubric, classifiers: Classifiers,
    targets_file: str = "", refresh: bool = False, shard: tuple[int, int] | None = None,
) -> AuditPlan:
    """Create or reopen the run; leave out services this run already holds unless ``refresh``,
    and services of other shards when several workers share the run."""
    with db.session_scope(engine) as session:
        save.upsert_services(session, targets)
        run = save.start_run(
            session, label, rubric.id, rubric.version, rubric_fingerprint(rubric), classifiers.version,
            len(targets), targets_file,
        )
        done = set() if refresh else queries.completed_service_ids(session, run.id)  # type: ignore[arg-type]
    todo = [t for t in targets if t.id not in done and in_shard(t.id, shard)]
    return AuditPlan(run_id=run.id, label=label, todo=todo, skipped=len(targets) - len(todo))  # type: ignore[arg-type]


def previous_validators(engine: Engine, run_id: int, targets: Sequence[Target], archive: Archive) -> dict[str, Validators]:
    """ETag / Last-Modified of each service's last fetched policy, for conditional requests on re-audits."""
    with db.session_scope(engine) as session:
        prev = queries.previous_fetches(session, run_id, [t.id for t in targets])
    out: dict[str, Validators] = {}
    for sid, (url, sha) in prev.items():
        v = validators_from_archive(archive, url, sha)
        if v is not None:
            out[sid] = v
    return out


def batches(items: Sequence[Target], size: int) -> list[list[Target]]:
    return [list(items[i : i + size]) for i in range(0, len(items), max(1, size))]


def submit_fetch(fetcher: Fetcher, batch: Sequence[Target], previous: dict[str, Validators]) -> list[Future[list[FetchResult]]]:
    """Start fetching ``batch`` in parts of ``FETCH_CHUNK`` (all at once, on the fetcher's shared
    client and limits); each part reports to :func:`pipeline.run.progress.current` when it lands.
    :func:`fetch_results` waits for them."""
    tracker = progress.current()

    def landed(fut: Future[list[FetchResult]]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            tracker.fetched(fut.result())

    parts = []
    for group in batches(batch, FETCH_CHUNK):
        fut = fetcher.submit(group, previous)
        fut.add_done_callback(landed)
        parts.append(fut)
    return parts


def fetch_results(parts: Sequence[Future[list[FetchResult]]]) -> list[FetchResult]:
    return [r for part in parts for r in part.result()]


def run_audit(
    targets_file: str | Path,
    label: str,
    settings: Settings,
    refresh: bool = False,
    on_batch: Callable[[int, int], None] | None = None,
    shard: str | None = None,
) -> tables.AuditRun:
    """Run a whole audit directly (no Prefect): the same stages the flow wires."""
    wall = time.perf_counter()
    targets = load_targets(targets_file)
    rubric = load_rubric(settings.rubric)
    classifiers = load_classifiers(settings)
    engine = db.make_engine(settings.db_url)
    archive = Archive(settings.archive_dir)
    plan = plan_audit(engine, targets, label, rubric, classifiers, str(targets_file), refresh, parse_shard(shard))
    progress.current().start(label, len(plan.todo), plan.skipped)
    t = BatchTimings()
    groups = batches(plan.todo, settings.batch_size)
    fetch_time = [0.0]
    try:
        _run_batches(engine, plan, groups, settings, archive, rubric, classifiers, t, on_batch, fetch_time)
    except BaseException as exc:
        try:
            with db.session_scope(engine) as session:
                save.finish_run(session, plan.run_id, {"fetch": fetch_time[0], **t.as_dict()}, status="failed",
                                 error=f"{type(exc).__name__}: {exc}")
        except Exception:  # noqa: BLE001 - the database may be on the full disk too; the original error matters
            log.exception("could not record the failed run %s", label)
        raise
    with db.session_scope(engine) as session:
        return save.finish_run(
            session, plan.run_id, {"fetch": fetch_time[0], **t.as_dict(), "wall": time.perf_counter() - wall}
        )


def _run_batches(
    engine: Engine, plan: AuditPlan, groups: list[list[Target]], settings: Settings, archive: Archive, rubric: Rubric,
    classifiers: Classifiers, t: BatchTimings, on_batch: Callable[[int, int], None] | None, fetch_time: list[float],
) -> None:
    """Fetch up to ``FETCH_AHEAD`` batches at once (one client and one politeness state for the
    whole audit) while up to ``settings.workers`` batches are graded in worker processes."""
    done = 0
    with ExitStack() as stack:
        pool = stack.enter_context(GradingPool(settings)) if settings.workers > 1 and len(groups) > 1 else None
        graders = stack.enter_context(ThreadPoolExecutor(max(1, settings.workers)))
        fetcher = stack.enter_context(Fetcher(settings, archive, pdf_text=pdf_text))
        stack.callback(lambda: fetch_time.__setitem__(0, fetcher.busy_seconds))
        todo = iter(groups)
        fetching: deque[tuple[list[Target], list[Future[list[FetchResult]]]]] = deque()
        tracker = progress.current()

        def fetch_next() -> None:
            batch = next(todo, None)
            if batch is not None:
                fetching.append((batch, submit_fetch(fetcher, batch, previous_validators(engine, plan.run_id, batch, archive))))

        for _ in range(FETCH_AHEAD):
            fetch_next()
        in_flight: list[Future[dict[str, int]]] = []
        while fetching:
            batch, parts = fetching.popleft()
            fetched = list(zip(batch, fetch_results(parts), strict=True))
            fetch_next()
            in_flight.append(graders.submit(process_batch, engine, plan.run_id, fetched, rubric, classifiers, t, pool))
            while len(in_flight) > max(1, settings.workers) or (in_flight and in_flight[0].done()):
                tracker.graded(in_flight.pop(0).result())
                done += settings.batch_size
                if on_batch:
                    on_batch(min(done, len(plan.todo)), len(plan.todo))
        for fut in in_flight:
            tracker.graded(fut.result())
