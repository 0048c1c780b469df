"""Segment stage: :class:`~pipeline.records.PolicyText` -> ``list[Segment]`` (units of grading).

    policy = extract_html(html)
    segments = segment(policy)                  # one policy
    batches = segment_many([p1, p2, p3])        # many, through ``nlp.pipe`` (faster)
    assert all(policy.text[s.start:s.end] == s.text for s in segments)

Rules, per block of the extracted text:

- a heading block is one segment (kind "heading");
- a list item is one segment (kind "list_item"), split into sentences only when longer
  than ``LIST_ITEM_MAX_CHARS``;
- a paragraph is split into sentences by a spaCy blank pipeline with a sentencizer:
  English (also used for "other") or Chinese (for Chinese policies, and for Chinese
  paragraphs inside other policies) with spaCy's character segmenter (sentence ends
  depend only on punctuation, so word segmentation is not needed here: on the 815 real
  policies of ../shared/data it gives the same segments as jieba, 2.3x faster), which ends a
  sentence at 。！？!? and, when a sentence is longer than ``ZH_SEMICOLON_SPLIT_CHARS``,
  also at ；;
- English pieces that start in lower case or follow an abbreviation ("Sec.", "No.") are
  glued back to the sentence before them;
- pieces longer than ``MAX_SEGMENT_CHARS`` are cut at clause punctuation (then spaces);
- fragments with fewer than ``MIN_WORD_CHARS`` letters/Han characters are merged into a
  neighbour (headings are never merged).

Segments are in text order, do not overlap, and ``policy.text[s.start:s.end] == s.text``.
Each records the text of the nearest heading above it. Nothing here raises on odd text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from spacy.language import Language as SpacyLanguage

from pipeline.read.language import detect_language
from pipeline.records import Block, BlockKind, PolicyText, Segment, SegmentKind

MAX_SEGMENT_CHARS = 1000
LIST_ITEM_MAX_CHARS = 600
ZH_SEMICOLON_SPLIT_CHARS = 150
MIN_WORD_CHARS = 3
NLP_CHUNK_CHARS = 100_000  # longer blocks are fed to spaCy in pieces (its max_length is 1e6)
BATCH_SIZE = 256

ZH_SENTENCE_END = ("。", "！", "？", "!", "?", "｡")
ZH_SEMICOLONS = "；;"
CLAUSE_PUNCT = "；;，,：:、"

_WORD_CHAR_RE = re.compile(r"[^\W\d_]")
_STRIPPED_RE = re.compile(r"\S(?:.*\S)?", re.S)
_EN_ABBREVIATION_RE = re.compile(
    r"(?:^|[\s(])(?:sec|secs|no|nos|art|arts|para|paras|ch|fig|p|pp|vol|mr|mrs|ms|dr|st"
    r"|vs|approx|incl|cf|e\.g|i\.e)\.$",
    re.I,
)
_EN_CONTINUATION_RE = re.compile(r"[a-z0-9]")


# ---------------------------------------------------------------- pipelines


@lru_cache(maxsize=1)
def english_nlp() -> SpacyLanguage:
    """``spacy.blank("en")`` + sentencizer, built once."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


@lru_cache(maxsize=1)
def chinese_nlp() -> SpacyLanguage:
    """``spacy.blank("zh")`` with the character segmenter + a sentencizer on 。！？!?, built once."""
    import spacy

    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "char"}}})
    nlp.add_pipe("sentencizer", config={"punct_chars": list(ZH_SENTENCE_END)})
    return nlp


_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _block_is_zh(policy: PolicyText, block_text: str) -> bool:
    """Chinese policies use the Chinese pipeline; so do Chinese blocks of other policies."""
    if policy.language == "zh":
        return True
    return _HAN_RE.search(block_text) is not None and detect_language(block_text) == "zh"


# ---------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Unit:
    """One block to segment, in policy coordinates."""

    kind: BlockKind
    start: int
    end: int
    needs_sentences: bool
    zh: bool  # Chinese rules and pipeline


def _units(policy: PolicyText) -> list[_Unit]:
    """The policy's blocks, checked (clamped, in order, non-overlapping); a text with no
    blocks is one paragraph."""
    size = len(policy.text)
    blocks: Sequence[Block] = policy.blocks or (Block("paragraph", 0, size),)
    units: list[_Unit] = []
    last_end = 0
    for block in blocks:
        start, end = max(block.start, last_end, 0), min(block.end, size)
        if end <= start:
            continue
        last_end = end
        length = end - start
        if block.kind == "heading" and length <= MAX_SEGMENT_CHARS:
            needs = False
        elif block.kind == "list_item":
            needs = length > LIST_ITEM_MAX_CHARS
        else:
            needs = True
        units.append(_Unit(block.kind, start, end, needs, _block_is_zh(policy, policy.text[start:end])))
    return units


def _nlp_chunks(text: str) -> list[tuple[int, str]]:
    """Cut very long texts at whitespace so each piece fits spaCy comfortably."""
    if len(text) <= NLP_CHUNK_CHARS:
        return [(0, text)]
    chunks: list[tuple[int, str]] = []
    pos = 0
    while pos < len(text):
        cut = min(pos + NLP_CHUNK_CHARS, len(text))
        if cut < len(text):
            space = text.rfind(" ", pos + NLP_CHUNK_CHARS // 2, cut)
            cut = space + 1 if space > 0 else cut
        chunks.append((pos, text[pos:cut]))
        pos = cut
    return chunks


_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def _encodable(text: str) -> str:
    """spaCy hashes UTF-8: replace lone surrogates one for one (offsets stay the same)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE_RE.sub("\ufffd", text)
    return text


def _has_inner_end(text: str, zh: bool) -> bool:
    """Could the sentencizer split this text at all? (skip spaCy when it cannot)"""
    body = text.rstrip()[:-1]
    if zh:
        return any(p in body for p in ZH_SENTENCE_END)
    return any(p in body for p in ".!?。！？;")


# ---------------------------------------------------------------- spans inside a block


def _strip(text: str, start: int, end: int) -> tuple[int, int] | None:
    m = _STRIPPED_RE.search(text, start, end)
    return (m.start(), m.end()) if m else None


def _word_chars(text: str) -> int:
    return len(_WORD_CHAR_RE.findall(text))


def _glue_english(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in spans:
        if out:
            prev_start, prev_end = out[-1]
            previous = text[prev_start:prev_end]
            if previous.endswith(".") and (
                _EN_CONTINUATION_RE.match(text, start) or _EN_ABBREVIATION_RE.search(previous)
            ):
                out[-1] = (prev_start, end)
                continue
        out.append((start, end))
    return out


def _split_at(text: str, start: int, end: int, marks: str, limit: int) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` into pieces of at most ``limit`` chars, after one of ``marks``
    (else after a space, else anywhere), keeping pieces at least a third of the limit."""
    pieces: list[tuple[int, int]] = []
    pos = start
    while end - pos > limit:
        window_start, window_end = pos + limit // 3, pos + limit
        cut = max((text.rfind(m, window_start, window_end) for m in marks), default=-1)
        if cut < 0:
            cut = text.rfind(" ", window_start, window_end)
        cut = cut + 1 if cut >= 0 else window_end
        pieces.append((pos, cut))
        pos = cut
    pieces.append((pos, end))
    return pieces


def _split_semicolons(text: str, start: int, end: int) -> list[tuple[int, int]]:
    pieces: list[tuple[int, int]] = []
    pos = start
    for i in range(start, end - 1):
        if text[i] in ZH_SEMICOLONS:
            pieces.append((pos, i + 1))
            pos = i + 1
    pieces.append((pos, end))
    return pieces


def _merge_short(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge spans with too few letters/Han characters into a neighbour (within the block)."""
    if len(spans) < 2:
        return spans
    out: list[tuple[int, int]] = []
    carry: int | None = None  # start of short spans waiting for the next one
    for start, end in spans:
        if carry is not None:
            start, carry = carry, None
        if _word_chars(text[start:end]) < MIN_WORD_CHARS:
            if out:
                out[-1] = (out[-1][0], end)
            else:
                carry = start
            continue
        out.append((start, end))
    if carry is not None:  # all spans were short
        out.append((carry, spans[-1][1]))
    return out


def _block_spans(text: str, raw: list[tuple[int, int]], zh: bool) -> list[tuple[int, int]]:
    """Clean sentence spans of one block (block-local offsets)."""
    spans = [s for s in (_strip(text, a, b) for a, b in raw) if s is not None]
    if not zh:
        spans = _glue_english(text, spans)
    refined: list[tuple[int, int]] = []
    for start, end in spans:
        parts = [(start, end)]
        if zh and end - start > ZH_SEMICOLON_SPLIT_CHARS:
            parts = _split_semicolons(text, start, end)
        for a, b in parts:
            if b - a > MAX_SEGMENT_CHARS:
                refined.extend(_split_at(text, a, b, CLAUSE_PUNCT, MAX_SEGMENT_CHARS))
            else:
                refined.append((a, b))
    spans = [s for s in (_strip(text, a, b) for a, b in refined) if s is not None]
    return _merge_short(text, spans)


# ---------------------------------------------------------------- assembling segments


@dataclass
class _Draft:
    start: int
    end: int
    kind: SegmentKind


def _assemble(policy: PolicyText, units: list[_Unit], sentences: dict[int, list[tuple[int, int]]]) -> list[Segment]:
    text = policy.text
    drafts: list[tuple[_Draft, bool]] = []  # (draft, is a short lone block)
    for i, unit in enumerate(units):
        block_text = text[unit.start : unit.end]
        if unit.needs_sentences:
            local = _block_spans(block_text, sentences.get(i, [(0, len(block_text))]), unit.zh)
        else:
            local = [s for s in [_strip(block_text, 0, len(block_text))] if s is not None]
        kind: SegmentKind = "heading" if unit.kind == "heading" and not unit.needs_sentences else (
            "list_item" if unit.kind == "list_item" else "sentence"
        )
        for a, b in local:
            lone_short = (
                len(local) == 1 and kind != "heading" and _word_chars(block_text[a:b]) < MIN_WORD_CHARS
            )
            drafts.append((_Draft(unit.start + a, unit.start + b, kind), lone_short))
    merged = _merge_lone_short(drafts)
    segments: list[Segment] = []
    heading: str | None = None
    for draft in merged:
        segments.append(
            Segment(
                index=len(segments),
                start=draft.start,
                end=draft.end,
                text=text[draft.start : draft.end],
                kind=draft.kind,
                heading=heading,
            )
        )
        if draft.kind == "heading":
            heading = text[draft.start : draft.end]
    return segments


def _merge_lone_short(drafts: list[tuple[_Draft, bool]]) -> list[_Draft]:
    """A block that is only a short fragment ("1.", "•", "*") joins the next non-heading
    segment, else the previous one; with neither it stays as it is."""
    out: list[_Draft] = []
    pending: int | None = None
    for i, (draft, lone_short) in enumerate(drafts):
        if pending is not None:  # set only when this draft is not a heading
            draft = _Draft(pending, draft.end, draft.kind)
            pending = None
        if lone_short:
            nxt = drafts[i + 1][0] if i + 1 < len(drafts) else None
            if nxt is not None and nxt.kind != "heading":
                pending = draft.start
                continue
            if out and out[-1].kind != "heading":
                out[-1] = _Draft(out[-1].start, draft.end, out[-1].kind)
                continue
        out.append(draft)
    return out


# ---------------------------------------------------------------- public API


def segment_many(policies: Sequence[PolicyText]) -> list[list[Segment]]:
    """Segment many policies, running each language's blocks through one ``nlp.pipe``."""
    plans = [_units(p) for p in policies]
    # jobs[lang] = list of (policy index, unit index, chunk offset, chunk text)
    jobs: dict[bool, list[tuple[int, int, int, str]]] = {True: [], False: []}
    sentences: list[dict[int, list[tuple[int, int]]]] = [{} for _ in policies]
    for p_index, (policy, units) in enumerate(zip(policies, plans)):
        for u_index, unit in enumerate(units):
            if not unit.needs_sentences:
                continue
            block_text = policy.text[unit.start : unit.end]
            if not _has_inner_end(block_text, unit.zh):
                sentences[p_index][u_index] = [(0, len(block_text))]
                continue
            for offset, chunk in _nlp_chunks(block_text):
                jobs[unit.zh].append((p_index, u_index, offset, chunk))
    for zh, todo in jobs.items():
        if not todo:
            continue
        nlp = chinese_nlp() if zh else english_nlp()
        docs = nlp.pipe((_encodable(chunk) for _, _, _, chunk in todo), batch_size=BATCH_SIZE)
        for (p_index, u_index, offset, _), doc in zip(todo, docs):
            spans = sentences[p_index].setdefault(u_index, [])
            spans.extend((offset + s.start_char, offset + s.end_char) for s in doc.sents)
    return [_assemble(p, units, sents) for p, units, sents in zip(policies, plans, sentences)]


def segment(policy: PolicyText) -> list[Segment]:
    """Segments of one policy (see the module docstring for the rules)."""
    return segment_many([policy])[0]
