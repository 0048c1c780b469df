"""Compare two audits: rank, score and tier changes, criteria gained and lost, policies that
appeared or disappeared, content changes, and (optionally) the older audit re-graded with a
newer rubric from its stored text (no refetch)::

    cmp = compare_audits(session, "2014", "2021")
    cmp = compare_audits(session, "2014", "2021", rubric=load_rubric(path), regrade=True)
    rows = format_comparison_table(cmp)          # list of rows for a CLI table
    page = render_comparison(cmp, Path("out/compare-2014-2021"))
    svg = bump_chart_svg(session, ["2014", "2019", "2021"])
    rows = text_diff(old_text, new_text)         # side-by-side rows (difflib)

Conventions: rank 1 is best; ``rank_change = rank_a - rank_b`` (positive = moved up);
``score_delta = score_b - score_a``; ``tier_change`` counts tiers moved up (positive = better).
A policy *appeared* when a service goes from no policy / could not assess / absent to assessed,
and *disappeared* the other way. ``content_changed`` compares the sha256 of the archived bodies
(None when either audit has no body).

Re-grading uses the grader's rules; pass ``classifiers`` (see :func:`pipeline.grade.classify.load_classifiers`)
to add classifier evidence. Each :class:`Regrade` says which rubric version and which model (or
"rules only") it used. Functions print nothing.
"""

from __future__ import annotations

import difflib
import itertools
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from markupsafe import Markup, escape
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
    session: Session, svc: ServiceReport, rubric: Rubric, classifiers: Classifiers | None
) -> Regrade:
    """Grade a service's stored document again with ``rubric`` (no refetch)."""
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
) -> Comparison:
    """Compare two loaded audits (no database): the pure part of :func:`compare_audits`."""
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
    report_a = queries.load_report(session, label_a, with_text=True)
    report_b = queries.load_report(session, label_b, with_text=True)
    regrades: dict[str, tuple[Regrade | None, Regrade | None]] = {}
    method: str | None = None
    if regrade and rubric is not None:
        by_b = {s.target.id: s for s in report_b.services}
        regrade_b = (report_b.rubric_id, report_b.rubric_version) != (rubric.id, rubric.version)
        methods: set[str] = set()
        for svc in report_a.services:
            ra = _regrade(session, svc, rubric, classifiers)
            rb = None
            if regrade_b and svc.target.id in by_b:
                rb = _regrade(session, by_b[svc.target.id], rubric, classifiers)
            regrades[svc.target.id] = (ra, rb)
            methods.update(r.method for r in (ra, rb) if r is not None and r.status == GradeStatus.ASSESSED)
        if regrade_b:
            for sid, svc in by_b.items():
                if sid not in regrades:
                    regrades[sid] = (None, _regrade(session, svc, rubric, classifiers))
        method = " + ".join(sorted(methods)) or RULES_ONLY
    return compare_reports(report_a, report_b, rubric, regrades, method)


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
        tier = f"{s.tier_a or _status_short(s, 'a') or '—'}→{s.tier_b or _status_short(s, 'b') or '—'}"
        content = {True: "changed", False: "same", None: "—"}[s.content_changed]
        row = [
            s.service_id,
            str(s.rank_a) if s.rank_a is not None else (_status_short(s, "a") or "—"),
            str(s.rank_b) if s.rank_b is not None else (_status_short(s, "b") or "—"),
            _signed(s.rank_change),
            _num(s.score_a),
            _num(s.score_b),
            _signed(s.score_delta),
            tier,
            content,
            ", ".join(f"{c.criterion_id} ({c.level_a}→{c.level_b})" for c in s.gained),
            ", ".join(f"{c.criterion_id} ({c.level_a}→{c.level_b})" for c in s.lost),
            s.policy or "",
        ]
        if comparison.regrade_rubric:
            ra = s.regrade_a
            row += [_num(ra.score) if ra else "—", _signed(s.regraded_delta)]
        rows.append(row)
    return rows


# ---------------------------------------------------------------- text diff


DiffKind = Literal["equal", "replace", "delete", "insert", "skip"]
Piece = tuple[str, bool]  # (text, changed)
MAX_INTRALINE = 4000  # characters; longer lines are marked changed as a whole


@dataclass(frozen=True)
class DiffRow:
    """One row of a side-by-side diff. ``skip`` rows stand for ``skipped`` unchanged lines."""

    kind: DiffKind
    left_no: int | None  # 1-based line number in the old text
    right_no: int | None
    left: tuple[Piece, ...] = ()
    right: tuple[Piece, ...] = ()
    skipped: int = 0

    @property
    def left_text(self) -> str:
        return "".join(t for t, _ in self.left)

    @property
    def right_text(self) -> str:
        return "".join(t for t, _ in self.right)


def _lines(text: str) -> list[tuple[int, str]]:
    return [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _intraline(old: str, new: str) -> tuple[tuple[Piece, ...], tuple[Piece, ...]]:
    if len(old) > MAX_INTRALINE or len(new) > MAX_INTRALINE:
        return ((old, True),), ((new, True),)
    a, b = re.split(r"(\s+)", old), re.split(r"(\s+)", new)
    left: list[Piece] = []
    right: list[Piece] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if i2 > i1:
            left.append(("".join(a[i1:i2]), tag != "equal"))
        if j2 > j1:
            right.append(("".join(b[j1:j2]), tag != "equal"))
    return _merge(left), _merge(right)


def _merge(pieces: list[Piece]) -> tuple[Piece, ...]:
    out: list[Piece] = []
    for text, changed in pieces:
        if out and out[-1][1] == changed:
            out[-1] = (out[-1][0] + text, changed)
        else:
            out.append((text, changed))
    return tuple(out)


def text_diff(old: str, new: str, context: int | None = 3) -> list[DiffRow]:
    """Side-by-side rows of a line diff of two texts (blank lines ignored).

    Changed lines are paired; words that differ are marked ``changed`` in each piece. With
    ``context``, runs of unchanged lines longer than ``2 * context`` collapse into one ``skip`` row.
    """
    a, b = _lines(old or ""), _lines(new or "")
    matcher = difflib.SequenceMatcher(None, [t for _, t in a], [t for _, t in b], autojunk=False)
    rows: list[DiffRow] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            run = [DiffRow("equal", a[i][0], b[j][0], ((a[i][1], False),), ((b[j][1], False),)) for i, j in zip(range(i1, i2), range(j1, j2), strict=True)]
            if context is not None and len(run) > 2 * context + 1:
                head = run[:context] if rows else []
                tail = run[-context:] if i2 < len(a) or j2 < len(b) else []
                skipped = len(run) - len(head) - len(tail)
                rows += head + [DiffRow("skip", None, None, skipped=skipped)] + tail
            else:
                rows += run
            continue
        n = max(i2 - i1, j2 - j1)
        for k in range(n):
            left = a[i1 + k] if i1 + k < i2 else None
            right = b[j1 + k] if j1 + k < j2 else None
            if left is not None and right is not None:
                lp, rp = _intraline(left[1], right[1])
                rows.append(DiffRow("replace", left[0], right[0], lp, rp))
            elif left is not None:
                rows.append(DiffRow("delete", left[0], None, ((left[1], True),), ()))
            elif right is not None:
                rows.append(DiffRow("insert", None, right[0], (), ((right[1], True),)))
    return rows


def diff_stats(rows: Sequence[DiffRow]) -> tuple[int, int]:
    """(lines removed or changed on the left, lines added or changed on the right)."""
    return (
        sum(1 for r in rows if r.kind in ("replace", "delete")),
        sum(1 for r in rows if r.kind in ("replace", "insert")),
    )


# ---------------------------------------------------------------- bump chart (inline SVG)


RankCell = tuple[str, int | None, float | None]  # (name, rank or None, score or None)

_BUMP_STEP = 170
_BUMP_ROW = 26
_BUMP_LABEL = 170
_BUMP_TOP = 44


def _colour(i: int) -> str:
    return f"hsl({(i * 137.508) % 360:.0f}, 62%, 38%)"


def bump_chart_from_ranks(labels: Sequence[str], ranks: Mapping[str, Mapping[str, RankCell]]) -> str:
    """An SVG bump chart: one column per audit label, one line per service, best rank on top.

    ``ranks[label][service_id] = (name, rank, score)``; a service without a rank in an audit
    (not assessed or absent) leaves a gap. Ties share a rank and are stacked by name."""
    ids = sorted({sid for lab in labels for sid in ranks.get(lab, {})})
    names = {sid: ranks[lab][sid][0] for lab in labels for sid in ranks.get(lab, {})}
    colours = {sid: _colour(i) for i, sid in enumerate(ids)}
    pos: dict[str, dict[str, int]] = {}
    for lab in labels:
        cells = ranks.get(lab, {})
        ranked = sorted((sid for sid, c in cells.items() if c[1] is not None), key=lambda s: (cells[s][1], names[s], s))
        pos[lab] = {sid: i for i, sid in enumerate(ranked)}
    rows = max([len(p) for p in pos.values()] + [1])
    width = 2 * _BUMP_LABEL + max(len(labels) - 1, 1) * _BUMP_STEP
    height = _BUMP_TOP + rows * _BUMP_ROW + 10

    def x(k: int) -> float:
        return _BUMP_LABEL + k * _BUMP_STEP

    def y(p: int) -> float:
        return _BUMP_TOP + p * _BUMP_ROW + _BUMP_ROW / 2

    title = "排名变化 Rank movement: " + " → ".join(labels)
    out = [
        (
            f'<svg class="bump-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
        ),
        f"<title>{escape(title)}</title>",
        (
            "<desc>Each line is one service; each column one audit; rank 1 at the top. "
            "A gap means the service was not ranked in that audit.</desc>"
        ),
    ]
    for k, lab in enumerate(labels):
        out.append(
            f'<text class="bump-audit" x="{x(k):.0f}" y="22" text-anchor="middle" font-size="14" '
            f'font-weight="600" fill="#24292f">{escape(lab)}</text>'
        )
        out.append(f'<line x1="{x(k):.0f}" y1="30" x2="{x(k):.0f}" y2="{height - 6}" stroke="#d0d7de" stroke-width="1"></line>')
    for sid in ids:
        out.append(f'<g class="bump-service" data-service-id="{escape(sid)}">')
        points = [(k, pos[lab].get(sid)) for k, lab in enumerate(labels)]
        for (k1, p1), (k2, p2) in itertools.pairwise(points):
            if p1 is not None and p2 is not None:
                out.append(
                    f'<line x1="{x(k1):.0f}" y1="{y(p1):.0f}" x2="{x(k2):.0f}" y2="{y(p2):.0f}" '
                    f'stroke="{colours[sid]}" stroke-width="2.5" stroke-linecap="round"></line>'
                )
        for k, p in points:
            if p is None:
                continue
            _, rank, score = ranks[labels[k]][sid]
            tip = f"{names[sid]} · {labels[k]}: rank {rank}" + (f", score {_num(score)}" if score is not None else "")
            out.append(
                f'<circle cx="{x(k):.0f}" cy="{y(p):.0f}" r="10" fill="{colours[sid]}">'
                f"<title>{escape(tip)}</title></circle>"
                f'<text x="{x(k):.0f}" y="{y(p) + 4:.0f}" text-anchor="middle" font-size="11" fill="#ffffff">{rank}</text>'
            )
        if points[0][1] is not None:
            out.append(
                f'<text class="bump-label" x="{x(0) - 16:.0f}" y="{y(points[0][1]) + 4:.0f}" text-anchor="end" '
                f'font-size="12" fill="{colours[sid]}">{escape(names[sid])}</text>'
            )
        if points[-1][1] is not None and len(labels) > 1:
            out.append(
                f'<text class="bump-label" x="{x(len(labels) - 1) + 16:.0f}" y="{y(points[-1][1]) + 4:.0f}" '
                f'font-size="12" fill="{colours[sid]}">{escape(names[sid])}</text>'
            )
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def _rank_cells(report: AuditReport) -> dict[str, RankCell]:
    return {
        s.target.id: (s.target.name, s.rank, s.score if _graded(s) else None) for s in report.services
    }


def bump_chart_svg(session: Session, labels: list[str]) -> str:
    """Bump chart of ranks across two or more audits, as an inline SVG string."""
    if len(labels) < 2:
        raise CompareError(f"a bump chart needs two or more audits, got {labels!r}")
    ranks = {lab: _rank_cells(queries.load_report(session, lab, with_text=False)) for lab in labels}
    return bump_chart_from_ranks(labels, ranks)


def comparison_bump_chart(comparison: Comparison) -> str:
    """The two-audit bump chart of a comparison (no database needed)."""
    a = {s.service_id: (s.name, s.rank_a, s.score_a) for s in comparison.services if s.status_a is not None}
    b = {s.service_id: (s.name, s.rank_b, s.score_b) for s in comparison.services if s.status_b is not None}
    return bump_chart_from_ranks([comparison.a.label, comparison.b.label], {comparison.a.label: a, comparison.b.label: b})


# ---------------------------------------------------------------- the page


def render_comparison(comparison: Comparison, out_dir: Path, bump_svg: str | None = None) -> Path:
    """Write ``out_dir/compare.html`` (+ ``diffs/<service>.html`` for changed texts); return the page.

    ``bump_svg``: a bump chart across more audits (from :func:`bump_chart_svg`); by default the
    two-audit chart of this comparison. Every text is escaped by the templates."""
    from pipeline.report.common import STATIC_DIR, jinja_env, safe_name

    out_dir = Path(out_dir)
    (out_dir / "static").mkdir(parents=True, exist_ok=True)
    (out_dir / "diffs").mkdir(exist_ok=True)
    for path in sorted(STATIC_DIR.iterdir()):
        if path.is_file():
            shutil.copyfile(path, out_dir / "static" / path.name)
    env = jinja_env()
    generated = _generated()
    diff_files: dict[str, str] = {}
    diff_tpl = env.get_template("compare_diff.html.j2")
    for s in comparison.services:
        if s.text_a is None or s.text_b is None or not s.content_changed:
            continue
        rows = text_diff(s.text_a, s.text_b)
        name = f"diffs/{safe_name(s.service_id)}.html"
        removed, added = diff_stats(rows)
        (out_dir / name).write_text(
            diff_tpl.render(root="../", generated=generated, cmp=comparison, s=s, rows=rows, removed=removed, added=added),
            encoding="utf-8",
        )
        diff_files[s.service_id] = name
    svg = Markup(bump_svg if bump_svg is not None else comparison_bump_chart(comparison))  # built escaped above
    page = out_dir / "compare.html"
    page.write_text(
        env.get_template("compare.html.j2").render(
            root="", generated=generated, cmp=comparison, diff_files=diff_files, bump_svg=svg,
            num=_num, signed=_signed,
        ),
        encoding="utf-8",
    )
    return page


def _generated() -> str:
    from pipeline.settings import VERSION

    return f"policyaudit {VERSION}"
