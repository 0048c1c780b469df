"""Writing an audit: services, runs, and each service's fetch, document, segments and grade.

    save_results(session, run_id, [ResultItem(target, fetch, grade, policy, segments, previous_sha256)])

Writing one service's results is one transaction that replaces what the same run
held for that service, so re-running or resuming an audit never duplicates rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Integer, String, bindparam, delete, func, insert
from sqlmodel import Session, SQLModel, select

from pipeline.errors import StoreError
from pipeline.records import (
    Evidence,
    FetchResult,
    Grade,
    GradeStatus,
    PolicyText,
    Segment,
    Target,
)
from pipeline.store.tables import (
    AuditRun,
    CriterionRow,
    Document,
    Score,
    SegmentRow,
    Service,
    Snapshot,
    _now,
)

# ----------------------------------------------------------------- writes


def upsert_services(session: Session, targets: Sequence[Target]) -> None:
    existing = {s.id: s for s in session.exec(select(Service).where(Service.id.in_([t.id for t in targets])))}
    for t in targets:
        row = existing.get(t.id) or Service(id=t.id, name=t.name, kind=t.kind)
        row.name, row.kind, row.sector, row.region = t.name, t.kind, t.sector, t.region
        row.policy_url, row.homepage, row.updated_at = t.policy_url, t.homepage, _now()
        session.add(row)
    session.commit()


def start_run(
    session: Session,
    label: str,
    rubric_id: str,
    rubric_version: str,
    rubric_sha256: str,
    model_version: str | None,
    n_targets: int,
    targets_file: str,
) -> AuditRun:
    """Create the run for ``label``, or reopen it (resume) when it exists with the same rubric
    (id, version and content sha256: changed content under the same version is refused)."""
    run = session.exec(select(AuditRun).where(AuditRun.label == label)).first()
    if run is not None:
        if (run.rubric_id, run.rubric_version) != (rubric_id, rubric_version):
            raise StoreError(
                f"audit {label!r} was graded with rubric {run.rubric_id} {run.rubric_version}; "
                f"use a new label to grade with {rubric_id} {rubric_version}"
            )
        if run.rubric_sha256 and run.rubric_sha256 != rubric_sha256:
            raise StoreError(
                f"audit {label!r} was graded with rubric {rubric_id} {rubric_version} of different content "
                f"(sha256 {run.rubric_sha256[:12]}…, this file {rubric_sha256[:12]}…); one audit never mixes "
                "two rubrics: bump the rubric's version, or use a new label"
            )
        run.status = "running"
        run.finished_at = None
        run.error = None
    else:
        run = AuditRun(label=label, rubric_id=rubric_id, rubric_version=rubric_version)
    run.rubric_sha256 = rubric_sha256
    run.model_version = model_version
    run.n_targets = max(run.n_targets, n_targets)
    run.targets_file = targets_file
    session.add(run)
    session.commit()
    session.refresh(run)
    return run


def save_result(
    session: Session,
    run_id: int,
    target: Target,
    fetch: FetchResult,
    grade: Grade,
    policy: PolicyText | None = None,
    segments: Sequence[Segment] = (),
    previous_sha256: str | None = None,
    reused_from_run: int | None = None,
) -> None:
    """Write one service's snapshot, document, score and criteria in one transaction, replacing earlier ones of this run."""
    _save_one(session, run_id, ResultItem(target, fetch, grade, policy, segments, previous_sha256, reused_from_run))


def _save_one(session: Session, run_id: int, item: ResultItem) -> None:
    try:
        _save_batch(session, run_id, [item])
        session.commit()
    except Exception:
        session.rollback()
        raise


@dataclass(frozen=True)
class ResultItem:
    """One service's results of one batch, for :func:`save_results`."""

    target: Target
    fetch: FetchResult
    grade: Grade
    policy: PolicyText | None = None
    segments: Sequence[Segment] = ()
    previous_sha256: str | None = None
    reused_from_run: int | None = None
    # (run id, service id) whose criterion rows are copied as they are (a reused grade; then
    # ``grade.criteria`` is not used): copied inside the database, not decoded and re-encoded
    criteria_from: tuple[int, str] | None = None


def _evidence_json(e: Evidence) -> dict[str, Any]:
    return {
        "segment_index": e.segment_index, "start": e.start, "end": e.end, "quote": e.quote,
        "method": e.method, "probability": e.probability,
    }


def _snapshot_values(run_id: int, target: Target, fetch: FetchResult, previous_sha256: str | None) -> dict[str, Any]:
    return {
        "run_id": run_id, "service_id": target.id, "requested_url": fetch.requested_url,
        "final_url": fetch.final_url, "status_code": fetch.status_code, "content_type": fetch.content_type,
        "fetched_at": fetch.fetched_at, "sha256": fetch.sha256, "size": fetch.size, "encoding": fetch.encoding,
        "outcome": str(fetch.outcome), "error": fetch.error, "discovery_path": list(fetch.discovery_path),
        "elapsed_s": fetch.elapsed_s, "previous_sha256": previous_sha256,
        "changed": None if previous_sha256 is None else previous_sha256 != fetch.sha256,
        "click_depth": fetch.click_depth, "etag": fetch.etag, "last_modified": fetch.last_modified,
        "not_modified": fetch.not_modified, "archive_timestamp": fetch.archive_timestamp,
        "archive_url": fetch.archive_url, "retries": fetch.retries, "warnings": list(fetch.warnings),
    }


def save_results(session: Session, run_id: int, items: Sequence[ResultItem]) -> None:
    """Write a batch of services' results in one transaction, with bulk inserts.

    The same rows as :func:`save_result` for each item (earlier rows of this run for these
    services are replaced). If the batch cannot be written as a whole, each service is
    written on its own, so one bad row costs only its own service (and raises afterwards).
    """
    if not items:
        return
    try:
        _save_batch(session, run_id, items)
        session.commit()
        return
    except Exception:  # noqa: BLE001 - isolate the failing service below
        session.rollback()
    errors: list[Exception] = []
    for it in items:
        try:
            _save_one(session, run_id, it)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
    if errors:
        raise errors[0]


def _insert_rows(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Insert many rows (all with the same keys). SQLite: one executemany. PostgreSQL: ``COPY``,
    because psycopg's executemany sends one statement per row (a batch of 50 policies has some
    20,000 segment rows: the store stage was 3-4x slower than on SQLite)."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(model), rows)
        return
    table = model.__table__  # type: ignore[attr-defined]
    cols = list(rows[0])
    as_json = {c for c in cols if isinstance(table.c[c].type, JSON)}
    names = ", ".join(f'"{c}"' for c in cols)
    raw = session.connection().connection.driver_connection  # the session's own transaction
    with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for r in rows:
            copy.write_row([json.dumps(r[c]) if c in as_json else r[c] for c in cols])


def _save_batch(session: Session, run_id: int, items: Sequence[ResultItem]) -> None:
    ids = [it.target.id for it in items]
    if len(set(ids)) != len(ids):
        raise StoreError("a batch names the same service twice")
    present = set(session.exec(
        select(Snapshot.service_id).where(Snapshot.run_id == run_id, Snapshot.service_id.in_(ids))  # type: ignore[attr-defined]
    ))
    present |= set(session.exec(
        select(Score.service_id).where(Score.run_id == run_id, Score.service_id.in_(ids))  # type: ignore[attr-defined]
    ))
    # reused grades' criterion rows: copied inside the database, except rows this save replaces
    # (a refreshed run reusing its own grade), which are read before they are deleted
    reused = [(it, it.criteria_from) for it in items if it.criteria_from is not None]
    copies = [
        {"new_run": run_id, "new_service": it.target.id, "src_run": src[0], "src_service": src[1]}
        for it, src in reused if not (src[0] == run_id and src[1] in present)
    ]
    kept = [
        {**row._asdict(), "run_id": run_id, "service_id": it.target.id}
        for it, src in reused if src[0] == run_id and src[1] in present
        for row in session.execute(
            select(*(_CRIT.c[c] for c in _COPY_COLUMNS))  # type: ignore[attr-defined]
            .where(_CRIT.c.run_id == src[0], _CRIT.c.service_id == src[1])  # type: ignore[attr-defined]
            .order_by(_CRIT.c.id)  # type: ignore[attr-defined]
        )
    ]
    if present:  # a resumed or refreshed run: replace what it held for these services
        for table in (CriterionRow, Score, Snapshot):
            session.exec(delete(table).where(table.run_id == run_id, table.service_id.in_(sorted(present))))  # type: ignore[attr-defined]
    snap_ids = list(session.scalars(
        insert(Snapshot).returning(Snapshot.id, sort_by_parameter_order=True),  # type: ignore[arg-type]
        [_snapshot_values(run_id, it.target, it.fetch, it.previous_sha256) for it in items],
    ))
    new_docs = {it.fetch.sha256: it for it in items if it.policy is not None and it.fetch.sha256}
    if new_docs:
        known = set(session.exec(select(Document.sha256).where(Document.sha256.in_(list(new_docs)))))  # type: ignore[attr-defined]
        fresh = [(sha, it) for sha, it in new_docs.items() if sha not in known]
        if fresh:
            now = _now()
            _insert_rows(session, Document, [
                {"sha256": sha, "language": it.policy.language, "title": it.policy.title, "text": it.policy.text,  # type: ignore[union-attr]
                 "n_segments": len(it.segments), "created_at": now}
                for sha, it in fresh
            ])
            rows = [
                {"sha256": sha, "idx": sg.index, "start": sg.start, "end": sg.end, "kind": sg.kind, "heading": sg.heading, "text": sg.text}
                for sha, it in fresh for sg in it.segments
            ]
            if rows:
                _insert_rows(session, SegmentRow, rows)
    now = _now()
    _insert_rows(session, Score, [
        {"run_id": run_id, "service_id": it.target.id, "snapshot_id": sid, "status": str(it.grade.status),
         "score": it.grade.score, "tier": it.grade.tier, "reason": it.grade.reason, "rubric_id": it.grade.rubric_id,
         "rubric_version": it.grade.rubric_version, "model_version": it.grade.model_version, "graded_at": now,
         "reused_from_run": it.reused_from_run, "doctype": it.grade.doctype, "doctype_reason": it.grade.doctype_reason}
        for it, sid in zip(items, snap_ids, strict=True)
    ])
    crit = [
        {"run_id": run_id, "service_id": it.target.id, "criterion_id": c.criterion_id, "level": str(c.level),
         "points": c.points, "weight": c.weight, "method": c.method, "note": c.note,
         "evidence": [_evidence_json(e) for e in c.evidence]}
        for it in items if it.criteria_from is None for c in it.grade.criteria
    ]
    if crit:
        _insert_rows(session, CriterionRow, crit)
    if kept:
        _insert_rows(session, CriterionRow, kept)
    if copies:
        session.execute(_COPY_CRITERIA, copies)


_COPY_COLUMNS = ("criterion_id", "level", "points", "weight", "method", "note", "evidence")
_CRIT = CriterionRow.__table__  # Core: the ORM's bulk insert does not take INSERT ... SELECT
_COPY_CRITERIA = _CRIT.insert().from_select(  # type: ignore[attr-defined]
    ["run_id", "service_id", *_COPY_COLUMNS],
    select(
        bindparam("new_run", type_=Integer), bindparam("new_service", type_=String),
        *(_CRIT.c[c] for c in _COPY_COLUMNS),  # type: ignore[attr-defined]
    )
    .where(_CRIT.c.run_id == bindparam("src_run"), _CRIT.c.service_id == bindparam("src_service"))  # type: ignore[attr-defined]
    .order_by(_CRIT.c.id),  # type: ignore[attr-defined]
)


def finish_run(session: Session, run_id: int, timings: dict[str, float], status: str = "completed", error: str | None = None) -> AuditRun:
    run = session.get(AuditRun, run_id)
    assert run is not None
    counts = dict(
        session.exec(select(Score.status, func.count()).where(Score.run_id == run_id).group_by(Score.status)).all()
    )
    run.n_assessed = counts.get(GradeStatus.ASSESSED.value, 0)
    run.n_no_policy = counts.get(GradeStatus.NO_POLICY.value, 0)
    run.n_not_assessed = counts.get(GradeStatus.NOT_ASSESSED.value, 0)
    run.n_reused = session.exec(
        select(func.count()).select_from(Score).where(Score.run_id == run_id, Score.reused_from_run.is_not(None))  # type: ignore[union-attr]
    ).one()
    merged = dict(run.timings or {})
    for k, v in timings.items():
        merged[k] = round(merged.get(k, 0.0) + v, 3) if k != "wall" else round(v, 3)
    run.timings = merged
    graded = run.n_assessed + run.n_no_policy + run.n_not_assessed
    if status == "completed" and graded < run.n_targets:
        status = "incomplete"  # other workers (shards) of this audit are still running, or were stopped
    run.status = status
    run.error = error
    run.finished_at = _now()
    session.add(run)
    session.commit()
    session.refresh(run)
    return run
