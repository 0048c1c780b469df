"""Human review: a reviewer overrides one criterion's result in one audit, with a note.

    set_override(session, "2026", "acme", "retention_period", "partial",
                 note="Section 7 gives a period for backups only", reviewer="lin")
    overrides = overrides_for(session, "2026")        # {(service_id, criterion_id): Review}
    reviewed = apply_overrides(report, overrides, rubric)  # the audit as published
    report, reviews = reviewed_report(session, "2026", rubric)  # the same, loaded (show, compare, exports)

Overrides live in their own table (``overrides``), keyed by (run, service, criterion); writing a
service's results again (re-running or resuming the same audit label) replaces its scores and
criteria but never its overrides, so a review survives re-runs. :class:`Review` keeps the machine
result beside the reviewer's, so the report can show both, and says when the machine graded the
service again after the review (``regraded_after_review``), a hint that the review may need a look.

Points follow the grader (:mod:`pipeline.grade.checks`): weight x 1 / 0.5 / 0 for full / partial / none;
the score is their sum rounded to one decimal, clamped to 0..100, and the tier is the rubric's.

Errors (all :class:`ReviewError`, a :class:`~pipeline.errors.PolicyAuditError`)::

    ReviewError
     ├── UnknownServiceError     the service is not in that audit
     ├── UnknownCriterionError   the criterion has no result for that service in that audit
     ├── NotReviewableError      the service has no policy or could not be assessed
     ├── InvalidLevelError       level is not full / partial / none
     └── EmptyNoteError          a review needs a reason
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session, select

from pipeline.errors import PolicyAuditError
from pipeline.grade.checks import CREDIT
from pipeline.records import (
    AuditReport,
    CriterionResult,
    GradeStatus,
    Level,
    Rubric,
    ServiceReport,
)
from pipeline.store import queries, tables

REVIEW_METHOD = "review"  # CriterionResult.method of a reviewed criterion


class ReviewError(PolicyAuditError):
    """A review cannot be recorded as asked."""


class UnknownServiceError(ReviewError):
    pass


class UnknownCriterionError(ReviewError):
    pass


class NotReviewableError(ReviewError):
    pass


class InvalidLevelError(ReviewError):
    pass


class EmptyNoteError(ReviewError):
    pass


@dataclass(frozen=True)
class Review:
    """One reviewer's override, with the machine result it replaces."""

    label: str
    service_id: str
    criterion_id: str
    level: Level  # the reviewer's level
    note: str
    reviewer: str
    created_at: datetime
    weight: float
    machine_level: Level | None  # None when the machine result is gone (e.g. the service is no longer graded)
    machine_points: float | None
    machine_method: str
    regraded_after_review: bool = False  # the machine graded this service again after the review

    @property
    def points(self) -> float:
        return points_for(self.weight, self.level)

    @property
    def changes_result(self) -> bool:
        return self.machine_level != self.level


def parse_level(level: str | Level) -> Level:
    """``"partial"`` -> Level.PARTIAL; raises InvalidLevelError naming the allowed values."""
    try:
        return Level(str(level).strip().lower())
    except ValueError:
        allowed = ", ".join(lv.value for lv in Level)
        raise InvalidLevelError(f"level {level!r} is not one of {allowed}") from None


def points_for(weight: float, level: Level | str) -> float:
    """Points of a criterion at ``level``, as the grader computes them."""
    return weight * CREDIT[parse_level(level)]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# ----------------------------------------------------------------- writes and reads


def set_override(
    session: Session,
    label: str,
    service_id: str,
    criterion_id: str,
    level: str | Level,
    note: str,
    reviewer: str = "",
) -> tables.Override:
    """Record (or replace) a reviewer's level for one criterion of one service in audit ``label``."""
    lvl = parse_level(level)
    if not note or not note.strip():
        raise EmptyNoteError(
            f"a review of {service_id!r} / {criterion_id!r} needs a note saying why (--note \"...\")"
        )
    run = queries.get_run(session, label)  # StoreError naming the known labels
    score = session.exec(
        select(tables.Score).where(tables.Score.run_id == run.id, tables.Score.service_id == service_id)
    ).first()
    if score is None:
        known = sorted(session.exec(select(tables.Score.service_id).where(tables.Score.run_id == run.id)))
        hint = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
        raise UnknownServiceError(f"service {service_id!r} is not in audit {label!r} (services: {hint or 'none'})")
    if score.status != GradeStatus.ASSESSED.value:
        raise NotReviewableError(
            f"service {service_id!r} was not graded from a policy in audit {label!r} (status {score.status}"
            f"{': ' + score.reason if score.reason else ''}); only assessed services can be reviewed: "
            "fix its policy URL and re-run the audit instead"
        )
    crit = session.exec(
        select(tables.CriterionRow).where(
            tables.CriterionRow.run_id == run.id,
            tables.CriterionRow.service_id == service_id,
            tables.CriterionRow.criterion_id == criterion_id,
        )
    ).first()
    if crit is None:
        known = sorted(
            session.exec(
                select(tables.CriterionRow.criterion_id).where(
                    tables.CriterionRow.run_id == run.id, tables.CriterionRow.service_id == service_id
                )
            )
        )
        raise UnknownCriterionError(
            f"criterion {criterion_id!r} has no result for {service_id!r} in audit {label!r} "
            f"(criteria: {', '.join(known)})"
        )
    row = session.exec(
        select(tables.Override).where(
            tables.Override.run_id == run.id,
            tables.Override.service_id == service_id,
            tables.Override.criterion_id == criterion_id,
        )
    ).first()
    if row is None:
        row = tables.Override(run_id=run.id, service_id=service_id, criterion_id=criterion_id, level=lvl.value, note="")  # type: ignore[arg-type]
    row.level, row.note, row.reviewer = lvl.value, note.strip(), reviewer.strip()
    row.created_at = datetime.now(UTC)
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def remove_override(session: Session, label: str, service_id: str, criterion_id: str) -> bool:
    """Delete one override; True when there was one."""
    run = queries.get_run(session, label)
    row = session.exec(
        select(tables.Override).where(
            tables.Override.run_id == run.id,
            tables.Override.service_id == service_id,
            tables.Override.criterion_id == criterion_id,
        )
    ).first()
    if row is None:
        return False
    session.delete(row)
    session.commit()
    return True


def overrides_for(session: Session, label: str) -> dict[tuple[str, str], Review]:
    """Every override of audit ``label`` with the machine result it replaces, by (service id, criterion id)."""
    run = queries.get_run(session, label)
    rows = session.exec(select(tables.Override).where(tables.Override.run_id == run.id).order_by(tables.Override.id)).all()
    if not rows:
        return {}
    machine = {
        (c.service_id, c.criterion_id): c
        for c in session.exec(select(tables.CriterionRow).where(tables.CriterionRow.run_id == run.id))
    }
    graded_at = {
        s.service_id: s.graded_at for s in session.exec(select(tables.Score).where(tables.Score.run_id == run.id))
    }
    out: dict[tuple[str, str], Review] = {}
    for o in rows:
        m = machine.get((o.service_id, o.criterion_id))
        when = graded_at.get(o.service_id)
        out[(o.service_id, o.criterion_id)] = Review(
            label=label,
            service_id=o.service_id,
            criterion_id=o.criterion_id,
            level=Level(o.level),
            note=o.note,
            reviewer=o.reviewer,
            created_at=_aware(o.created_at),
            weight=m.weight if m else 0.0,
            machine_level=Level(m.level) if m else None,
            machine_points=m.points if m else None,
            machine_method=m.method if m else "",
            regraded_after_review=bool(when and _aware(when) > _aware(o.created_at)),
        )
    return out


# ----------------------------------------------------------------- effective results


def effective_criteria(
    criteria: Sequence[CriterionResult], overrides: Mapping[str, Review | Level | str]
) -> tuple[CriterionResult, ...]:
    """The criteria with reviewers' levels applied (by criterion id); evidence is kept."""
    out = []
    for c in criteria:
        o = overrides.get(c.criterion_id)
        if o is None:
            out.append(c)
            continue
        level = o.level if isinstance(o, Review) else parse_level(o)
        note = f"reviewed: {o.note}" if isinstance(o, Review) else "reviewed"
        out.append(replace(c, level=level, points=points_for(c.weight, level), method=REVIEW_METHOD, note=note))
    return tuple(out)


def effective_score(criteria: Sequence[CriterionResult], overrides: Mapping[str, Review | Level | str]) -> float:
    """The score with overrides applied: sum of weight x credit, clamped to 0..100, one decimal (as the grader)."""
    total = sum(c.points for c in effective_criteria(criteria, overrides))
    return round(min(100.0, max(0.0, total)), 1)


def service_overrides(overrides: Mapping[tuple[str, str], Review], service_id: str) -> dict[str, Review]:
    return {cid: r for (sid, cid), r in overrides.items() if sid == service_id}


def apply_overrides(report: AuditReport, overrides: Mapping[tuple[str, str], Review], rubric: Rubric) -> AuditReport:
    """The audit as published after review: criteria, scores, tiers and ranks recomputed.

    Only assessed services change; an override whose criterion is not in the service's results is ignored."""
    if not overrides:
        return report
    services: list[ServiceReport] = []
    for svc in report.services:
        mine = service_overrides(overrides, svc.target.id)
        if not mine or svc.status != GradeStatus.ASSESSED:
            services.append(svc)
            continue
        criteria = effective_criteria(svc.criteria, mine)
        score = effective_score(svc.criteria, mine)
        services.append(replace(svc, criteria=criteria, score=score, tier=rubric.tier_for(score).id))
    ranks = queries.rank_scores(
        [(s.target.id, s.score if s.status != GradeStatus.NOT_ASSESSED else None) for s in services]
    )
    services = [replace(s, rank=ranks.get(s.target.id)) for s in services]
    services.sort(key=lambda r: (r.rank is None, r.rank or 0, r.target.name, r.target.id))
    return replace(report, services=tuple(services))


def changed_by_review(reviews: Mapping[tuple[str, str], Review], service_id: str) -> list[Review]:
    """The reviews of one service that changed the machine's level (a review that agrees changes nothing)."""
    return [r for (sid, _), r in sorted(reviews.items()) if sid == service_id and r.changes_result]


def rubric_of(report: AuditReport, preferred: Rubric | Path | None = None) -> Rubric:
    """The rubric ``report`` was graded with (id and version): ``preferred`` when it is that one,
    else the shipped rubric file with that id and version. Raises ReviewError when none is."""
    from pipeline.grade.rubric import load_rubric
    from pipeline.settings import DEFAULT_RUBRIC

    want = (report.rubric_id, report.rubric_version)
    if isinstance(preferred, Path):
        preferred = load_rubric(preferred)
    if preferred is not None and (preferred.id, preferred.version) == want:
        return preferred
    for path in sorted(DEFAULT_RUBRIC.parent.glob("*.yaml")):
        rubric = load_rubric(path)
        if (rubric.id, rubric.version) == want:
            return rubric
    raise ReviewError(
        f"audit {report.label!r} was graded with rubric {want[0]} {want[1]}: pass that rubric file (--rubric) "
        "to apply its reviews (tiers come from the rubric)"
    )


def reviewed_report(
    session: Session, label: str, rubric: Rubric | Path | None = None, with_text: bool = True
) -> tuple[AuditReport, dict[tuple[str, str], Review]]:
    """Audit ``label`` as published: reviewers' levels applied (scores, tiers, ranks recomputed with
    the audit's own rubric, see :func:`rubric_of`), and the reviews by (service id, criterion id)."""
    report = queries.load_report(session, label, with_text=with_text)
    reviews = overrides_for(session, label)
    if reviews:
        report = apply_overrides(report, reviews, rubric_of(report, rubric))
    return report, reviews
