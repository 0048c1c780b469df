"""Compare two audits: rank, score and tier changes, criteria gained and lost, policies that
appeared or disappeared, content changes, and (optionally) the older audit re-graded with a
newer rubric from its stored text (no refetch)::

    cmp = compare_audits(session, "2014", "2021")
    cmp = compare_audits(session, "2014", "2021", rubric=load_rubric(path), regrade=True)
    rows = format_comparison_table(cmp)          # list of rows for a CLI table

Conventions: rank 1 is best; ``rank_change = rank_a - rank_b`` (positive = moved up);
``score_delta = score_b - score_a``; ``tier_change`` counts tiers moved up (positive = better).
A policy *appeared* when a service goes from no policy / could not assess / absent to assessed,
and *disappeared* the other way. ``content_changed`` compares the sha256 of the archived bodies
(None when either audit has no body).

Re-grading uses the grader's rules; pass ``classifiers`` (see :func:`pipeline.grade.classify.load_classifiers`)
to add classifier evidence. Each :class:`Regrade` says which rubric version and which model (or
"rules only") it used. Functions print nothing.

The comparison's pages and bump chart are :mod:`pipeline.report.compare_page`; the side-by-side
text diff is :mod:`pipeline.report.textdiff`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from sqlmodel import Session

from pipeline.errors import PolicyAuditError
from pipeline.grade.grader import grade, grade_missing
from pipeline.records import (
    AuditReport,
    CriterionResult,
    Evidence,
    FetchOutcome,
    GradeStatus,
    Level,
    Rubric,
    ServiceReport,
)
from pipeline.report.review import Review, effective_criteria, effective_score, reviewed_report, service_overrides
from pipeline.store import queries

if TYPE_CHECKING:
    from pipeline.grade.classify import Classifiers

RULES_ONLY = "rules only"
_LEVEL_ORDER = {Level.NONE: 0, Level.PARTIAL: 1, Level.FULL: 2}
PolicyChange = Literal["appeared", "disappeared"]


class CompareError(PolicyAuditError):
    """The comparison cannot be made as asked (e.g. the same label twice, re-grade without a rubric)."""


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class CriterionChange:
    """One criterion whose level differs between the two audits."""

    criterion_id: str
    level_a: Level
    level_b: Level
    points_a: float
    points_b: float
    evidence_a: tuple[Evidence, ...] = ()
    evidence_b: tuple[Evidence, ...] = ()

    @property
    def gained(self) -> bool:
        return _LEVEL_ORDER[self.level_b] > _LEVEL_ORDER[self.level_a]


@dataclass(frozen=True)
class Regrade:
    """One stored document graded again with another rubric."""

    rubric_id: str
    rubric_version: str
    method: str  # "rules only" or the classifier version used
    status: GradeStatus | None  # None: no stored text to re-grade
    score: float | None
    tier: str | None
    criteria: tuple[CriterionResult, ...] = ()
    reason: str = ""
    reviewed: tuple[str, ...] = ()  # criteria whose level a reviewer's override of that audit changed


@dataclass(frozen=True)
class ServiceChange:
    service_id: str
    name: str
    sector: str
    status_a: GradeStatus | None  # None: not in audit A
    status_b: GradeStatus | None
    rank_a: int | None
    rank_b: int | None
    score_a: float | None
    score_b: float | None
    tier_a: str | None
    tier_b: str | None
    score_delta: float | None  # score_b - score_a
    rank_change: int | None  # rank_a - rank_b: positive = moved up
    tier_change: int | None  # tiers moved up (positive = better)
    policy: PolicyChange | None
    sha256_a: str | None
    sha256_b: str | None
    content_changed: bool | None  # None when either side has no archived body
    criteria: tuple[CriterionChange, ...] = ()  # only criteria whose level changed
    regrade_a: Regrade | None = None
    regrade_b: Regrade | None = None  # only when B was graded with another rubric than the re-grade's
    reviewed_a: tuple[str, ...] = ()  # criteria a reviewer changed in audit A (scores above include them)
    reviewed_b: tuple[str, ...] = ()
    text_a: str | None = field(default=None, repr=False, compare=False)
    text_b: str | None = field(default=None, repr=False, compare=False)

    @property
    def gained(self) -> tuple[CriterionChange, ...]:
        return tuple(c for c in self.criteria if c.gained)

    @property
    def lost(self) -> tuple[CriterionChange, ...]:
        return tuple(c for c in self.criteria if not c.gained)

    @property
    def regraded_delta(self) -> float | None:
        """score B minus score A, both under the re-grade rubric."""
        if self.regrade_a is None or self.regrade_a.score is None:
            return None
        b = self.regrade_b.score if self.regrade_b is not None else self.score_b
        return None if b is None else round(b - self.regrade_a.score, 1)


@dataclass(frozen=True)
class AuditSide:
    label: str
    rubric_id: str
    rubric_version: str
    model_version: str | None
    n_services: int


@dataclass(frozen=True)
class Comparison:
    a: AuditSide
    b: AuditSide
    services: tuple[ServiceChange, ...]  # by rank in B, then rank in A, then name
    tier_order: tuple[str, ...]  # tier ids, best first
    criterion_names: Mapping[str, tuple[str, str]] = field(default_factory=dict, hash=False, compare=False)
    regrade_rubric: tuple[str, str] | None = None  # (id, version) used to re-grade
    regrade_method: str | None = None  # "rules only" or classifier version(s)
    tier_names: Mapping[str, tuple[str, str]] = field(default_factory=dict, hash=False, compare=False)  # id -> (zh, en)

    def _with(self, pred: Callable[[ServiceChange], object]) -> tuple[ServiceChange, ...]:
        return tuple(s for s in self.services if pred(s))

    @property
    def rose(self) -> tuple[ServiceChange, ...]:
        return tuple(sorted(self._with(lambda s: (s.rank_change or 0) > 0), key=lambda s: -(s.rank_change or 0)))

    @property
    def fell(self) -> tuple[ServiceChange, ...]:
        return tuple(sorted(self._with(lambda s: (s.rank_change or 0) < 0), key=lambda s: s.rank_change or 0))

    @property
    def appeared(self) -> tuple[ServiceChange, ...]:
        return self._with(lambda s: s.policy == "appeared")

    @property
    def disappeared(self) -> tuple[ServiceChange, ...]:
        return self._with(lambda s: s.policy == "disappeared")

    @property
    def content_changed(self) -> tuple[ServiceChange, ...]:
        return self._with(lambda s: s.content_changed)

    def tier_name(self, tier_id: str | None) -> str:
        """``"较低 Relatively low"``: a tier in both languages (its id when the rubric does not name it)."""
        if tier_id is None:
            return "—"
        zh, en = self.tier_names.get(tier_id, (tier_id, tier_id))
        return f"{zh} {en}" if zh != en else en

    def criterion_name(self, cid: str) -> str:
        zh, en = self.criterion_names.get(cid, (cid, cid))
        return f"{zh} / {en}" if zh != en else en


# ---------------------------------------------------------------- comparing


def _graded(svc: ServiceReport | None) -> bool:
    return svc is not None and svc.status in (GradeStatus.ASSESSED, GradeStatus.NO_POLICY)


def _tier_order(rubric: Rubric | None, reports: Sequence[AuditReport]) -> tuple[str, ...]:
    """Tier ids best first: the rubric's when it names every tier seen, else inferred from scores."""
    seen = {s.tier for r in reports for s in r.services if s.tier is not None and _graded(s)}
    if rubric is not None and seen <= {t.id for t in rubric.tiers}:
        return tuple(t.id for t in rubric.tiers)
    lows: dict[str, float] = {}
    for r in reports:
        for s in r.services:
            if s.tier is not None and s.score is not None and _graded(s):
                lows[s.tier] = min(lows.get(s.tier, s.score), s.score)
    return tuple(sorted(lows, key=lambda t: -lows[t]))


def _policy_change(a: ServiceReport | None, b: ServiceReport | None) -> PolicyChange | None:
    had_a = a is not None and a.status == GradeStatus.ASSESSED
    had_b = b is not None and b.status == GradeStatus.ASSESSED
    if had_b and not had_a:
        return "appeared"
    if had_a and not had_b:
        return "disappeared"
    return None


def _criteria_changes(a: ServiceReport | None, b: ServiceReport | None) -> tuple[CriterionChange, ...]:
    if not (_graded(a) and _graded(b)):
        return ()
    assert a is not None and b is not None
    in_a = {c.criterion_id: c for c in a.criteria}
    out = []
    for cb in b.criteria:
        ca = in_a.get(cb.criterion_id)
        if ca is None or ca.level == cb.level:
            continue
        out.append(
            CriterionChange(cb.criterion_id, ca.level, cb.level, ca.points, cb.points, ca.evidence, cb.evidence)
        )
    return tuple(out)


def _regrade(
    session: Session, svc: ServiceReport, rubric: Rubric, classifiers: Classifiers | None,
    reviews: Mapping[str, Review] | None = None,
) -> Regrade:
    """Grade a service's stored document again with ``rubric`` (no refetch); the audit's reviews
    (by criterion id) are applied on top, as they were to the audit itself."""
    r = _regrade_machine(session, svc, rubric, classifiers)
    mine = {cid: rv for cid, rv in (reviews or {}).items() if any(c.criterion_id == cid for c in r.criteria)}
    if not mine or r.status != GradeStatus.ASSESSED:
        return r
    score = effective_score(r.criteria, mine)
    changed = tuple(c.criterion_id for c in r.criteria if c.criterion_id in mine and mine[c.criterion_id].level != c.level)
    return replace(r, criteria=effective_criteria(r.criteria, mine), score=score, tier=rubric.tier_for(score).id, reviewed=changed)


def _regrade_machine(session: Session, svc: ServiceReport, rubric: Rubric, classifiers: Classifiers | None) -> Regrade:
    if svc.status == GradeStatus.NO_POLICY:
        g = grade_missing(rubric, FetchOutcome.NO_POLICY_FOUND, svc.reason)
        return Regrade(rubric.id, rubric.version, RULES_ONLY, g.status, g.score, g.tier, g.criteria, g.reason)
    sha = svc.snapshot.sha256 if svc.snapshot else None
    doc = queries.load_document(session, sha) if sha else None
    if doc is None:
        reason = "no stored text to re-grade" + (f" ({svc.reason})" if svc.reason else "")
        return Regrade(rubric.id, rubric.version, RULES_ONLY, None, None, None, (), reason)
    policy, segments = doc
    clf = classifiers.by_language.get(policy.language) if classifiers is not None else None
    if clf is not None and segments:
        probas = clf.predict_proba([s.text for s in segments])
        g = grade(policy, segments, rubric, labels=probas, label_thresholds=clf.thresholds, model_version=clf.version)
        method = f"classifier {policy.language}@{clf.version}"
    else:
        g = grade(policy, segments, rubric)
        method = RULES_ONLY
    return Regrade(rubric.id, rubric.version, method, g.status, g.score, g.tier, g.criteria, g.reason)


def _tier_change(order: Sequence[str], a: str | None, b: str | None) -> int | None:
    if a is None or b is None or a not in order or b not in order:
        return None
    return list(order).index(a) - list(order).index(b)


def compare_reports(
    report_a: AuditReport,
    report_b: AuditReport,
    rubric: Rubric | None = None,
    regrades: Mapping[str, tuple[Regrade | None, Regrade | None]] | None = None,
    regrade_method: str | None = None,
    reviewed: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] | None = None,
) -> Comparison:
    """Compare two loaded audits (no database): the pure part of :func:`compare_audits`.
    ``reviewed``: by service id, the criteria reviewers changed in A and in B."""
    by_a = {s.target.id: s for s in report_a.services}
    by_b = {s.target.id: s for s in report_b.services}
    order = _tier_order(rubric, [report_a, report_b])
    regrades = regrades or {}
    changes = []
    for sid in sorted(set(by_a) | set(by_b)):
        a, b = by_a.get(sid), by_b.get(sid)
        ref = b or a
        assert ref is not None
        score_a = a.score if _graded(a) else None  # type: ignore[union-attr]
        score_b = b.score if _graded(b) else None  # type: ignore[union-attr]
        sha_a = a.snapshot.sha256 if a and a.snapshot else None
        sha_b = b.snapshot.sha256 if b and b.snapshot else None
        ra, rb = regrades.get(sid, (None, None))
        rev_a, rev_b = (reviewed or {}).get(sid, ((), ()))
        changes.append(
            ServiceChange(
                service_id=sid,
                name=ref.target.name,
                sector=ref.target.sector,
                status_a=a.status if a else None,
                status_b=b.status if b else None,
                rank_a=a.rank if a else None,
                rank_b=b.rank if b else None,
                score_a=score_a,
                score_b=score_b,
                tier_a=a.tier if _graded(a) else None,  # type: ignore[union-attr]
                tier_b=b.tier if _graded(b) else None,  # type: ignore[union-attr]
                score_delta=round(score_b - score_a, 1) if score_a is not None and score_b is not None else None,
                rank_change=(a.rank - b.rank) if a and b and a.rank is not None and b.rank is not None else None,
                tier_change=_tier_change(order, a.tier if _graded(a) else None, b.tier if _graded(b) else None),  # type: ignore[union-attr]
                policy=_policy_change(a, b),
                sha256_a=sha_a,
                sha256_b=sha_b,
                content_changed=(sha_a != sha_b) if sha_a and sha_b else None,
                criteria=_criteria_changes(a, b),
                regrade_a=ra,
                regrade_b=rb,
                reviewed_a=rev_a,
                reviewed_b=rev_b,
                text_a=a.text if a else None,
                text_b=b.text if b else None,
            )
        )
    changes.sort(key=lambda c: (c.rank_b is None, c.rank_b or 0, c.rank_a is None, c.rank_a or 0, c.name, c.service_id))
    names = {c.id: (c.name.zh, c.name.en) for c in rubric.criteria} if rubric is not None else {}

    def side(r: AuditReport) -> AuditSide:
        return AuditSide(r.label, r.rubric_id, r.rubric_version, r.model_version, len(r.services))

    return Comparison(
        a=side(report_a),
        b=side(report_b),
        services=tuple(changes),
        tier_order=order,
        criterion_names=names,
        tier_names={t.id: (t.name.zh, t.name.en) for t in rubric.tiers} if rubric is not None else {},
        regrade_rubric=(rubric.id, rubric.version) if regrades and rubric is not None else None,
        regrade_method=regrade_method,
    )


def compare_audits(
    session: Session,
    label_a: str,
    label_b: str,
    rubric: Rubric | None = None,
    regrade: bool = False,
    classifiers: Classifiers | None = None,
) -> Comparison:
    """Compare audit ``label_a`` (older) with ``label_b`` (newer).

    With ``regrade`` and a ``rubric``: every service of A is graded again from its stored text with
    that rubric (and B too when B used another rubric), so both numbers can be shown side by side.
    """
    if label_a == label_b:
        raise CompareError(f"compare needs two different audits, got {label_a!r} twice")
    if regrade and rubric is None:
        raise CompareError("re-grading needs the rubric to grade with (--rubric PATH)")
    report_a, reviews_a = reviewed_report(session, label_a, rubric)  # scores as published: reviews applied
    report_b, reviews_b = reviewed_report(session, label_b, rubric)
    reviewed = {
        sid: (_changed(reviews_a, sid), _changed(reviews_b, sid))
        for sid in {s for s, _ in reviews_a} | {s for s, _ in reviews_b}
    }
    regrades: dict[str, tuple[Regrade | None, Regrade | None]] = {}
    method: str | None = None
    if regrade and rubric is not None:
        by_b = {s.target.id: s for s in report_b.services}
        regrade_b = (report_b.rubric_id, report_b.rubric_version) != (rubric.id, rubric.version)
        methods: set[str] = set()
        for svc in report_a.services:
            sid = svc.target.id
            ra = _regrade(session, svc, rubric, classifiers, service_overrides(reviews_a, sid))
            rb = None
            if regrade_b and sid in by_b:
                rb = _regrade(session, by_b[sid], rubric, classifiers, service_overrides(reviews_b, sid))
            regrades[svc.target.id] = (ra, rb)
            methods.update(r.method for r in (ra, rb) if r is not None and r.status == GradeStatus.ASSESSED)
        if regrade_b:
            for sid, svc in by_b.items():
                if sid not in regrades:
                    regrades[sid] = (None, _regrade(session, svc, rubric, classifiers, service_overrides(reviews_b, sid)))
        method = " + ".join(sorted(methods)) or RULES_ONLY
    return compare_reports(report_a, report_b, rubric, regrades, method, reviewed)


def _changed(reviews: Mapping[tuple[str, str], Review], service_id: str) -> tuple[str, ...]:
    return tuple(sorted(cid for (sid, cid), r in reviews.items() if sid == service_id and r.changes_result))


# ---------------------------------------------------------------- CLI table


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    text = f"{value:.1f}"
    return text.removesuffix(".0")


def _signed(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "0"
    return ("+" if value > 0 else "") + _num(float(value))


def _status_short(s: ServiceChange, side: Literal["a", "b"]) -> str:
    status = s.status_a if side == "a" else s.status_b
    if status is None:
        return "absent"
    if status == GradeStatus.NOT_ASSESSED:
        return "n/a"
    return ""


REVIEWED_MARK = "*"  # after a score that a reviewer's override changed
REVIEWED_NOTE = "* reviewed: a reviewer's override changed a criterion of this score (machine result in `policyaudit show`)"

COMPARISON_COLUMNS = (
    "service", "rank A", "rank B", "Δrank", "score A", "score B", "Δscore", "tier A→B", "content",
    "criteria gained", "criteria lost", "policy",
)


def format_comparison_table(comparison: Comparison) -> list[list[str]]:
    """Rows for a CLI table; the first row is the header. With a re-grade, two more columns."""
    header = list(COMPARISON_COLUMNS)
    if comparison.regrade_rubric:
        rid, ver = comparison.regrade_rubric
        header += [f"A re-graded ({rid} {ver})", "Δscore same rubric"]
    rows = [header]
    for s in comparison.services:
        tier_a = comparison.tier_name(s.tier_a) if s.tier_a else (_status_short(s, "a") or "—")
        tier_b = comparison.tier_name(s.tier_b) if s.tier_b else (_status_short(s, "b") or "—")
        tier = f"{tier_a} → {tier_b}"
        content = {True: "changed", False: "same", None: "—"}[s.content_changed]
        row = [
            s.service_id,
            str(s.rank_a) if s.rank_a is not None else (_status_short(s, "a") or "—"),
            str(s.rank_b) if s.rank_b is not None else (_status_short(s, "b") or "—"),
            _signed(s.rank_change),
            _num(s.score_a) + (REVIEWED_MARK if s.reviewed_a else ""),
            _num(s.score_b) + (REVIEWED_MARK if s.reviewed_b else ""),
            _signed(s.score_delta),
            tier,
            content,
            ", ".join(f"{c.criterion_id} ({c.level_a}→{c.level_b})" for c in s.gained),
            ", ".join(f"{c.criterion_id} ({c.level_a}→{c.level_b})" for c in s.lost),
            s.policy or "",
        ]
        if comparison.regrade_rubric:
            ra = s.regrade_a
            row += [(_num(ra.score) + (REVIEWED_MARK if ra.reviewed else "")) if ra else "—", _signed(s.regraded_delta)]
        rows.append(row)
    return rows
