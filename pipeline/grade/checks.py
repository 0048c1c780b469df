"""Registered, versioned criterion checks.

A rubric criterion names its check by versioned name (``check: retention_period.v1``); the
function behind a name never changes its behaviour. Changing how a criterion is judged means
registering ``.v2`` beside ``.v1`` so old audits can be re-graded exactly as they were::

    @register("lexicon.v1", params={"patterns": "patterns", "labels": "labels", ...})
    def lexicon_v1(criterion: Criterion, ctx: GradingContext) -> CriterionResult: ...

    get_check("lexicon.v1")(criterion, ctx)

Each registration declares the params it accepts and their kind; :mod:`pipeline.grade.rubric` uses
that to validate a rubric file (unknown keys, bad regexes, unknown classifier labels).

Level rules shared by every check (documented in ``rubrics/README.md``):

* rules (lexicons, regexes) decide full / partial / none, as each check describes;
* classifier evidence, when per-segment label probabilities are given: a segment whose
  probability for one of the criterion's labels (for the policy's language) reaches the label
  threshold is evidence. A label hit alone gives **partial**; a label hit in a segment that also
  satisfies the check's rule for full gives **full** (as the rule alone would);
* points = weight x credit, with credit 1 / 0.5 / 0 for full / partial / none (RDR's
  100 / 50 / 0 scale);
* at most :data:`MAX_EVIDENCE` evidence items per criterion, best first; quotes are exact
  slices of the policy text, inside their segment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from pipeline.grade.casefold import CasePattern, lowered_text
from pipeline.records import Criterion, CriterionResult, Evidence, Level, PolicyText, Segment

# ---------------------------------------------------------------- known classifier labels

#: The 12 OPP-115 labels of the Majority segment dataset, spelt exactly as in the data.
OPP115_LABELS: frozenset[str] = frozenset(
    {
        "First Party Collection/Use",
        "Third Party Sharing/Collection",
        "User Access, Edit and Deletion",
        "Data Retention",
        "Data Security",
        "International and Specific Audiences",
        "Do Not Track",
        "Policy Change",
        "User Choice/Control",
        "Introductory/Generic",
        "Practice not covered",
        "Privacy contact information",
    }
)
#: VioDroid-Finder compliance rules (CR1..CR26) and privacy categories (PC1..PC7).
VIODROID_CR_LABELS: frozenset[str] = frozenset(f"CR{i}" for i in range(1, 27))
VIODROID_PC_LABELS: frozenset[str] = frozenset(f"PC{i}" for i in range(1, 8))
#: Labels a criterion may cite, by policy language.
KNOWN_LABELS: Mapping[str, frozenset[str]] = {
    "en": OPP115_LABELS,
    "zh": VIODROID_CR_LABELS | VIODROID_PC_LABELS,
}
LANGUAGES: tuple[str, ...] = ("zh", "en")

DEFAULT_LABEL_THRESHOLD = 0.5  # used when a label has no threshold in ``label_thresholds``
MAX_EVIDENCE = 3
MAX_QUOTE = 300  # characters; longer segments are quoted around the match
CREDIT: Mapping[Level, float] = {Level.FULL: 1.0, Level.PARTIAL: 0.5, Level.NONE: 0.0}

# ---------------------------------------------------------------- context and registry


@dataclass(frozen=True)
class GradingContext:
    """Everything a check may look at for one policy.

    ``labels`` is parallel to ``segments``: ``labels[i]`` maps label name -> probability for
    ``segments[i]`` (from the segment classifier of the policy's language), or is ``None``
    when no classifier was used.
    """

    policy: PolicyText
    segments: Sequence[Segment]
    labels: Sequence[Mapping[str, float]] | None = None
    label_thresholds: Mapping[str, float] = field(default_factory=dict)
    model_version: str | None = None
    doctype: str | None = None
    #: each segment's text lower-cased when that allows exact case-sensitive matching (pipeline.grade.casefold)
    lowered: tuple[str | None, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lowered", tuple(lowered_text(s.text) for s in self.segments))


#: kinds of check params, validated by :mod:`pipeline.grade.rubric`:
#: ``patterns``: {zh: {full: [regex], partial: [regex]}, en: {...}}, both languages required;
#: ``keywords``: {zh: [regex], en: [regex]}; ``items``: {item_id: {zh: [regex], en: [regex]}};
#: ``labels``: {zh: [CRn/PCn], en: [OPP-115 label]}; ``int``; ``bool``; ``rules``: ["a+b", "item*5"] (checks_v2).
ParamKind = Literal["patterns", "keywords", "items", "labels", "int", "bool", "rules"]
CheckFn = Callable[[Criterion, GradingContext], CriterionResult]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    fn: CheckFn
    params: Mapping[str, ParamKind]
    required: frozenset[str]


_REGISTRY: dict[str, CheckSpec] = {}


def register(
    name: str, params: Mapping[str, ParamKind] | None = None, required: Sequence[str] = ()
) -> Callable[[CheckFn], CheckFn]:
    """Register a check under a versioned name (``"<name>.v<N>"``)."""
    if not re.fullmatch(r"[a-z_]+\.v\d+", name):
        raise ValueError(f"check name {name!r} must look like 'name.v1'")

    def deco(fn: CheckFn) -> CheckFn:
        if name in _REGISTRY:
            raise ValueError(f"check {name!r} is already registered")
        _REGISTRY[name] = CheckSpec(name, fn, dict(params or {}), frozenset(required))
        return fn

    return deco


def get_check(name: str) -> CheckFn:
    """The check function registered under ``name``; KeyError if there is none."""
    return _REGISTRY[name].fn


def get_spec(name: str) -> CheckSpec | None:
    return _REGISTRY.get(name)


def check_names() -> list[str]:
    return sorted(_REGISTRY)


# ---------------------------------------------------------------- shared helpers


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a rubric pattern (case-insensitive). Raises re.error on a bad regex."""
    return re.compile(pattern, re.IGNORECASE)


@lru_cache(maxsize=1024)
def _compile_union(patterns: tuple[str, ...]) -> CasePattern | None:
    """One case-insensitive regex matching any of ``patterns`` (leftmost match wins), or None when empty."""
    if not patterns:
        return None
    return CasePattern("|".join(f"(?:{p})" for p in patterns))


def _union(patterns: Sequence[str] | None) -> CasePattern | None:
    return _compile_union(tuple(patterns or ()))


def _search(pattern: CasePattern | None, ctx: GradingContext, i: int) -> re.Match[str] | None:
    """Search segment ``i`` (offsets are the segment's; only start/end are meaningful)."""
    return pattern.search(ctx.segments[i].text, ctx.lowered[i]) if pattern is not None else None


@dataclass(frozen=True)
class _Hit:
    """A candidate piece of evidence: span relative to the segment."""

    seg: int  # position in ctx.segments
    level: Level
    start: int
    end: int
    method: str
    probability: float | None = None
    rank: int = 9  # lower is better


def _quote_span(seg: Segment, start: int, end: int) -> tuple[int, int]:
    """Absolute [start, end) of the quote for a match at seg-relative [start, end)."""
    n = len(seg.text)
    if n <= MAX_QUOTE:
        return seg.start, seg.end
    end = max(end, start + 1)
    if end - start >= MAX_QUOTE:
        return seg.start + start, seg.start + start + MAX_QUOTE
    pad = (MAX_QUOTE - (end - start)) // 2
    lo = max(0, start - pad)
    hi = min(n, lo + MAX_QUOTE)
    lo = max(0, hi - MAX_QUOTE)
    return seg.start + lo, seg.start + hi


def _label_hits(criterion: Criterion, ctx: GradingContext) -> dict[int, tuple[str, float]]:
    """seg position -> (label, probability) of the best label at or above its threshold."""
    if ctx.labels is None:
        return {}
    wanted = (criterion.params.get("labels") or {}).get(ctx.policy.language) or []
    if not wanted:
        return {}
    out: dict[int, tuple[str, float]] = {}
    for i, probs in enumerate(ctx.labels):
        best: tuple[str, float] | None = None
        for label in wanted:
            p = probs.get(label)
            if p is None:
                continue
            if p >= ctx.label_thresholds.get(label, DEFAULT_LABEL_THRESHOLD):
                if best is None or p > best[1]:
                    best = (label, float(p))
        if best is not None:
            out[i] = best
    return out


def _finish(
    criterion: Criterion,
    ctx: GradingContext,
    rule_level: Level,
    hits: Sequence[_Hit],
    note: str = "",
) -> CriterionResult:
    """Merge rule hits with classifier hits, pick the level and the best evidence."""
    method = criterion.check
    by_seg_full = {h.seg for h in hits if h.level is Level.FULL}
    first_hit: dict[int, _Hit] = {}
    for h in sorted(hits, key=lambda h: (h.rank, h.seg)):
        first_hit.setdefault(h.seg, h)
    all_hits = list(hits)
    level = rule_level
    model = f"classifier:{ctx.model_version or 'unknown'}"
    for i, (_label, prob) in _label_hits(criterion, ctx).items():
        rule = first_hit.get(i)
        if i in by_seg_full:
            lvl, rank = Level.FULL, 0
        else:
            lvl, rank = Level.PARTIAL, 2
        start, end = (rule.start, rule.end) if rule else (0, len(ctx.segments[i].text))
        all_hits.append(_Hit(i, lvl, start, end, model, prob, rank))
        if level is Level.NONE:
            level = Level.PARTIAL
    if level is Level.NONE:
        return CriterionResult(
            criterion_id=criterion.id,
            level=Level.NONE,
            points=0.0,
            weight=criterion.weight,
            method=method,
            note=note or f"searched {len(ctx.segments)} segments, not found",
        )
    chosen: list[_Hit] = []
    seen: set[int] = set()
    for h in sorted(all_hits, key=lambda h: (h.rank, -(h.probability or 0.0), h.seg, h.start)):
        if h.seg in seen:
            continue
        seen.add(h.seg)
        chosen.append(h)
        if len(chosen) == MAX_EVIDENCE:
            break
    evidence = []
    for h in chosen:
        seg = ctx.segments[h.seg]
        a, b = _quote_span(seg, h.start, h.end)
        evidence.append(
            Evidence(
                segment_index=seg.index,
                start=a,
                end=b,
                quote=ctx.policy.text[a:b],
                method=h.method,
                probability=h.probability,
            )
        )
    n_seg = len({h.seg for h in all_hits})
    return CriterionResult(
        criterion_id=criterion.id,
        level=level,
        points=round(criterion.weight * CREDIT[level], 2),
        weight=criterion.weight,
        method=method,
        evidence=tuple(evidence),
        note=note or f"{level.value}: evidence in {n_seg} of {len(ctx.segments)} segments",
    )


def _lang_patterns(criterion: Criterion, lang: str) -> tuple[CasePattern | None, CasePattern | None]:
    spec = (criterion.params.get("patterns") or {}).get(lang) or {}
    return _union(spec.get("full")), _union(spec.get("partial"))


# ---------------------------------------------------------------- checks


@register("policy_exists.v1", params={"labels": "labels"})
def policy_exists_v1(criterion: Criterion, ctx: GradingContext) -> CriterionResult:
    """Full whenever a policy text was found and assessed (the grader only calls checks then).

    Evidence: the first of the first five segments naming a privacy policy, if any.
    """
    title = compile_pattern(r"隐私|个人信息保护|privacy")
    hits = []
    for i, seg in enumerate(ctx.segments[:5]):
        m = title.search(seg.text)
        if m:
            hits.append(_Hit(i, Level.FULL, m.start(), m.end(), criterion.check, rank=1))
            break
    return _finish(criterion, ctx, Level.FULL, hits, note="policy found and assessed")


@register(
    "lexicon.v1",
    params={"patterns": "patterns", "labels": "labels", "full_requires_partial": "bool", "min_segments": "int"},
    required=("patterns",),
)
def lexicon_v1(criterion: Criterion, ctx: GradingContext) -> CriterionResult:
    """Patterns of the policy's language decide the level.

    * a segment is a *full hit* when it matches a ``full`` pattern, a *partial hit* when it
      matches only a ``partial`` one; with ``full_requires_partial`` the ``full`` patterns are
      qualifiers: only segments matching a ``partial`` pattern count at all, and they are full
      hits when they also match a ``full`` pattern;
    * full: at least ``min_segments`` (default 1) distinct full-hit segments;
    * partial: some hit, but too few full hits;
    * none: nothing matches.
    """
    full, partial = _lang_patterns(criterion, ctx.policy.language)
    requires = bool(criterion.params.get("full_requires_partial", False))
    need = int(criterion.params.get("min_segments") or 1)
    hits: list[_Hit] = []
    for i, seg in enumerate(ctx.segments):
        mf = _search(full, ctx, i)
        mp = _search(partial, ctx, i)
        if requires and mp is None:
            continue  # full patterns only qualify a segment that matches a partial pattern
        if mf is not None:
            hits.append(_Hit(i, Level.FULL, mf.start(), mf.end(), criterion.check, rank=1))
        elif mp is not None:
            hits.append(_Hit(i, Level.PARTIAL, mp.start(), mp.end(), criterion.check, rank=3))
    n_full = sum(1 for h in hits if h.level is Level.FULL)
    if n_full >= need:
        level = Level.FULL
    elif hits:
        level = Level.PARTIAL
        # too few full hits: they are partial evidence (best first), and a classifier hit on
        # one of them cannot make the criterion full on its own
        hits = [_Hit(h.seg, Level.PARTIAL, h.start, h.end, h.method, rank=h.rank) for h in hits]
    else:
        level = Level.NONE
    return _finish(criterion, ctx, level, hits)


@register("coverage.v1", params={"items": "items", "labels": "labels", "min_items": "int"}, required=("items",))
def coverage_v1(criterion: Criterion, ctx: GradingContext) -> CriterionResult:
    """A list of items that must all be explained (e.g. access, correction, deletion, closure).

    Full when at least ``min_items`` items (default: all) are each matched somewhere in the
    policy; partial when at least one is; none otherwise. Evidence: one segment per item.
    """
    items: Mapping[str, Mapping[str, Sequence[str]]] = criterion.params.get("items") or {}
    lang = ctx.policy.language
    need = int(criterion.params.get("min_items") or len(items))
    covered: dict[str, _Hit] = {}
    for item_id, by_lang in items.items():
        pats = _union(by_lang.get(lang))
        for i in range(len(ctx.segments)):
            m = _search(pats, ctx, i)
            if m:
                covered[item_id] = _Hit(i, Level.PARTIAL, m.start(), m.end(), criterion.check, rank=3)
                break
    if not covered:
        level = Level.NONE
    elif len(covered) >= need:
        level = Level.FULL
    else:
        level = Level.PARTIAL
    hits = [
        _Hit(h.seg, level, h.start, h.end, h.method, rank=1 if level is Level.FULL else 3) for h in covered.values()
    ]
    missing = [k for k in items if k not in covered]
    note = ""
    if covered:
        note = f"{level.value}: covered {', '.join(covered)}" + (f"; missing {', '.join(missing)}" if missing else "")
    return _finish(criterion, ctx, level, hits, note=note)


# A concrete period: a number (digits or Chinese numerals) and a unit of time. Dates such as
# 2020年12月9日 are excluded (no 4-digit years, no number right after 年/月), and so are ages (周岁).
_ZH_PERIOD = r"(?<![\d年月])(?:\d{1,3}|[一二三四五六七八九十百两半]{1,4})\s*(?:个)?(?:自然|工作|个工作)?(?:年|个月|月|天|日|周|星期|小时)(?![岁\d])"
_EN_NUM = r"(?:\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|eighteen|twenty|thirty|sixty|ninety)"
_EN_PERIOD = rf"\b{_EN_NUM}\s*(?:\(\d{{1,3}}\)\s*)?(?:calendar\s+|business\s+)?(?:days?|weeks?|months?|years?)\b"
PERIOD_PATTERNS: Mapping[str, str] = {"zh": _ZH_PERIOD, "en": _EN_PERIOD}


@register("retention_period.v1", params={"patterns": "patterns", "labels": "labels"}, required=("patterns",))
def retention_period_v1(criterion: Criterion, ctx: GradingContext) -> CriterionResult:
    """How long personal information is kept.

    * full: a segment that mentions retention (a ``partial`` pattern) also states a concrete
      period (a number with a unit of time: "6个月", "三年", "30 days") or a deletion trigger
      (a ``full`` pattern, e.g. "after you close your account ... delete");
    * partial: retention is mentioned without a period or trigger;
    * none: retention is not mentioned.
    """
    lang = ctx.policy.language
    full, partial = _lang_patterns(criterion, lang)
    period = compile_pattern(PERIOD_PATTERNS.get(lang, _EN_PERIOD))
    hits: list[_Hit] = []
    for i, seg in enumerate(ctx.segments):
        mp = _search(partial, ctx, i)
        if not mp:
            continue
        mf = period.search(seg.text) or _search(full, ctx, i)
        if mf:
            lo, hi = min(mp.start(), mf.start()), max(mp.end(), mf.end())
            hits.append(_Hit(i, Level.FULL, lo, hi, criterion.check, rank=1))
        else:
            hits.append(_Hit(i, Level.PARTIAL, mp.start(), mp.end(), criterion.check, rank=3))
    level = (
        Level.FULL
        if any(h.level is Level.FULL for h in hits)
        else Level.PARTIAL
        if hits
        else Level.NONE
    )
    return _finish(criterion, ctx, level, hits)


_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DIGIT = re.compile(r"\d")
DATE_PATTERN = compile_pattern(
    "|".join(
        [
            # 2021年3月1日, 【2021】年【3】月【1】日, **2021** **年** **3** **月** (markdown bold kept)
            r"[【\[]?[\s*]*\d{4}[\s*]*[】\]]?[\s*]*年[\s*]*[【\[]?[\s*]*\d{1,2}[\s*]*[】\]]?[\s*]*月"
            r"(?:[\s*]*[【\[]?[\s*]*\d{1,2}[\s*]*[】\]]?[\s*]*[日号])?",
            r"(?<!\d)(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?!\d)",  # 20201127
            r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b",
            rf"\b{_MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b",
            rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS}\.?,?\s+\d{{4}}\b",
            rf"\b{_MONTHS}\.?,?\s+\d{{4}}\b",
            r"\b\d{1,2}/\d{1,2}/\d{2,4}\b",
        ]
    )
)


@register(
    "updated_date.v1", params={"keywords": "keywords", "labels": "labels", "window": "int"}, required=("keywords",)
)
def updated_date_v1(criterion: Criterion, ctx: GradingContext) -> CriterionResult:
    """The policy's last-updated or effective date.

    * full: a date (2021年3月1日, 2021-03-01, 20210301, March 1, 2021, 1 March 2021, March 2021,
      3/1/2021)
      within ``window`` characters (default 40) of a keyword (更新/生效/effective/last updated...)
      in the same segment;
    * partial: a date with no keyword near it in one of the first three segments (the date
      printed at the head of the policy);
    * none: otherwise.
    """
    keywords = _union((criterion.params.get("keywords") or {}).get(ctx.policy.language))
    window = int(criterion.params.get("window") or 40)
    hits: list[_Hit] = []
    for i, seg in enumerate(ctx.segments):
        if not _DIGIT.search(seg.text):
            continue  # every date has digits; skipping saves the costly date regex
        dates = list(DATE_PATTERN.finditer(seg.text))
        if not dates:
            continue
        found = None
        for km in keywords.ci.finditer(seg.text) if keywords is not None else ():
            for dm in dates:
                gap = max(dm.start() - km.end(), km.start() - dm.end(), 0)
                if gap <= window:
                    found = (min(km.start(), dm.start()), max(km.end(), dm.end()))
                    break
            if found:
                break
        if found:
            hits.append(_Hit(i, Level.FULL, found[0], found[1], criterion.check, rank=1))
        elif i < 3:
            hits.append(_Hit(i, Level.PARTIAL, dates[0].start(), dates[0].end(), criterion.check, rank=3))
    level = (
        Level.FULL
        if any(h.level is Level.FULL for h in hits)
        else Level.PARTIAL
        if hits
        else Level.NONE
    )
    return _finish(criterion, ctx, level, hits)
