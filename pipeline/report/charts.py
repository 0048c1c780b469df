"""The site's charts, drawn here as inline SVG (no network, no script): scores by tier and sector.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.records import (
    AuditReport,
    Rubric,
)
from pipeline.report.common import _fmt_number
from pipeline.report.headline import _sector_label, _stats
from pipeline.report.views import _tier_scale

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
