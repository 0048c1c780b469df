"""The comparison as pages of the static site, and the bump chart of ranks across audits (inline SVG).

    page = render_comparison(cmp, Path("out/compare-2014-2021"))
    svg = bump_chart_svg(session, ["2014", "2019", "2021"])
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path

from markupsafe import Markup, escape
from sqlmodel import Session

from pipeline.records import (
    AuditReport,
)
from pipeline.report.compare import CompareError, Comparison, _graded, _num, _signed
from pipeline.report.files import copy_atomic, make_dirs, write_text_atomic
from pipeline.report.textdiff import diff_stats, text_diff
from pipeline.store import queries

# ---------------------------------------------------------------- bump chart (inline SVG)


RankCell = tuple[str, int | None, float | None]  # (name, rank or None, score or None)

_BUMP_STEP = 170
_BUMP_ROW = 26
_BUMP_LABEL = 170
_BUMP_TOP = 44


def fit_label(name: str, room: float = _BUMP_LABEL - 24) -> str:
    """``name`` cut with an ellipsis to fit ``room`` pixels at 12 px (wide characters count double)."""
    used = 0.0
    for i, ch in enumerate(name):
        used += 12.0 if ord(ch) > 0x2E7F else 7.0
        if used > room:
            return name[: max(i - 1, 1)] + "…"
    return name


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
                f'font-size="12" fill="{colours[sid]}"><title>{escape(names[sid])}</title>{escape(fit_label(names[sid]))}</text>'
            )
        if points[-1][1] is not None and len(labels) > 1:
            out.append(
                f'<text class="bump-label" x="{x(len(labels) - 1) + 16:.0f}" y="{y(points[-1][1]) + 4:.0f}" '
                f'font-size="12" fill="{colours[sid]}"><title>{escape(names[sid])}</title>{escape(fit_label(names[sid]))}</text>'
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
    make_dirs(out_dir / "static")
    make_dirs(out_dir / "diffs")
    for path in sorted(STATIC_DIR.iterdir()):
        if path.is_file():
            copy_atomic(path, out_dir / "static" / path.name)
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
        write_text_atomic(
            out_dir / name,
            diff_tpl.render(root="../", generated=generated, cmp=comparison, s=s, rows=rows, removed=removed, added=added),
        )
        diff_files[s.service_id] = name
    svg = Markup(bump_svg if bump_svg is not None else comparison_bump_chart(comparison))  # built escaped above
    page = out_dir / "compare.html"
    write_text_atomic(
        page,
        env.get_template("compare.html.j2").render(
            root="", generated=generated, cmp=comparison, diff_files=diff_files, bump_svg=svg,
            num=_num, signed=_signed,
        ),
    )
    return page


def _generated() -> str:
    from pipeline.settings import VERSION

    return f"policyaudit {VERSION}"
