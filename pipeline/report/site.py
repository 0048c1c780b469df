"""Report stage: one audit as a static site, two CSV files and a Markdown summary.

    render_report(report, rubric, out_dir, archive_dir=None) -> out_dir / "index.html"

writes::

    out_dir/
      index.html              ranked table, headline (中文 + English), SVG charts
      services/<safe>.html    one page per service: criteria, quoted evidence, highlighted text
      methodology.html        the rubric: criteria, weights, tiers, the three states
      snapshots/<sha256>.txt  archived raw bytes (only when archive_dir holds them)
      scores.csv              one row per service
      criteria.csv            one row per (service, criterion)
      summary.md              headline + ranked table, ready to paste
      static/report.css, static/report.js

The site opens from disk (file://) with no network: no CDN, the charts are inline SVG
drawn here, and the small script only adds sorting and filtering to tables that are
complete without it.

Safety: every piece of text that comes from a policy, a target file or a fetch is escaped
(Jinja2 autoescape for ``*.html.j2``; the highlighted policy text is built here by
escaping each piece between mark boundaries separately, so a quote can never open or close
a tag). Live URLs are links only when their scheme is http/https; archived pages are copied
as ``.txt`` so a browser never renders them as HTML. CSV cells starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return get a leading ``'`` so spreadsheet programs do not
evaluate them as formulas (OWASP "CSV injection"). CSV files are UTF-8 with a byte-order
mark so spreadsheet programs read Chinese text correctly.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup, escape

from pipeline.errors import PolicyAuditError
from pipeline.records import (
    AuditReport,
    CriterionResult,
    GradeStatus,
    Level,
    Rubric,
    ServiceReport,
    Tier,
)
from pipeline.settings import VERSION

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pipeline.report.review import Review

# The repo's reports/ directory, beside the package (Path(pipeline.__file__).parent.parent; this
# module's own path is used because an editable install can make ``pipeline`` a namespace package
# with no __file__ when imported from outside the checkout).
TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "reports"
STATIC_DIR = TEMPLATES_DIR / "static"

Lang = Literal["zh", "en"]

STATUS_NAMES: dict[GradeStatus, tuple[str, str]] = {
    GradeStatus.ASSESSED: ("已评估", "assessed"),
    GradeStatus.NO_POLICY: ("无隐私政策", "no privacy policy"),
    GradeStatus.NOT_ASSESSED: ("无法评估", "could not assess"),
}
LEVEL_NAMES: dict[Level, tuple[str, str]] = {
    Level.FULL: ("完整", "full"),
    Level.PARTIAL: ("部分", "partial"),
    Level.NONE: ("未找到", "none"),
}
NO_SECTOR = ("未分类", "no sector")

SCORES_COLUMNS = (
    "rank", "service_id", "name", "sector", "kind", "region", "status", "score", "tier",
    "reason", "rubric_id", "rubric_version", "snapshot_sha256",
)
CRITERIA_COLUMNS = (
    "service_id", "criterion_id", "level", "points", "weight", "method", "note",
    "evidence_quotes", "evidence_start", "evidence_end",
)
QUOTE_SEPARATOR = " | "
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ReportError(PolicyAuditError):
    """The report cannot be rendered from these inputs (e.g. the rubric is not the audit's)."""


# ---------------------------------------------------------------- public helpers


def safe_name(service_id: str) -> str:
    """A file-name-safe stem for a service id: the id itself when it is a plain lowercase slug,
    otherwise a slug plus 8 hex digits of its sha256 (so distinct ids never share a file)."""
    slug = re.sub(r"[^a-z0-9]+", "-", service_id.lower()).strip("-")[:48].strip("-")
    plain = (
        slug == service_id
        and slug[:1].isalnum()
        and not re.fullmatch(r".*-[0-9a-f]{8}", slug)
        and slug not in _RESERVED_NAMES
    )
    if plain:
        return slug
    digest = hashlib.sha256(service_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{slug}-{digest}" if slug else f"service-{digest}"


_RESERVED_NAMES = frozenset(
    ["con", "prn", "aux", "nul"] + [f"com{i}" for i in range(10)] + [f"lpt{i}" for i in range(10)]
)


def csv_cell(value: object) -> str:
    """One CSV cell as text; a cell starting with = + - @ TAB CR gets a leading ' (formula guard)."""
    if value is None:
        return ""
    text = format(round(value, 4), "g") if isinstance(value, float) else str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def is_web_url(url: str | None) -> bool:
    """True when ``url`` may be a clickable link: http(s) with a host, no whitespace or controls."""
    if not url or url != url.strip() or any(ord(c) < 0x21 or c == "\x7f" for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


# ---------------------------------------------------------------- headline


def headline(report: AuditReport, rubric: Rubric, lang: Lang) -> list[str]:
    """Headline sentences in the style of the 2017 Southern Metropolis Daily study, from the data."""
    if lang not in ("zh", "en"):
        raise ReportError(f"headline: lang must be 'zh' or 'en', not {lang!r}")
    _check_rubric(report, rubric)
    stats = _stats(report, rubric)
    return _headline_zh(stats, rubric) if lang == "zh" else _headline_en(stats, rubric)


@dataclass(frozen=True)
class _Stats:
    total: int
    graded: int
    not_assessed: int
    no_policy: int
    nothing_found: int  # assessed, every criterion "none"
    tier_counts: tuple[tuple[Tier, int], ...]
    average: float | None
    sector_averages: tuple[tuple[str, float, int], ...]  # (sector, average, n), best first


def _stats(report: AuditReport, rubric: Rubric) -> _Stats:
    graded = [s for s in report.services if _is_graded(s)]
    counts = Counter(s.tier for s in graded)
    by_sector: dict[str, list[float]] = defaultdict(list)
    for s in graded:
        by_sector[s.target.sector].append(s.score or 0.0)
    sector_avgs = sorted(
        ((sec, sum(v) / len(v), len(v)) for sec, v in by_sector.items()),
        key=lambda t: (-t[1], t[0]),
    )
    nothing = sum(
        1
        for s in graded
        if s.status == GradeStatus.ASSESSED and all(c.level == Level.NONE for c in s.criteria)
    )
    return _Stats(
        total=len(report.services),
        graded=len(graded),
        not_assessed=sum(1 for s in report.services if s.status == GradeStatus.NOT_ASSESSED),
        no_policy=sum(1 for s in graded if s.status == GradeStatus.NO_POLICY),
        nothing_found=nothing,
        tier_counts=tuple((t, counts.get(t.id, 0)) for t in rubric.tiers),
        average=(sum(s.score or 0.0 for s in graded) / len(graded)) if graded else None,
        sector_averages=tuple(sector_avgs),
    )


def _sector_label(sector: str, lang: Lang) -> str:
    if sector:
        return sector
    return NO_SECTOR[0] if lang == "zh" else NO_SECTOR[1]


def _lowest_sectors(stats: _Stats) -> list[tuple[str, float, int]]:
    if len(stats.sector_averages) < 2:
        return []
    low = min(avg for _, avg, _ in stats.sector_averages)
    return [t for t in stats.sector_averages if abs(t[1] - low) < 1e-9]


def _headline_zh(st: _Stats, rubric: Rubric) -> list[str]:
    out = [f"本次审计共 {st.total} 个服务：{st.graded} 个获得评分，{st.not_assessed} 个无法评估。"]
    if st.graded:
        parts = []
        for i, (tier, n) in enumerate(st.tier_counts):
            if i == 0 and n == 0:
                parts.append(f"没有一个达到「{tier.name.zh}」")
            elif i == 0:
                parts.append(f"{n} 个达到「{tier.name.zh}」")
            else:
                parts.append(f"{n} 个为「{tier.name.zh}」")
        out.append("透明度等级：" + "，".join(parts) + "。")
        lowest = rubric.lowest_tier.name.zh
        if st.no_policy:
            out.append(f"{st.no_policy} 个没有隐私政策（计 0 分，列入最低等级「{lowest}」）。")
        else:
            out.append("获得评分的服务都有隐私政策。")
        if st.nothing_found:
            out.append(f"{st.nothing_found} 个有隐私政策，但未找到任何一项指标的内容（0 分）。")
    else:
        out.append("没有任何服务获得评分。")
    if st.not_assessed:
        out.append(f"{st.not_assessed} 个无法评估（抓取失败或被拒绝等，不评分，也不计为低分）。")
    else:
        out.append("所有服务都得到了评估。")
    if st.average is not None:
        out.append(f"平均分 {_fmt_number(st.average)} 分（满分 100）。")
    if st.sector_averages:
        items = "，".join(
            f"{_sector_label(sec, 'zh')} {_fmt_number(avg)}" for sec, avg, _ in st.sector_averages
        )
        sentence = f"各行业平均分：{items}"
        lowest_sectors = _lowest_sectors(st)
        if lowest_sectors:
            names = "、".join(_sector_label(sec, "zh") for sec, _, _ in lowest_sectors)
            sentence += f"；平均分最低的行业是{names}（{_fmt_number(lowest_sectors[0][1])}）"
        out.append(sentence + "。")
    return out


def _n(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


def _headline_en(st: _Stats, rubric: Rubric) -> list[str]:
    out = [
        f"{_n(st.total, 'service was', 'services were')} audited: {st.graded} graded, "
        f"{st.not_assessed} could not be assessed."
    ]
    if st.graded:
        parts = []
        for i, (tier, n) in enumerate(st.tier_counts):
            label = f"{tier.name.zh} ({tier.name.en})"
            if i == 0 and n == 0:
                parts.append(f"none reached {label}")
            elif i == 0:
                parts.append(f"{n} reached {label}")
            else:
                parts.append(f"{n} {'was' if n == 1 else 'were'} rated {label}")
        sentence = "; ".join(parts)
        out.append(sentence[:1].upper() + sentence[1:] + ".")
        low = rubric.lowest_tier.name
        if st.no_policy:
            out.append(
                f"{st.no_policy} had no privacy policy (scored 0, lowest tier {low.zh} ({low.en}))."
            )
        else:
            out.append("Every graded service had a privacy policy.")
        if st.nothing_found:
            out.append(
                f"{st.nothing_found} had a policy in which none of the criteria were found (scored 0)."
            )
    else:
        out.append("No service could be graded.")
    if st.not_assessed:
        out.append(
            f"{st.not_assessed} could not be assessed (fetch failed or was refused): "
            "no grade, not counted as a low score."
        )
    else:
        out.append("Every service could be assessed.")
    if st.average is not None:
        out.append(f"The average score was {_fmt_number(st.average)} out of 100.")
    if st.sector_averages:
        items = ", ".join(
            f"{_sector_label(sec, 'en')} {_fmt_number(avg)}" for sec, avg, _ in st.sector_averages
        )
        label = "Sector averages" if len(st.sector_averages) > 1 else "Sector average"
        sentence = f"{label}: {items}"
        lowest_sectors = _lowest_sectors(st)
        if lowest_sectors:
            names = " and ".join(_sector_label(sec, "en") for sec, _, _ in lowest_sectors)
            verb = "is" if len(lowest_sectors) == 1 else "are"
            noun = "sector" if len(lowest_sectors) == 1 else "sectors"
            sentence += (
                f"; the lowest {noun} {verb} {names} ({_fmt_number(lowest_sectors[0][1])})"
            )
        out.append(sentence + ".")
    return out


# ---------------------------------------------------------------- markdown


def render_markdown(report: AuditReport, rubric: Rubric) -> str:
    """A Markdown summary: headline in both languages and the ranked table, ready to paste."""
    _check_rubric(report, rubric)
    view = _index_view(report, rubric)
    return _env().get_template("summary.md.j2").render(
        report=report,
        rubric=rubric,
        view=view,
        headline_zh=headline(report, rubric, "zh"),
        headline_en=headline(report, rubric, "en"),
    )


def md_escape(text: object) -> str:
    """Escape text for a Markdown table cell or paragraph: punctuation, HTML and line breaks."""
    s = re.sub(r"\s+", " ", str(text)).strip()
    return re.sub(r"([\\`*_{}\[\]()#+!|<>&~])", r"\\\1", s)


# ---------------------------------------------------------------- the site


def render_report(
    report: AuditReport,
    rubric: Rubric,
    out_dir: Path,
    archive_dir: Path | None = None,
    overrides: Mapping[tuple[str, str], Review] | None = None,
    nav_links: Sequence[tuple[str, str]] = (),
) -> Path:
    """Write the static site, CSVs and Markdown summary to ``out_dir``; return its index.html.

    ``overrides`` (from :func:`pipeline.report.review.overrides_for`): reviewers' levels are applied
    (scores, tiers and ranks recomputed, as published) and each service page shows the machine
    result beside the review, who made it and why. ``nav_links``: extra (href, text) links in the
    navigation, relative to the site root, e.g. ``[("compare-2025/compare.html", "2025 → 2026")]``.
    """
    _check_rubric(report, rubric)
    machine_scores: dict[str, float | None] = {}
    if overrides:
        from pipeline.report.review import apply_overrides

        machine_scores = {s.target.id: s.score for s in report.services}
        report = apply_overrides(report, overrides, rubric)
    names = _file_names(report)
    out_dir = Path(out_dir)
    for sub in ("services", "snapshots", "static"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    for path in sorted(STATIC_DIR.iterdir()):
        if path.is_file():
            shutil.copyfile(path, out_dir / "static" / path.name)

    snapshots = _copy_snapshots(report, out_dir / "snapshots", archive_dir)
    env = _env()
    index_view = _index_view(report, rubric)
    common = {"report": report, "rubric": rubric, "generated": _version(), "nav_links": tuple(nav_links)}

    index = out_dir / "index.html"
    index.write_text(
        env.get_template("index.html.j2").render(
            root="",
            view=index_view,
            headline_zh=headline(report, rubric, "zh"),
            headline_en=headline(report, rubric, "en"),
            charts=_charts(report, rubric),
            **common,
        ),
        encoding="utf-8",
    )
    service_tpl = env.get_template("service.html.j2")
    rows = {row.svc.target.id: row for row in index_view.ranked + index_view.not_assessed}
    for svc in report.services:
        page = _service_view(
            rows[svc.target.id], rubric, index_view.graded_count, snapshots.get(svc.target.id),
            {cid: r for (sid, cid), r in (overrides or {}).items() if sid == svc.target.id},
            machine_scores.get(svc.target.id),
        )
        (out_dir / "services" / f"{names[svc.target.id]}.html").write_text(
            service_tpl.render(root="../", page=page, **common), encoding="utf-8"
        )
    (out_dir / "methodology.html").write_text(
        env.get_template("methodology.html.j2").render(root="", **common), encoding="utf-8"
    )
    _write_csv(out_dir / "scores.csv", SCORES_COLUMNS, _score_rows(report))
    _write_csv(out_dir / "criteria.csv", CRITERIA_COLUMNS, _criteria_rows(report))
    (out_dir / "summary.md").write_text(render_markdown(report, rubric), encoding="utf-8")
    return index


# ---------------------------------------------------------------- internals: checks


def _check_rubric(report: AuditReport, rubric: Rubric) -> None:
    if not rubric.tiers:
        raise ReportError(f"rubric {rubric.id!r} ({rubric.source or 'no file'}) has no tiers")
    if (report.rubric_id, report.rubric_version) != (rubric.id, rubric.version):
        raise ReportError(
            f"audit {report.label!r} was graded with rubric {report.rubric_id} "
            f"v{report.rubric_version}, but rubric {rubric.id} v{rubric.version} "
            f"({rubric.source or 'no file'}) was given: render it with the rubric it was graded with"
        )


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


def _is_graded(svc: ServiceReport) -> bool:
    return svc.status in (GradeStatus.ASSESSED, GradeStatus.NO_POLICY)


def _fmt_number(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _version() -> str:
    return f"policyaudit {VERSION}"


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


def _holds(path: Path, sha256: str) -> bool:
    """Does ``path`` exist with exactly the content whose hash is ``sha256``?"""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except OSError:
        return False


def _copy_snapshots(
    report: AuditReport, dest: Path, archive_dir: Path | None
) -> dict[str, str]:
    """Copy archived raw bytes whose sha256 checks out; return {service id: site-relative path}."""
    copied: dict[str, str] = {}
    if archive_dir is None:
        return copied
    for svc in report.services:
        sha = svc.snapshot.sha256 if svc.snapshot else None
        if not sha or not _SHA256.fullmatch(sha):
            continue
        target = dest / f"{sha}.txt"
        if not _holds(target, sha):  # absent, or cut short by a killed earlier run
            source = Path(archive_dir) / sha[:2] / sha[2:]
            if not source.is_file():
                continue
            data = source.read_bytes()
            if hashlib.sha256(data).hexdigest() != sha:
                continue  # corrupt archive entry: do not publish it under this name
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)  # never a partial file under the sha256 name
        copied[svc.target.id] = f"snapshots/{sha}.txt"
    return copied


# ---------------------------------------------------------------- charts (inline SVG)


@dataclass(frozen=True)
class _Bar:
    label: str
    value_text: str
    y: int
    width: float
    fill: str


@dataclass(frozen=True)
class _Chart:
    title: str
    desc: str
    bars: tuple[_Bar, ...]
    width: int
    height: int
    label_width: int
    bar_height: int
    css: str


_TIER_FILLS = ("#1a7f37", "#6a9f1f", "#b08800", "#d4661c", "#c2262e")
_GREY = "#8c959f"
_CHART_WIDTH = 560
_LABEL_WIDTH = 190
_ROW = 30
_BAR = 20


def _chart(title: str, desc: str, items: list[tuple[str, float, str, str]], scale_max: float, css: str) -> _Chart:
    room = _CHART_WIDTH - _LABEL_WIDTH - 60
    bars = tuple(
        _Bar(label, text, 8 + i * _ROW, (value / scale_max * room) if scale_max > 0 else 0.0, fill)
        for i, (label, value, text, fill) in enumerate(items)
    )
    return _Chart(title, desc, bars, _CHART_WIDTH, 16 + len(items) * _ROW, _LABEL_WIDTH, _BAR, css)


def _charts(report: AuditReport, rubric: Rubric) -> tuple[_Chart, ...]:
    st = _stats(report, rubric)
    n = len(rubric.tiers)
    tier_items = [
        (f"{t.name.zh} {t.name.en}", float(c), str(c), _TIER_FILLS[_tier_scale(i, n)])
        for i, (t, c) in enumerate(st.tier_counts)
    ]
    tier_items.append(("无法评估 could not assess", float(st.not_assessed), str(st.not_assessed), _GREY))
    tiers = _chart(
        "等级分布 Tier distribution",
        "Number of services in each tier; services that could not be assessed are counted apart.",
        tier_items,
        max([v for _, v, _, _ in tier_items] + [1.0]),
        "chart-tiers",
    )
    sector_items = [
        (f"{_sector_label(sec, 'zh') if not sec else sec} (n={k})", avg, _fmt_number(avg),
         _TIER_FILLS[_tier_scale(_tier_index(rubric, avg), n)])
        for sec, avg, k in st.sector_averages
    ]
    sectors = _chart(
        "行业平均分 Sector averages",
        "Average score (0-100) of graded services in each sector; no policy counts as 0.",
        sector_items,
        100.0,
        "chart-sectors",
    )
    return (tiers, sectors)


def _tier_index(rubric: Rubric, score: float) -> int:
    tier = rubric.tier_for(score)
    return next(i for i, t in enumerate(rubric.tiers) if t.id == tier.id)


# ---------------------------------------------------------------- CSV


def _score_rows(report: AuditReport) -> list[list[object]]:
    rows = []
    for svc in sorted(report.services, key=_sort_key):
        t = svc.target
        graded = _is_graded(svc)
        rows.append([
            svc.rank if graded else None, t.id, t.name, t.sector, t.kind, t.region, str(svc.status),
            svc.score if graded else None, svc.tier if graded else None, svc.reason,
            report.rubric_id, report.rubric_version,
            svc.snapshot.sha256 if svc.snapshot else None,
        ])
    return rows


def _criteria_rows(report: AuditReport) -> list[list[object]]:
    rows = []
    for svc in sorted(report.services, key=_sort_key):
        for res in svc.criteria:
            first = res.evidence[0] if res.evidence else None
            rows.append([
                svc.target.id, res.criterion_id, str(res.level), res.points, res.weight, res.method,
                res.note, QUOTE_SEPARATOR.join(e.quote for e in res.evidence),
                first.start if first else None, first.end if first else None,
            ])
    return rows


def _write_csv(path: Path, header: tuple[str, ...], rows: list[list[object]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows([csv_cell(v) for v in row] for row in rows)
    path.write_text(buf.getvalue(), encoding="utf-8-sig", newline="")


# ---------------------------------------------------------------- Jinja2


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.filters["num"] = _fmt_number
    env.globals["is_web_url"] = is_web_url
    return env


def jinja_env() -> jinja2.Environment:
    """The report's Jinja2 environment (autoescaping ``*.html.j2``), for other pages of the site."""
    return _env()
