"""The headline of an audit: a few sentences in 中文 and English with its main figures.

    headline(report, rubric, "zh")      # ["...共评估 N 个服务...", ...]
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from pipeline.records import (
    AuditReport,
    GradeStatus,
    Level,
    Rubric,
    Tier,
)
from pipeline.report.common import (
    NO_SECTOR,
    Lang,
    ReportError,
    _check_rubric,
    _fmt_number,
    _is_graded,
)

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
    agreement_only: int = 0  # the link led to a user agreement or other terms, no standalone policy
    agreement_section: int = 0  # the privacy rules are a section of an agreement


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
        agreement_only=sum(1 for s in graded if s.doctype in ("user_agreement", "other")),
        agreement_section=sum(1 for s in graded if s.doctype == "agreement_with_privacy_section"),
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
        elif not st.agreement_only:
            out.append("获得评分的服务都有隐私政策。")
        if st.agreement_only:
            out.append(f"{st.agreement_only} 个所链接的“隐私政策”其实是用户协议等其他文件，没有独立的隐私政策（按原文评分并标注）。")
        if st.agreement_section:
            out.append(f"{st.agreement_section} 个的隐私规则只是协议中的一个章节（按该章节评分并标注）。")
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
        elif not st.agreement_only:
            out.append("Every graded service had a privacy policy.")
        if st.agreement_only:
            out.append(
                f"{st.agreement_only} linked a user agreement or other terms as their privacy policy: no standalone "
                "policy (graded as the text stands, and flagged)."
            )
        if st.agreement_section:
            out.append(f"{st.agreement_section} kept their privacy rules as a section of an agreement (graded on that section, flagged).")
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
