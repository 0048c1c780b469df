"""Which segments of a policy can state a practice, and the text a rule should read in them.

Keywords mislead when they sit in the wrong kind of passage. :func:`passage_view` looks at
the policy's segments once and marks those no v2 criterion may quote as evidence:

* **tables of contents**: runs of list items or short lines whose text each comes back later
  as a section heading ("我们如何收集和使用您的个人信息", "How we share");
* **bare headings**: segments the reader extracted as headings, and short numbered lines with
  no sentence in them ("3.1 日志信息", "（二）Children"); a short unnumbered line right after a line
  ending in a colon is the value it announces (an address after "寄到如下地址："), not a heading;

and gives each segment a *reading text* of the same length in which leading section numbers
("3.1", "一、", "（二）", "1.") and Markdown emphasis are blanked out, so "3.1 日志信息" is not
read as a period of one day, while offsets stay those of the segment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.records import Segment

_NUMBERING = re.compile(
    r"^[\s*#>|\-–—•·●○◆■□]*"
    r"(?:第[一二三四五六七八九十百\d]{1,4}[条章节部分]|"
    r"[（(]?[一二三四五六七八九十]{1,3}[)）、.．]|"
    r"[（(]\d{1,3}[)）]|"
    r"\d{1,3}(?:[.．]\d{1,3}){0,3}[、.．)）]?(?=\s|[^\d.．])|"
    r"[A-Za-z][.)](?=\s))"
    r"[\s*]*"
)
_EMPHASIS = re.compile(r"\*\*|__|【|】|\\")
_SENTENCE_END = re.compile(r"[。；;！!？?，：]|[.:,](?:\s|$)")
_LABELLED_VALUE = re.compile(r"[：:]\s*\S|@|\d{5,}")  # "邮箱： a@b.cn", "电话 4000012222": a value, not a heading
_NORM = re.compile(r"[\W_]+")
_LEAD_IN = re.compile(r"[：:]\s*$")
#: longest text still read as a heading when it carries no sentence punctuation
HEADING_MAX_CHARS = 40


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def reading_text(text: str) -> str:
    """``text`` with leading section numbers and emphasis marks blanked (same length)."""
    m = _NUMBERING.match(text)
    out = _blank(text, 0, m.end()) if m and m.end() else text
    return _EMPHASIS.sub(lambda mm: " " * len(mm.group(0)), out)


def _bare(kind: str, reading: str) -> bool:
    """A heading, or a short line without a sentence in it (``reading``: the segment's reading text)."""
    if kind == "heading":
        return True
    body = reading.strip()
    if len(body) > HEADING_MAX_CHARS:
        return False
    return not (_SENTENCE_END.search(body) or _LABELLED_VALUE.search(body))


@dataclass(frozen=True)
class PassageView:
    """Per segment: may it be evidence, and its reading text (parallel to the segments)."""

    usable: tuple[bool, ...]
    reading: tuple[str, ...]
    why_skipped: tuple[str | None, ...]


def passage_view(segments: Sequence[Segment]) -> PassageView:
    """Mark tables of contents and bare headings; compute the reading texts."""
    n = len(segments)
    reading = tuple(reading_text(s.text) for s in segments)
    keys = [_NORM.sub("", r).lower() for r in reading]
    bare = [_bare(s.kind, r) for s, r in zip(segments, reading, strict=True)]
    for i in range(1, n):  # the value a lead-in announces ("寄到如下地址：" + an address line) is no heading
        if bare[i] and segments[i].kind != "heading" and reading[i] == segments[i].text and _LEAD_IN.search(segments[i - 1].text):
            bare[i] = False
    last_heading: dict[str, int] = {k: i for i, k in enumerate(keys) if k and bare[i]}  # last occurrence
    # a table of contents: consecutive short lines, each coming back later as a section heading
    candidates = {
        i
        for i, s in enumerate(segments)
        if s.kind != "heading" and keys[i] and len(keys[i]) <= 60 and last_heading.get(keys[i], -1) > i
    }
    why: list[str | None] = [None] * n
    for i in range(n):
        if i in candidates and (i - 1 in candidates or i + 1 in candidates):
            why[i] = "table of contents"
        elif bare[i]:
            why[i] = "heading"
    return PassageView(
        usable=tuple(w is None for w in why),
        reading=reading,
        why_skipped=tuple(why),
    )
