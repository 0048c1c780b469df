"""Version-2 checks: judge the passage, not the keyword (rubric ``transparency.v2``).

A v2 criterion names the *components* a passage must state (``components``: named regex lists
per language) and the rules that make a level::

    check: components.v2
    params:
      topic:   {zh: ['联系我们', ...], en: [...]}        # a passage must be about this
      components:
        channel:  {zh: ['邮箱', '电话', ...], en: [...]}
        response: {zh: ['\\d+\\s*个?工作日内', ...], en: [...]}
      full:    ['channel+response']                     # all named components in one passage
      partial: ['channel', 'service']                   # any rule that holds
      exclude: {zh: ['无法响应', ...], en: [...]}       # clauses that never count (exceptions)
      window: 3                                         # a passage: a segment + up to 3 after it
      head: 30                                          # only passages starting in the first 30 segments
      headings: true                                    # headings may start a passage (titles)
      partial_anywhere: true                            # partial rules need no topic

A *passage* starts at a usable segment (not a table of contents or a bare heading, see
:mod:`pipeline.grade.passages`) that matches ``topic`` (any segment when there is no topic) and
no ``exclude`` pattern, and runs over up to ``window`` following segments of the same section
(it stops at the next heading). Components are searched in the reading text of the passage's
segments (section numbers blanked). A rule ``a+b`` holds when ``a`` and ``b`` are both found in
one passage; a term ``a*5`` holds when at least 5 *distinct* strings of component ``a`` are
found across all the policy's passages (items listed one by one); ``a+b@3`` must hold in 3
passages; ``a+how & b+how`` needs each part in a passage of its own (every right with its way
of exercising it). ``full`` and ``partial`` may also be given per language ({zh: [...], en: [...]})
where the two languages write a practice differently. ``^`` and ``$`` in a pattern anchor a line of a segment.

The result records the components behind the level in its note ("full: channel: 邮箱;
response: 15个工作日内") and quotes the segments that hold them, best passage first.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pipeline.grade.casefold import CasePattern, lowered_text
from pipeline.grade.checks import CREDIT, MAX_QUOTE, GradingContext, register
from pipeline.grade.passages import passage_view
from pipeline.records import Criterion, CriterionResult, Evidence, Level

MAX_PASSAGES_QUOTED = 3
_RULE = re.compile(r"[a-z_]+(?:\*\d+)?(?:\+[a-z_]+(?:\*\d+)?)*(?:@\d+)?")


_FLAGS = re.MULTILINE  # ^ and $ anchor a line of a segment


@lru_cache(maxsize=8192)
def _compile(patterns: tuple[str, ...]) -> CasePattern | None:
    """One case-insensitive union of rubric patterns, with its exact lower-cased twin (casefold)."""
    if not patterns:
        return None
    return CasePattern("|".join(f"(?:{p})" for p in patterns), _FLAGS)


def _lang_regex(spec: Mapping[str, Sequence[str]] | None, lang: str) -> CasePattern | None:
    return _compile(tuple((spec or {}).get(lang) or ()))


@dataclass(frozen=True)
class Term:
    component: str
    min_distinct: int = 0  # 0: must be found in the passage itself


@dataclass(frozen=True)
class Rule:
    terms: tuple[Term, ...]
    min_passages: int = 1  # ``@N``: the rule must hold in N distinct passages

    @property
    def components(self) -> list[str]:
        return [t.component for t in self.terms]


def parse_rules(text: str) -> tuple[Rule, ...]:
    """``"a+how & b+how"``: rules that must each hold, each in passages of its own."""
    return tuple(parse_rule(part.strip()) for part in text.split("&"))


def parse_rule(rule: str) -> Rule:
    """``"channel+response"``; ``"item*5"`` (5 distinct items in the policy); ``"item+why@4"`` (in 4 passages)."""
    if not _RULE.fullmatch(rule):
        raise ValueError(
            f"bad rule {rule!r}: write components joined by '+', e.g. 'channel+response', 'item*5' or 'item+why@4'"
        )
    body, _, times = rule.partition("@")
    out = []
    for part in body.split("+"):
        name, _, n = part.partition("*")
        out.append(Term(name, int(n) if n else 0))
    return Rule(tuple(out), int(times) if times else 1)


@dataclass(frozen=True)
class Found:
    component: str
    seg: int  # position in ctx.segments
    start: int  # relative to the segment
    end: int
    text: str


@dataclass
class Passage:
    first: int
    found: dict[str, Found]


#: joins the segments' reading texts for one regex pass over the whole policy; no component
#: pattern crosses it ([^。] stops at 。, . stops at a newline, [^.] at a full stop)
_JOIN = "\n。.\n"


class PolicyIndex:
    """A policy's passage view plus every regex's matches by segment, each regex run once per policy."""

    def __init__(self, ctx: GradingContext) -> None:
        self.view = passage_view(ctx.segments)
        self.text = _JOIN.join(self.view.reading)
        self.lowered = lowered_text(self.text)
        self.starts: list[int] = []
        pos = 0
        for r in self.view.reading:
            self.starts.append(pos)
            pos += len(r) + len(_JOIN)
        self._hits: dict[CasePattern, dict[int, list[tuple[int, int]]]] = {}
        self._first: dict[tuple[CasePattern, int], tuple[int, int] | None] = {}

    def first(self, rx: CasePattern, i: int) -> tuple[int, int] | None:
        """The first match of ``rx`` in segment ``i`` (relative offsets), searched in that segment alone."""
        full = self._hits.get(rx)
        if full is not None:
            spans = full.get(i)
            return spans[0] if spans else None
        key = (rx, i)
        if key not in self._first:
            reading = self.view.reading[i]
            if rx.lower is not None and self.lowered is not None:
                m = rx.lower.search(self.lowered, self.starts[i], self.starts[i] + len(reading))
                self._first[key] = (m.start() - self.starts[i], m.end() - self.starts[i]) if m else None
            else:
                m = rx.ci.search(reading)
                self._first[key] = (m.start(), m.end()) if m else None
        return self._first[key]

    def hits(self, rx: CasePattern) -> dict[int, list[tuple[int, int]]]:
        """segment position -> [(start, end)] of ``rx``'s matches, relative to the segment."""
        out = self._hits.get(rx)
        if out is None:
            out = {}
            for m in rx.finditer(self.text, self.lowered):
                i = bisect_right(self.starts, m.start()) - 1
                base = self.starts[i]
                out.setdefault(i, []).append((m.start() - base, m.end() - base))
            self._hits[rx] = out
        return out


_INDEX_CACHE: dict[int, tuple[object, PolicyIndex]] = {}


def index_of(ctx: GradingContext) -> PolicyIndex:
    """The index of a context, built once per context object (all criteria of one policy share it)."""
    key = id(ctx)
    hit = _INDEX_CACHE.get(key)
    if hit is not None and hit[0] is ctx:
        return hit[1]
    index = PolicyIndex(ctx)
    if len(_INDEX_CACHE) > 8:
        _INDEX_CACHE.clear()
    _INDEX_CACHE[key] = (ctx, index)
    return index


#: when a topic's passages cover less than this share of the segments, their segments are searched
#: one by one instead of scanning the whole policy once per component
SPARSE = 0.25


def _passages(criterion: Criterion, ctx: GradingContext, use_topic: bool = True) -> list[Passage]:
    lang = ctx.policy.language
    params = criterion.params
    topic = _lang_regex(params.get("topic"), lang) if use_topic else None
    exclude = _lang_regex(params.get("exclude"), lang)
    window = int(params.get("window") or 0)
    head = int(params.get("head") or 0) or len(ctx.segments)
    headings = bool(params.get("headings", False))
    index = index_of(ctx)
    view = index.view
    segs = ctx.segments
    n = len(segs)
    starts = sorted(index.hits(topic)) if topic is not None else range(n)
    sparse = topic is not None and len(starts) * (window + 1) < SPARSE * n
    if sparse:
        def excluded(i: int) -> bool:
            return exclude is not None and index.first(exclude, i) is not None
    else:
        excluded_set = index.hits(exclude) if exclude is not None else {}

        def excluded(i: int) -> bool:
            return i in excluded_set

    windows: list[tuple[int, list[int]]] = []
    for i in starts:
        if i >= head:
            break
        if not (view.usable[i] or (headings and view.why_skipped[i] == "heading")) or excluded(i):
            continue
        members = [i]  # the start itself was admitted (a heading may start a passage)
        for j in range(i + 1, min(n, i + window + 1)):
            if view.why_skipped[j] == "heading":
                break  # the next section
            if view.usable[j] and not excluded(j):
                members.append(j)
        windows.append((i, members))
    comps = [(name, rx) for name, spec in (params.get("components") or {}).items() if (rx := _lang_regex(spec, lang))]
    # segment -> {component: Found} (first match of each component in the segment)
    found_in: dict[int, dict[str, Found]] = {}
    if sparse:
        for j in sorted({j for _i, members in windows for j in members}):
            for name, rx in comps:
                span = index.first(rx, j)
                if span is not None:
                    found_in.setdefault(j, {})[name] = Found(name, j, span[0], span[1], segs[j].text[span[0] : span[1]])
    else:
        for name, rx in comps:
            for j, spans in index.hits(rx).items():
                a, b = spans[0]
                found_in.setdefault(j, {})[name] = Found(name, j, a, b, segs[j].text[a:b])
    passages: list[Passage] = []
    for i, members in windows:
        found: dict[str, Found] = {}
        for j in members:
            for name, f in found_in.get(j, {}).items():
                found.setdefault(name, f)
        passages.append(Passage(i, found))
    return passages


def _distinct(passages: Sequence[Passage], ctx: GradingContext, component: str, spec: Mapping) -> set[str]:
    """Distinct strings of ``component`` over every passage's segments (all matches, not only the first)."""
    rx = _lang_regex(spec.get(component), ctx.policy.language)
    if rx is None:
        return set()
    index = index_of(ctx)
    hits = index.hits(rx)
    seen_segs: set[int] = set()
    for p in passages:
        for f in p.found.values():
            seen_segs.add(f.seg)
        seen_segs.add(p.first)
    out: set[str] = set()
    for i in seen_segs:
        reading = index.view.reading[i]
        out.update(reading[a:b].lower() for a, b in hits.get(i, ()))
    return out


def _rule_holds(terms: Sequence[Term], p: Passage, counts: Mapping[str, int]) -> bool:
    for t in terms:
        if t.min_distinct:
            if counts.get(t.component, 0) < t.min_distinct:
                return False
        elif t.component not in p.found:
            return False
    return True


def _evidence(ctx: GradingContext, passages: Sequence[Passage], components: Sequence[str]) -> tuple[Evidence, ...]:
    out: list[Evidence] = []
    used: set[int] = set()
    for p in passages:
        segs_of = sorted({f.seg for name, f in p.found.items() if name in components} or {p.first})
        for i in segs_of:
            if i in used:
                continue
            used.add(i)
            seg = ctx.segments[i]
            a, b = seg.start, min(seg.end, seg.start + MAX_QUOTE)
            out.append(Evidence(segment_index=seg.index, start=a, end=b, quote=ctx.policy.text[a:b], method="rule"))
            if len(out) == MAX_PASSAGES_QUOTED:
                return tuple(out)
    return tuple(out)


def _describe(level: Level, passages: Sequence[Passage], components: Sequence[str], counts: Mapping[str, int]) -> str:
    """ "full: channel: 邮箱; response: 15个工作日内" -- the first string found of each component."""
    parts = []
    for name in components:
        if counts.get(name):
            parts.append(f"{name}: {counts[name]} distinct")
            continue
        found = next((p.found[name] for p in passages if name in p.found), None)
        if found is not None:
            parts.append(f"{name}: {found.text.strip()[:40]}")
    return f"{level.value}: " + ("; ".join(parts) if parts else "stated")


@register(
    "components.v2",
    params={
        "topic": "keywords",
        "components": "items",
        "full": "rules",
        "partial": "rules",
        "exclude": "keywords",
        "window": "int",
        "head": "int",
        "headings": "bool",
        "partial_anywhere": "bool",
    },
    required=("components", "partial"),
)
def components_v2(criterion: Criterion, ctx: GradingContext) -> CriterionResult:
    """Full / partial when a passage states the components a rule names (module docstring)."""
    params = criterion.params
    passages = _passages(criterion, ctx)
    spec = params.get("components") or {}
    lang = ctx.policy.language
    full_rules = [parse_rules(r) for r in _for_language(params.get("full"), lang)]
    partial_rules = [parse_rules(r) for r in _for_language(params.get("partial"), lang)]
    counted = {
        t.component for rules in (full_rules, partial_rules) for rs in rules for r in rs for t in r.terms if t.min_distinct
    }
    counts = {c: len(_distinct(passages, ctx, c, spec)) for c in counted}
    for level, rules in ((Level.FULL, full_rules), (Level.PARTIAL, partial_rules)):
        if level is Level.PARTIAL and params.get("partial_anywhere"):
            passages = _passages(criterion, ctx, use_topic=False)  # only when full did not hold
        for conjuncts in rules:
            pool = passages
            chosen: list[Passage] = []
            names: list[str] = []
            for rule in conjuncts:  # "a+how & b+how": each part in some passage of its own
                holding = [p for p in pool if _rule_holds(rule.terms, p, counts)]
                distinct = {tuple(sorted({p.found[n].seg for n in rule.components if n in p.found})) for p in holding}
                if len(distinct) < rule.min_passages:
                    break
                holding.sort(key=lambda p: -len([n for n in rule.components if n in p.found]))
                chosen.append(holding[0])
                chosen.extend(holding[1:])
                names.extend(n for n in rule.components if n not in names)
            else:
                note = _describe(level, chosen, names, {c: counts[c] for c in names if c in counts})
                return _result(criterion, level, note, _evidence(ctx, chosen, names))
    return _result(criterion, Level.NONE, f"searched {len(ctx.segments)} segments ({len(passages)} passages), not found")


def _for_language(rules: Sequence[str] | Mapping[str, Sequence[str]] | None, lang: str) -> Sequence[str]:
    """Rules are one list for both languages, or one list per language where they write differently."""
    if isinstance(rules, Mapping):
        return rules.get(lang) or ()
    return rules or ()


def _result(criterion: Criterion, level: Level, note: str, evidence: tuple[Evidence, ...] = ()) -> CriterionResult:
    return CriterionResult(
        criterion_id=criterion.id,
        level=level,
        points=round(criterion.weight * CREDIT[level], 2),
        weight=criterion.weight,
        method=criterion.check,
        evidence=evidence,
        note=note,
    )


_DOCTYPE_LEVEL = {
    "privacy_policy": (Level.FULL, "a standalone privacy policy"),
    "agreement_with_privacy_section": (Level.PARTIAL, "an agreement carrying a privacy section; graded on that section"),
    "user_agreement": (Level.NONE, "a user agreement, not a privacy policy: no standalone policy"),
    "other": (Level.NONE, "not a privacy policy"),
}


@register("document_type.v2")
def document_type_v2(criterion: Criterion, ctx: GradingContext) -> CriterionResult:
    """Full for a standalone privacy policy, partial for an agreement with a privacy section,
    none for a user agreement or other terms (the document type found by :mod:`pipeline.read.doctype`)."""
    level, why = _DOCTYPE_LEVEL.get(ctx.doctype or "privacy_policy", (Level.NONE, f"document type {ctx.doctype}"))
    return _result(criterion, level, f"{level.value}: {why}")
