"""Text into blocks: whitespace rules, headings told from plain lines, and PolicyText assembled.

    normalize_space("a \u3000 b\n c")        # "a b c" (NBSP and the full-width space included)
    heading_level_of_line("第三条 信息共享")    # 2: a numbered Chinese heading
    _assemble(pieces, title)                  # PolicyText whose blocks index its text exactly

Shared by every extractor (:mod:`pipeline.read.extract`, :mod:`pipeline.read.html`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pipeline.read.language import detect_language
from pipeline.records import Block, BlockKind, PolicyText

BLOCK_SEPARATOR = "\n\n"
EMPTY = PolicyText(text="", language="other")


# ---------------------------------------------------------------- whitespace

_CJK = (
    r"\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff\u3400-\u4dbf"
    r"\u4e00-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0002ebef"
)
_CJK_CHAR_RE = re.compile(f"[{_CJK}]")
_CJK_NEWLINE_RE = re.compile(f"(?<=[{_CJK}])[ \\n]*\\n[ \\n]*(?=[{_CJK}])")
_SPACE_RUN_RE = re.compile(r"[ \n]+")
_HAS_WORD_RE = re.compile(r"[^\W_]")

_SPACE_CHARS = "\t\x0b\x0c\r\x1c\x1d\x1e\x1f \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_TRANSLATE: dict[int, str | None] = {ord(c): " " for c in _SPACE_CHARS}
_TRANSLATE.update({ord(c): "\n" for c in "\x85\u2028\u2029"})
_TRANSLATE.update({c: None for c in (*range(0x00, 0x09), *range(0x0E, 0x1C), 0x7F)})
_TRANSLATE.update({ord(c): None for c in "\u00ad\u200b\u200c\u200d\u2060\ufeff"})
_TRANSLATE[ord("\ufffd")] = None


def normalize_space(raw: str) -> str:
    """Collapse whitespace to single spaces, drop control/zero-width characters, strip.

    A line break between two CJK characters disappears (source HTML wraps Chinese lines
    anywhere; a browser does not show a space there).
    """
    text = raw.translate(_TRANSLATE)
    if "\n" in text:
        text = _CJK_NEWLINE_RE.sub("", text)
    return _SPACE_RUN_RE.sub(" ", text).strip()


def _clean_unicode(text: str) -> str:
    """Replace lone surrogates so every later encode succeeds."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


# ---------------------------------------------------------------- headings in plain lines

# Numbered section titles written as ordinary lines ("一、我们如何收集信息", "第三条 存储",
# "（二）共享", "2.1 Retention", "IV. Your Rights") and short all-capitals lines
# ("INFORMATION WE COLLECT") become headings when they are short and do not end a sentence.
_ZH_NUM = "一二三四五六七八九十百零〇"
_NUMBERED_HEADING_RES: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(f"^第[{_ZH_NUM}\\d]+[章部篇]"), 1),
    (re.compile(f"^第[{_ZH_NUM}\\d]+[条节]"), 2),
    (re.compile(f"^[{_ZH_NUM}]+[、.．]"), 2),
    (re.compile(f"^[（(][{_ZH_NUM}]+[）)]"), 3),
    (re.compile(r"^(?:[IVX]+|[A-Z])\.\s+[A-Z]"), 2),
    (re.compile(r"^\d{1,2}[、.．]\s*(?=[A-Z\u4e00-\u9fff“「《(（])"), 3),
    (re.compile(r"^\d{1,2}(?:\.\d{1,2})+[.．]?\s*(?=[A-Z\u4e00-\u9fff“「《(（])"), 4),
)
_ALL_CAPS_RE = re.compile(r"^[^a-z]*[A-Z][^a-z]*$")
HEADING_LINE_MAX_CJK = 40
HEADING_LINE_MAX_LATIN = 80
_NOT_HEADING_END = tuple("。.；;，,!?！？")
BOLD_HEADING_LEVEL = 4


def heading_level_of_line(text: str) -> int:
    """Heading level (1-6) of a plain line that reads as a section title, else 0."""
    if not text or text.endswith(_NOT_HEADING_END) or "。" in text:
        return 0
    limit = HEADING_LINE_MAX_CJK if _CJK_CHAR_RE.search(text) else HEADING_LINE_MAX_LATIN
    if len(text) > limit:
        return 0
    for pattern, level in _NUMBERED_HEADING_RES:
        if pattern.match(text):
            return level
    if _ALL_CAPS_RE.match(text) and len(_HAS_WORD_RE.findall(text)) >= 4 and len(text) <= 60:
        return 2
    if len(text) <= TITLE_CASE_MAX and _is_title_case(text):
        return TITLE_CASE_LEVEL
    return 0


_TITLE_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'’\-]*")
_TITLE_SMALL_WORDS = frozenset(
    "a an and as at by for from in into of on or our the to we with your you is are do does how what that this"
    " about not be will".split()
)
TITLE_CASE_MAX = 60
TITLE_CASE_LEVEL = 3


def _is_title_case(text: str) -> bool:
    """"Use of Cookies", "Information We Collect": every word but small ones capitalised."""
    if text.endswith(":") or "|" in text or _CJK_CHAR_RE.search(text):
        return False
    words = _TITLE_WORD_RE.findall(text)
    if not words or not words[0][0].isupper():
        return False
    big = [w for w in words if w.lower() not in _TITLE_SMALL_WORDS]
    return bool(big) and all(w[0].isupper() for w in big)


_BULLET_RE = re.compile(r"^[-•·▪◦●*]\s+(?=\S)")


def _looks_bold_heading(text: str) -> bool:
    """Short and not ending a sentence: an all-bold paragraph or an underlined line."""
    limit = HEADING_LINE_MAX_CJK if _CJK_CHAR_RE.search(text) else HEADING_LINE_MAX_LATIN
    return len(text) <= limit and not text.endswith(_NOT_HEADING_END) and "。" not in text


# ---------------------------------------------------------------- assembling PolicyText


def _assemble(pieces: Iterable[tuple[BlockKind, int, str]], title: str | None) -> PolicyText:
    """Join (kind, level, normalized text) pieces into a PolicyText with exact offsets."""
    blocks: list[Block] = []
    parts: list[str] = []
    pos = 0
    for kind, level, text in pieces:
        if not text or not _HAS_WORD_RE.search(text):
            continue
        if kind == "paragraph" and (line_level := heading_level_of_line(text)):
            kind, level = "heading", line_level
        elif kind == "paragraph" and (bullet := _BULLET_RE.match(text)) is not None:
            kind, text = "list_item", text[bullet.end() :]
        if parts:
            parts.append(BLOCK_SEPARATOR)
            pos += len(BLOCK_SEPARATOR)
        parts.append(text)
        blocks.append(Block(kind=kind, start=pos, end=pos + len(text), level=level if kind == "heading" else 0))
        pos += len(text)
    full = "".join(parts)
    if not full:
        return PolicyText(text="", language="other", title=title or None)
    if not title:
        title = next((full[b.start : b.end] for b in blocks if b.kind == "heading"), None)
    return PolicyText(text=full, language=detect_language(full), title=title or None, blocks=tuple(blocks))
