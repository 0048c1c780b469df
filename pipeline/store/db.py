"""Database tables (SQLModel) and the functions that read and write them.

SQLite file by default (``sqlite:///audit-data/audit.db``), PostgreSQL when the
database URL says so. Tables:

    services            one row per service id (upserted from the targets file)
    overrides           a reviewer's correction of one criterion in one audit (kept across re-runs)
    audit_runs          one row per audit label ("2026", "2026-w47"), with rubric and counts
    snapshots           one fetch per (run, service): URLs, status, outcome, sha256 of the archived body
    documents           extracted text, content-addressed by the snapshot's sha256 (shared across runs)
    segments            the segments of a document, with offsets into its text
    scores              one grade per (run, service): status, score, tier, reason
    criterion_results   one row per (run, service, criterion), with its evidence as JSON

Writing one service's results is one transaction that replaces what the same run
held for that service, so re-running or resuming an audit never duplicates rows.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, Integer, String, Text, UniqueConstraint, bindparam, delete, event, func, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlmodel import Field, Session, SQLModel, create_engine, select

from pipeline.errors import StoreError
from pipeline.records import (
    AuditReport,
    CriterionResult,
    Evidence,
    FetchOutcome,
    FetchResult,
    Grade,
    GradeStatus,
    Level,
    PolicyText,
    Segment,
    ServiceReport,
    Target,
)


def _now() -> datetime:
    return datetime.now(UTC)


class Service(SQLModel, table=True):
    __tablename__ = "services"
    id: str = Field(primary_key=True, description="Service id from the targets file")
    name: str
    kind: str = Field(description="app or site")
    sector: str = ""
    region: str = ""
    policy_url: str | None = None
    homepage: str | None = None
    updated_at: datetime = Field(default_factory=_now)


class AuditRun(SQLModel, table=True):
    __tablename__ = "audit_runs"
    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(index=True, unique=True, description="Audit label, e.g. 2026")
    rubric_id: str
    rubric_version: str
    rubric_sha256: str = ""
    model_version: str | None = None
    status: str = Field(default="running", description="running, completed, failed")
    started_at: datetime = Field(default_factory=_now)
    finished_at: datetime | None = None
    n_targets: int = 0
    n_assessed: int = 0
    n_no_policy: int = 0
    n_not_assessed: int = 0
    n_reused: int = Field(default=0, description="services whose unchanged content kept the grade of an earlier audit")
    timings: dict = Field(default_factory=dict, sa_column=Column(JSON), description="seconds per stage")
    targets_file: str = ""
    error: str | None = None


class Snapshot(SQLModel, table=True):
    __tablename__ = "snapshots"
    __table_args__ = (UniqueConstraint("run_id", "service_id"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="audit_runs.id", index=True)
    service_id: str = Field(foreign_key="services.id", index=True)
    requested_url: str
    final_url: str | None = None
    status_code: int | None = None
    content_type: str | None = None
    fetched_at: datetime
    sha256: str | None = Field(default=None, index=True, description="archive key of the raw body")
    size: int = 0
    encoding: str | None = None
    outcome: str
    error: str | None = None
    discovery_path: list = Field(default_factory=list, sa_column=Column(JSON))
    elapsed_s: float = 0.0
    previous_sha256: str | None = Field(default=None, description="sha256 of this service's snapshot in the previous audit")
    changed: bool | None = Field(default=None, description="content differs from the previous audit; None if no previous")
    click_depth: int | None = Field(default=None, description="clicks from the start page to the policy (0 = given URL)")
    etag: str | None = Field(default=None, description="ETag validator of the response, for conditional re-fetches")
    last_modified: str | None = Field(default=None, description="Last-Modified validator of the response")
    not_modified: bool = Field(default=False, description="the server answered 304; body taken from the archive")
    archive_timestamp: str | None = Field(default=None, description="Internet Archive capture time (--as-of audits)")
    archive_url: str | None = Field(default=None, description="Internet Archive replay URL (--as-of audits)")
    retries: int = Field(default=0, description="HTTP retries needed (429/5xx/resets)")
    warnings: list = Field(default_factory=list, sa_column=Column(JSON), description="e.g. policy more than 4 clicks away")


class Document(SQLModel, table=True):
    __tablename__ = "documents"
    sha256: str = Field(primary_key=True, description="sha256 of the raw body this text was extracted from")
    language: str
    title: str | None = None
    text: str = Field(sa_column=Column(Text, nullable=False))
    n_segments: int = 0
    created_at: datetime = Field(default_factory=_now)


class SegmentRow(SQLModel, table=True):
    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("sha256", "idx"),)
    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(foreign_key="documents.sha256", index=True)
    idx: int
    start: int
    end: int
    kind: str
    heading: str | None = None
    text: str = Field(sa_column=Column(Text, nullable=False))


class Score(SQLModel, table=True):
    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("run_id", "service_id"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="audit_runs.id", index=True)
    service_id: str = Field(foreign_key="services.id", index=True)
    snapshot_id: int | None = Field(default=None, foreign_key="snapshots.id")
    status: str = Field(description="assessed, no_policy, not_assessed")
    score: float | None = None
    tier: str | None = None
    reason: str = ""
    rubric_id: str
    rubric_version: str
    model_version: str | None = None
    graded_at: datetime = Field(default_factory=_now)
    reused_from_run: int | None = Field(default=None, description="run whose grade of the same content was reused")


class CriterionRow(SQLModel, table=True):
    __tablename__ = "criterion_results"
    __table_args__ = (UniqueConstraint("run_id", "service_id", "criterion_id"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="audit_runs.id", index=True)
    service_id: str = Field(foreign_key="services.id", index=True)
    criterion_id: str
    level: str
    points: float
    weight: float
    method: str
    note: str = ""
    evidence: list = Field(default_factory=list, sa_column=Column(JSON))


class Override(SQLModel, table=True):
    """A reviewer's correction of one criterion's result in one audit. Survives re-runs of the audit."""

    __tablename__ = "overrides"
    __table_args__ = (UniqueConstraint("run_id", "service_id", "criterion_id"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="audit_runs.id", index=True)
    service_id: str = Field(foreign_key="services.id", index=True)
    criterion_id: str
    level: str = Field(description="full, partial or none, as set by the reviewer")
    note: str = Field(description="why the reviewer changed it")
    reviewer: str = ""
    created_at: datetime = Field(default_factory=_now)


# ----------------------------------------------------------------- engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_MIGRATE_LOCK = threading.Lock()
_MIGRATED: set[str] = set()


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to the newest Alembic revision (creates the tables on an empty database).

    On PostgreSQL an advisory lock makes workers that start together migrate one at a time.
    """
    from alembic import command

    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # batch migrations rebuild tables: foreign keys must be off (outside a transaction)
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(721000115)")
            command.upgrade(_alembic_config(conn), revision)
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()


def make_engine(url: str, retries: int = 3, retry_delay: float = 1.0) -> Engine:
    """Engine for ``url`` with the schema migrated. Retries a locked/unreachable database, then raises StoreError."""
    try:
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_pre_ping=True)
    except (OSError, ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"cannot use the database URL {url!r}: {type(exc).__name__}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    last: Exception | None = None
    for attempt in range(retries):
        try:
            with _MIGRATE_LOCK:  # Alembic's command API is not thread-safe; once per process and URL
                fresh_file = url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists()
                if url not in _MIGRATED or fresh_file:
                    migrate(engine)
                    _MIGRATED.add(url)
            return engine
        except OperationalError as exc:
            last = exc
            time.sleep(retry_delay * (attempt + 1))
    raise StoreError(f"cannot use the database {engine.url!r} after {retries} attempts: {last}")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session; a database that stays locked or goes away becomes a StoreError naming it."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
        except OperationalError as exc:
            session.rollback()
            raise StoreError(f"cannot use the database {engine.url!r}: {exc.orig}") from exc


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
    """Create the run for ``label``, or reopen it (resume) when it exists with the same rubric version."""
    run = session.exec(select(AuditRun).where(AuditRun.label == label)).first()
    if run is not None:
        if (run.rubric_id, run.rubric_version) != (rubric_id, rubric_version):
            raise StoreError(
                f"audit {label!r} was graded with rubric {run.rubric_id} {run.rubric_version}; "
                f"use a new label to grade with {rubric_id} {rubric_version}"
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


def completed_service_ids(session: Session, run_id: int) -> set[str]:
    return set(session.exec(select(Score.service_id).where(Score.run_id == run_id)))


def document_languages(session: Session, sha256s: Iterable[str]) -> dict[str, str]:
    """Language of each already-extracted document among ``sha256s``."""
    keys = list(sha256s)
    if not keys:
        return {}
    return dict(session.exec(select(Document.sha256, Document.language).where(Document.sha256.in_(keys))).all())  # type: ignore[attr-defined]


def load_document(session: Session, sha256: str) -> tuple[PolicyText, list[Segment]] | None:
    doc = session.get(Document, sha256)
    if doc is None:
        return None
    rows = session.exec(select(SegmentRow).where(SegmentRow.sha256 == sha256).order_by(SegmentRow.idx)).all()
    policy = PolicyText(text=doc.text, language=doc.language, title=doc.title)  # type: ignore[arg-type]
    segs = [Segment(index=r.idx, start=r.start, end=r.end, text=r.text, kind=r.kind, heading=r.heading) for r in rows]  # type: ignore[arg-type]
    return policy, segs


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
         "reused_from_run": it.reused_from_run}
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


def previous_snapshots(session: Session, run_id: int, service_ids: Sequence[str]) -> dict[str, str | None]:
    """For each service, the sha256 of its snapshot in the most recent other audit (None if it had no body)."""
    rows = session.exec(
        select(Snapshot.service_id, Snapshot.sha256, Snapshot.run_id)
        .where(Snapshot.run_id != run_id, Snapshot.service_id.in_(list(service_ids)))  # type: ignore[attr-defined]
        .order_by(Snapshot.run_id)
    ).all()
    return {sid: sha for sid, sha, _ in rows}  # later runs overwrite earlier ones


def previous_fetches(session: Session, run_id: int, service_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """(final URL, sha256) of each service's latest earlier snapshot that had a body: for conditional requests."""
    rows = session.exec(
        select(Snapshot.service_id, Snapshot.final_url, Snapshot.requested_url, Snapshot.sha256)
        .where(Snapshot.run_id != run_id, Snapshot.service_id.in_(list(service_ids)), Snapshot.sha256.is_not(None))  # type: ignore[attr-defined,union-attr]
        .order_by(Snapshot.run_id)
    ).all()
    return {sid: (final or req, sha) for sid, final, req, sha in rows}


def run_snapshots(session: Session, label: str) -> list[FetchResult]:
    """Every snapshot of one audit, as fetch records (without bodies), for WARC export."""
    run = get_run(session, label)
    rows = session.exec(select(Snapshot).where(Snapshot.run_id == run.id).order_by(Snapshot.service_id)).all()
    return [_snapshot_record(r) for r in rows]


def reusable_grade(
    session: Session, sha256: str, rubric_id: str, rubric_version: str, model_version: str | None
) -> tuple[Grade, int] | None:
    """A stored grade of exactly this content with the same rubric and model version, and its run id."""
    row = session.exec(
        select(Score, Snapshot)
        .join(Snapshot, Score.snapshot_id == Snapshot.id)  # type: ignore[arg-type]
        .where(
            Snapshot.sha256 == sha256,
            Score.rubric_id == rubric_id,
            Score.rubric_version == rubric_version,
            Score.model_version == model_version if model_version is not None else Score.model_version.is_(None),  # type: ignore[union-attr]
            Score.status == GradeStatus.ASSESSED.value,
        )
        .order_by(Score.id.desc())  # type: ignore[union-attr]
    ).first()
    if row is None:
        return None
    score, _snap = row
    crit = session.exec(
        select(CriterionRow)
        .where(CriterionRow.run_id == score.run_id, CriterionRow.service_id == score.service_id)
        .order_by(CriterionRow.id)
    ).all()
    grade = Grade(
        status=GradeStatus(score.status), rubric_id=score.rubric_id, rubric_version=score.rubric_version,
        score=score.score, tier=score.tier, criteria=_criteria_from_rows(crit), reason=score.reason,
        model_version=score.model_version,
    )
    return grade, score.run_id


@dataclass(frozen=True)
class ReusableGrade:
    """A stored grade of the same content, rubric and model: its score row (``grade`` has no
    criteria) and where its criterion rows are (``ResultItem.criteria_from``)."""

    grade: Grade
    run_id: int
    service_id: str


def reusable_scores(
    session: Session, wanted: dict[str, str | None], rubric_id: str, rubric_version: str
) -> dict[str, ReusableGrade]:
    """The latest reusable grade of each document: ``wanted`` maps sha256 -> model version.

    Plain column tuples, not ORM objects, and no criterion rows: an unchanged re-run looks up
    every service, and stores the criteria by copying rows inside the database."""
    if not wanted:
        return {}
    rows = session.execute(
        select(
            Snapshot.sha256, Score.run_id, Score.service_id, Score.status, Score.rubric_id, Score.rubric_version,
            Score.score, Score.tier, Score.reason, Score.model_version,
        )
        .join(Snapshot, Score.snapshot_id == Snapshot.id)  # type: ignore[arg-type]
        .where(
            Snapshot.sha256.in_(list(wanted)),  # type: ignore[union-attr]
            Score.rubric_id == rubric_id,
            Score.rubric_version == rubric_version,
            Score.status == GradeStatus.ASSESSED.value,
        )
        .order_by(Score.id.desc())  # type: ignore[union-attr]
    ).all()
    out: dict[str, ReusableGrade] = {}
    for r in rows:
        if r.sha256 not in out and r.model_version == wanted[r.sha256]:
            grade = Grade(
                status=GradeStatus(r.status), rubric_id=r.rubric_id, rubric_version=r.rubric_version,
                score=r.score, tier=r.tier, reason=r.reason, model_version=r.model_version,
            )
            out[r.sha256] = ReusableGrade(grade, r.run_id, r.service_id)
    return out


def reusable_grades(
    session: Session, wanted: dict[str, str | None], rubric_id: str, rubric_version: str
) -> dict[str, tuple[Grade, int]]:
    """:func:`reusable_grade` for many documents at once (with their criteria): ``wanted`` maps sha256 -> model version."""
    found = reusable_scores(session, wanted, rubric_id, rubric_version)
    crit_rows: dict[tuple[int, str], list[Any]] = {}
    for run_id in {r.run_id for r in found.values()}:
        services = sorted({r.service_id for r in found.values() if r.run_id == run_id})
        for row in session.execute(
            select(_CRIT.c.run_id, _CRIT.c.service_id, *(_CRIT.c[c] for c in _COPY_COLUMNS))  # type: ignore[attr-defined]
            .where(_CRIT.c.run_id == run_id, _CRIT.c.service_id.in_(services))  # type: ignore[attr-defined]
            .order_by(_CRIT.c.id)  # type: ignore[attr-defined]
        ):
            crit_rows.setdefault((row.run_id, row.service_id), []).append(row)
    return {
        sha: (replace(r.grade, criteria=_criteria_from_rows(crit_rows.get((r.run_id, r.service_id), []))), r.run_id)
        for sha, r in found.items()
    }


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


# ----------------------------------------------------------------- reads


def get_run(session: Session, label: str) -> AuditRun:
    run = session.exec(select(AuditRun).where(AuditRun.label == label)).first()
    if run is None:
        labels = ", ".join(session.exec(select(AuditRun.label).order_by(AuditRun.id))) or "none yet"
        raise StoreError(f"no audit labelled {label!r} in the database (audits: {labels})")
    return run


def list_runs(session: Session) -> list[AuditRun]:
    return list(session.exec(select(AuditRun).order_by(AuditRun.id)))


def _criteria_from_rows(rows: Sequence[Any]) -> tuple[CriterionResult, ...]:
    """CriterionRow objects or rows with the same columns."""
    return tuple(
        CriterionResult(
            criterion_id=r.criterion_id,
            level=Level(r.level),
            points=r.points,
            weight=r.weight,
            method=r.method,
            note=r.note,
            evidence=tuple(Evidence(**e) for e in (r.evidence or [])),
        )
        for r in rows
    )


def _snapshot_record(s: Snapshot) -> FetchResult:
    return FetchResult(
        requested_url=s.requested_url,
        outcome=FetchOutcome(s.outcome),
        fetched_at=s.fetched_at,
        final_url=s.final_url,
        status_code=s.status_code,
        content_type=s.content_type,
        sha256=s.sha256,
        size=s.size,
        encoding=s.encoding,
        error=s.error,
        discovery_path=tuple(s.discovery_path or ()),
        elapsed_s=s.elapsed_s,
        click_depth=s.click_depth,
        etag=s.etag,
        last_modified=s.last_modified,
        not_modified=s.not_modified,
        archive_timestamp=s.archive_timestamp,
        archive_url=s.archive_url,
        retries=s.retries,
        warnings=tuple(s.warnings or ()),
    )


def rank_scores(scores: Sequence[tuple[str, float | None]]) -> dict[str, int]:
    """Competition ranking ("1224") of graded services by score, best first; ungraded get no rank."""
    graded = sorted((s for s in scores if s[1] is not None), key=lambda s: -s[1])  # type: ignore[operator]
    ranks: dict[str, int] = {}
    prev: float | None = None
    rank = 0
    for i, (sid, score) in enumerate(graded, start=1):
        if score != prev:
            rank, prev = i, score
        ranks[sid] = rank
    return ranks


def load_report(session: Session, label: str, with_text: bool = True) -> AuditReport:
    """Everything the report needs for one audit, services ordered by rank."""
    run = get_run(session, label)
    scores = session.exec(select(Score).where(Score.run_id == run.id)).all()
    services = {s.id: s for s in session.exec(select(Service).where(Service.id.in_([sc.service_id for sc in scores])))}
    snaps = {s.id: s for s in session.exec(select(Snapshot).where(Snapshot.run_id == run.id))}
    crit_rows: dict[str, list[CriterionRow]] = {}
    for row in session.exec(select(CriterionRow).where(CriterionRow.run_id == run.id).order_by(CriterionRow.id)):
        crit_rows.setdefault(row.service_id, []).append(row)
    ranks = rank_scores([(sc.service_id, sc.score if sc.status != GradeStatus.NOT_ASSESSED.value else None) for sc in scores])
    out: list[ServiceReport] = []
    for sc in scores:
        svc = services[sc.service_id]
        snap = snaps.get(sc.snapshot_id) if sc.snapshot_id else None
        doc = session.get(Document, snap.sha256) if (with_text and snap and snap.sha256) else None
        out.append(
            ServiceReport(
                target=Target(
                    id=svc.id, name=svc.name, kind=svc.kind, sector=svc.sector, region=svc.region,  # type: ignore[arg-type]
                    policy_url=svc.policy_url, homepage=svc.homepage,
                ),
                status=GradeStatus(sc.status),
                score=sc.score,
                tier=sc.tier,
                rank=ranks.get(sc.service_id),
                reason=sc.reason,
                criteria=_criteria_from_rows(crit_rows.get(sc.service_id, [])),
                snapshot=_snapshot_record(snap) if snap else None,
                archive_path=(f"{snap.sha256[:2]}/{snap.sha256[2:]}" if snap and snap.sha256 else None),
                text=doc.text if doc else None,
                language=doc.language if doc else None,  # type: ignore[arg-type]
            )
        )
    out.sort(key=lambda r: (r.rank is None, r.rank or 0, r.target.name, r.target.id))
    return AuditReport(
        label=run.label,
        rubric_id=run.rubric_id,
        rubric_version=run.rubric_version,
        model_version=run.model_version,
        started_at=run.started_at,
        finished_at=run.finished_at,
        status=run.status,
        services=tuple(out),
    )


def run_summary(run: AuditRun) -> dict[str, Any]:
    data = run.model_dump()
    data["timings"] = json.loads(json.dumps(run.timings or {}))
    return data
