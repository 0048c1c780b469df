"""Reading audits back: runs, previous fetches and reusable grades, and whole audits as AuditReport.

    load_report(session, "2026")                 # the AuditReport of one audit, ranked
    reusable_scores(session, wanted, rubric_id, rubric_version)   # grades identical content can reuse
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlmodel import Session, select

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
from pipeline.store.save import _COPY_COLUMNS, _CRIT
from pipeline.store.tables import (
    AuditRun,
    CriterionRow,
    Document,
    Score,
    SegmentRow,
    Service,
    Snapshot,
)


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
        model_version=score.model_version, doctype=score.doctype, doctype_reason=score.doctype_reason,
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
            Score.score, Score.tier, Score.reason, Score.model_version, Score.doctype, Score.doctype_reason,
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
                doctype=r.doctype, doctype_reason=r.doctype_reason,
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
    languages = document_languages(session, {s.sha256 for s in snaps.values() if s.sha256})
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
                language=languages.get(snap.sha256) if snap and snap.sha256 else None,  # type: ignore[arg-type]
                doctype=sc.doctype,
                doctype_reason=sc.doctype_reason,
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
