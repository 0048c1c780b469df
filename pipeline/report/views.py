"""Context building: what each page of the site shows, as frozen view records for the templates.

The index (rows, tiers), and each service page: criteria with their quoted evidence, the
policy text with the evidence highlighted (:func:`highlight` escapes each piece between mark
boundaries separately, so a quote can never open or close a tag), reviews and snapshots.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from markupsafe import Markup, escape

from pipeline.records import (
    AuditReport,
    CriterionResult,
    Rubric,
    ServiceReport,
)
from pipeline.report.common import (
    _SHA256,
    LEVEL_NAMES,
    STATUS_NAMES,
    ReportError,
    _fmt_number,
    _is_graded,
    is_web_url,
    safe_name,
)
from pipeline.report.headline import _sector_label

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pipeline.report.review import Review


# ---------------------------------------------------------------- internals: views


@dataclass(frozen=True)
class _TierView:
    id: str
    zh: str
    en: str
    css: str  # "t0" best ... "t4" worst; "tx" unknown
    order: int  # position in the rubric, best first; 99 for an unknown tier id


@dataclass(frozen=True)
class _Row:
    svc: ServiceReport
    file: str  # "services/<safe>.html"
    status_zh: str
    status_en: str
    tier: _TierView | None
    score_text: str


@dataclass(frozen=True)
class _IndexView:
    ranked: tuple[_Row, ...]
    not_assessed: tuple[_Row, ...]
    sectors: tuple[tuple[str, str], ...]  # (value, label)
    tiers: tuple[_TierView, ...]
    graded_count: int


def _tier_view(rubric: Rubric, tier_id: str | None) -> _TierView | None:
    if tier_id is None:
        return None
    for i, t in enumerate(rubric.tiers):
        if t.id == tier_id:
            return _TierView(t.id, t.name.zh, t.name.en, f"t{_tier_scale(i, len(rubric.tiers))}", i)
    return _TierView(tier_id, tier_id, tier_id, "tx", 99)


def _tier_scale(index: int, count: int) -> int:
    """Map tier index onto 0..4 (best..worst) for colours."""
    return 0 if count <= 1 else round(index * 4 / (count - 1))


def _sort_key(svc: ServiceReport) -> tuple:
    return (
        svc.rank is None,
        svc.rank if svc.rank is not None else 0,
        -(svc.score or 0.0),
        svc.target.name,
        svc.target.id,
    )


def _row(svc: ServiceReport, rubric: Rubric, name: str) -> _Row:
    zh, en = STATUS_NAMES.get(svc.status, (str(svc.status), str(svc.status)))
    return _Row(
        svc=svc,
        file=f"services/{name}.html",
        status_zh=zh,
        status_en=en,
        tier=_tier_view(rubric, svc.tier) if _is_graded(svc) else None,
        score_text=_fmt_number(svc.score) if svc.score is not None and _is_graded(svc) else "—",
    )


def _index_view(report: AuditReport, rubric: Rubric) -> _IndexView:
    names = _file_names(report)
    ranked = sorted((s for s in report.services if _is_graded(s)), key=_sort_key)
    rest = sorted(
        (s for s in report.services if not _is_graded(s)), key=lambda s: (s.target.name, s.target.id)
    )
    sectors = sorted({s.target.sector for s in report.services})
    return _IndexView(
        ranked=tuple(_row(s, rubric, names[s.target.id]) for s in ranked),
        not_assessed=tuple(_row(s, rubric, names[s.target.id]) for s in rest),
        sectors=tuple((sec, _sector_label(sec, "zh") if not sec else sec) for sec in sectors),
        tiers=tuple(v for t in rubric.tiers if (v := _tier_view(rubric, t.id)) is not None),
        graded_count=len(ranked),
    )


# ------------------------------------------- service page: evidence and highlighting


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    criteria: tuple[str, ...]

    @property
    def anchor(self) -> str:
        return f"ev-{self.start}-{self.end}"


@dataclass(frozen=True)
class _EvidenceView:
    quote: str
    start: int
    end: int
    method: str
    probability: str
    anchor: str | None  # id of the <mark> when highlighted
    problem: str  # why it is not highlighted


@dataclass(frozen=True)
class _CriterionView:
    id: str
    zh: str
    en: str
    legal_basis: str
    weight: str
    level: str | None  # None: no result for this criterion
    level_zh: str
    level_en: str
    points: str
    method: str
    note: str
    evidence: tuple[_EvidenceView, ...]
    review: _ReviewView | None = None  # a reviewer's override of this criterion


@dataclass(frozen=True)
class _ReviewView:
    machine_level: str | None
    machine_level_zh: str
    machine_level_en: str
    machine_points: str
    machine_method: str
    reviewer: str
    note: str
    created_at: str
    regraded_after_review: bool


def _review_view(review: Review) -> _ReviewView:
    ml = review.machine_level
    zh, en = LEVEL_NAMES.get(ml, ("—", "—")) if ml is not None else ("—", "—")
    return _ReviewView(
        machine_level=str(ml) if ml is not None else None,
        machine_level_zh=zh,
        machine_level_en=en,
        machine_points=_fmt_number(review.machine_points) if review.machine_points is not None else "—",
        machine_method=review.machine_method,
        reviewer=review.reviewer or "—",
        note=review.note,
        created_at=_fmt_time(review.created_at),
        regraded_after_review=review.regraded_after_review,
    )


@dataclass(frozen=True)
class _SnapshotView:
    requested_url: str
    final_url: str | None
    outcome: str
    status_code: int | None
    content_type: str | None
    fetched_at: str
    sha256: str | None
    size: int
    encoding: str | None
    error: str | None
    archive_path: str | None
    local_file: str | None  # "snapshots/<sha>.txt" relative to the site root
    archive_note: str


@dataclass(frozen=True)
class _ServicePage:
    row: _Row
    rank_of: int
    criteria: tuple[_CriterionView, ...]
    text_html: Markup | None
    highlighted: int
    snapshot: _SnapshotView | None
    live_url: str | None
    live_url_text: str | None  # shown as plain text when not a web link
    machine_score: str | None = None  # the score before review, when reviewers changed it
    reviewed: int = 0  # criteria overridden by a reviewer


def _valid_span(text: str | None, start: int, end: int, quote: str) -> bool:
    return (
        text is not None
        and isinstance(start, int)
        and isinstance(end, int)
        and 0 <= start < end <= len(text)
        and text[start:end] == quote
    )


def _plan_marks(text: str | None, results: tuple[CriterionResult, ...]) -> dict[tuple[int, int], _Span]:
    """Spans to highlight: valid evidence spans, deduplicated, keeping only properly nested ones
    (a span that crosses another's boundary is left out, so the marks always form a tree)."""
    owners: dict[tuple[int, int], list[str]] = defaultdict(list)
    for res in results:
        for ev in res.evidence:
            if _valid_span(text, ev.start, ev.end, ev.quote):
                key = (ev.start, ev.end)
                if res.criterion_id not in owners[key]:
                    owners[key].append(res.criterion_id)
    accepted: dict[tuple[int, int], _Span] = {}
    stack: list[tuple[int, int]] = []
    for start, end in sorted(owners, key=lambda k: (k[0], -k[1])):
        while stack and stack[-1][1] <= start:
            stack.pop()
        if stack and end > stack[-1][1]:
            continue  # crosses the enclosing span's end
        stack.append((start, end))
        accepted[(start, end)] = _Span(start, end, tuple(owners[(start, end)]))
    return accepted


def highlight(text: str, spans: list[tuple[int, int, str, str]]) -> Markup:
    """HTML of ``text`` with ``<mark id=anchor title=title>`` around each (start, end, anchor, title).

    Spans must be properly nested (no crossing); every piece of text between two boundaries is
    escaped on its own, so nothing in ``text`` can become markup."""
    ordered = sorted(spans, key=lambda s: (s[0], -s[1]))
    bounds = sorted({0, len(text)} | {s[0] for s in spans} | {s[1] for s in spans})
    out: list[str] = []
    open_ends: list[int] = []
    i = 0
    for b, pos in enumerate(bounds):
        while open_ends and open_ends[-1] == pos:
            out.append("</mark>")
            open_ends.pop()
        while i < len(ordered) and ordered[i][0] == pos:
            start, end, anchor, title = ordered[i]
            if open_ends and end > open_ends[-1]:
                raise ReportError(f"highlight: span {start}-{end} crosses an enclosing span")
            out.append(f'<mark id="{escape(anchor)}" title="{escape(title)}">')
            open_ends.append(end)
            i += 1
        if b + 1 < len(bounds):
            out.append(str(escape(text[pos : bounds[b + 1]])))
    return Markup("".join(out))


def _criterion_views(
    svc: ServiceReport, rubric: Rubric, marks: dict[tuple[int, int], _Span]
) -> tuple[_CriterionView, ...]:
    results = {r.criterion_id: r for r in svc.criteria}
    known = {c.id for c in rubric.criteria}
    views = []
    items: list[tuple[str, str, str, str, float, CriterionResult | None]] = [
        (c.id, c.name.zh, c.name.en, c.legal_basis, c.weight, results.get(c.id)) for c in rubric.criteria
    ]
    items += [(r.criterion_id, r.criterion_id, r.criterion_id, "", r.weight, r)
              for r in svc.criteria if r.criterion_id not in known]
    for cid, zh, en, basis, weight, res in items:
        evidence = []
        for ev in res.evidence if res else ():
            key = (ev.start, ev.end)
            if key in marks:
                anchor, problem = marks[key].anchor, ""
            elif _valid_span(svc.text, ev.start, ev.end, ev.quote):
                anchor, problem = None, "overlaps another highlighted quote; not highlighted"
            else:
                anchor, problem = None, "offsets do not match the extracted text; not highlighted"
            evidence.append(
                _EvidenceView(
                    quote=ev.quote,
                    start=ev.start,
                    end=ev.end,
                    method=ev.method,
                    probability="" if ev.probability is None else f"{ev.probability:.2f}",
                    anchor=anchor,
                    problem=problem,
                )
            )
        level_zh, level_en = LEVEL_NAMES.get(res.level, (str(res.level),) * 2) if res else ("—", "—")
        views.append(
            _CriterionView(
                id=cid,
                zh=zh,
                en=en,
                legal_basis=basis,
                weight=_fmt_number(weight),
                level=str(res.level) if res else None,
                level_zh=level_zh,
                level_en=level_en,
                points=_fmt_number(res.points) if res else "—",
                method=res.method if res else "",
                note=res.note if res else "not graded",
                evidence=tuple(evidence),
            )
        )
    return tuple(views)


def _service_view(
    row: _Row,
    rubric: Rubric,
    graded_count: int,
    local_snapshot: str | None,
    reviews: Mapping[str, Review] | None = None,
    machine_score: float | None = None,
) -> _ServicePage:
    svc = row.svc
    marks = _plan_marks(svc.text, svc.criteria) if svc.text else {}
    names = {c.id: f"{c.name.zh} / {c.name.en}" for c in rubric.criteria}
    text_html = None
    if svc.text:
        text_html = highlight(
            svc.text,
            [(m.start, m.end, m.anchor, "; ".join(names.get(c, c) for c in m.criteria)) for m in marks.values()],
        )
    snap = svc.snapshot
    snapshot_view = None
    if snap is not None:
        if local_snapshot:
            note = ""
        elif snap.sha256 and _SHA256.fullmatch(snap.sha256):
            note = "archived copy not included in this report"
        else:
            note = "no archived copy"
        snapshot_view = _SnapshotView(
            requested_url=snap.requested_url,
            final_url=snap.final_url,
            outcome=str(snap.outcome),
            status_code=snap.status_code,
            content_type=snap.content_type,
            fetched_at=_fmt_time(snap.fetched_at),
            sha256=snap.sha256,
            size=snap.size,
            encoding=snap.encoding,
            error=snap.error,
            archive_path=svc.archive_path,
            local_file=local_snapshot,
            archive_note=note,
        )
    live = None
    if snap is not None:
        live = snap.final_url or snap.requested_url
    live = live or svc.target.policy_url or svc.target.homepage
    criteria = _criterion_views(svc, rubric, marks)
    if reviews:
        criteria = tuple(
            replace(c, review=_review_view(reviews[c.id])) if c.id in reviews else c for c in criteria
        )
    return _ServicePage(
        row=row,
        rank_of=graded_count,
        criteria=criteria,
        text_html=text_html,
        highlighted=len(marks),
        snapshot=snapshot_view,
        live_url=live if is_web_url(live) else None,
        live_url_text=live if live and not is_web_url(live) else None,
        machine_score=(
            _fmt_number(machine_score) if reviews and machine_score is not None and machine_score != svc.score else None
        ),
        reviewed=sum(1 for c in criteria if c.review is not None),
    )


def _fmt_time(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


def _file_names(report: AuditReport) -> dict[str, str]:
    names: dict[str, str] = {}
    used: dict[str, str] = {}
    for svc in report.services:
        sid = svc.target.id
        if sid in names:
            raise ReportError(f"audit {report.label!r} lists service id {sid!r} twice")
        name = safe_name(sid)
        if name in used:  # astronomically unlikely: same slug and same 8 hex digits
            raise ReportError(f"service ids {used[name]!r} and {sid!r} map to the same file {name!r}")
        names[sid] = name
        used[name] = sid
    return names
