"""Plain text and Markdown into blocks: headings (ATX, setext, numbered lines), lists, quotes, tables,
soft-wrapped lines joined, inline markup stripped.

    strip_inline_markdown("**We** keep [logs](/logs).")   # "We keep logs."

The entry point is :func:`pipeline.read.extract.extract_text`; the HTML walker uses the same
rules for ``<pre>`` text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipeline.read.blocks import _CJK_CHAR_RE, _looks_bold_heading, normalize_space
from pipeline.records import BlockKind

# ---------------------------------------------------------------- Markdown / text/plain

_FENCE_RE = re.compile(r"^\s{0,3}(```|~~~)")
_ATX_RE = re.compile(r"^\s{0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_RE = re.compile(r"^\s*(=+|-+)\s*$")
_THEMATIC_RE = re.compile(r"^\s*(?:(?:\*\s*){3,}|(?:-\s*){3,}|(?:_\s*){3,}|(?:=\s*){3,})$")
_LIST_RE = re.compile(r"^(\s*)(?:[-*+•·▪◦●]|\d{1,3}[.)])\s+(\S.*)$")
_QUOTE_RE = re.compile(r"^\s{0,3}>\s?")
_TABLE_SEP_RE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_REF_DEF_RE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*\S+")
_HTML_COMMENT_RE = re.compile(r"<!--.*?-->")

_MD_ESCAPABLE = "\\`*_{}[]()#+-.!|>~"
_ESCAPE_RE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])")
_UNESCAPE = {chr(0xE000 + i): c for i, c in enumerate(_MD_ESCAPABLE)}
_UNESCAPE_RE = re.compile("[" + "".join(_UNESCAPE) + "]")
_INLINE_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"!\[([^\]]*)\]\((?:[^()\s]|\([^)]*\))*(?:\s+\"[^\"]*\")?\)"), r"\1"),
    (re.compile(r"\[([^\]]*)\]\((?:[^()\s]|\([^)]*\))*(?:\s+\"[^\"]*\")?\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),
    (re.compile(r"<((?:https?|ftp|mailto):[^>\s]+|[^>\s@]+@[^>\s]+)>"), r"\1"),
    (re.compile(r"<br\s*/?>", re.I), " "),
    (re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>"), ""),
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w_])_(?=[^\s_])([^_\n]+?)(?<=[^\s_])_(?![\w_])"), r"\1"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),
    (re.compile(r"\*{2,}"), ""),  # unbalanced bold markers left over in messy sources
)
_MARKDOWN_TRIGGER_RE = re.compile(r"[\\\[<`*_~]")
_TERMINAL = tuple(".!?。！？:：;；")
_WRAP_END_RE = re.compile(r"[A-Za-z0-9,;)\"'’”\-]$")
_WRAP_START_RE = re.compile(r"^[A-Za-z0-9(\"'‘“]")
SOFT_WRAP_MIN_CHARS = 40


def strip_inline_markdown(line: str) -> str:
    """Light Markdown inline clean-up: keep link and emphasis text, drop the syntax."""
    if _MARKDOWN_TRIGGER_RE.search(line) is None:
        return line
    line = _ESCAPE_RE.sub(lambda m: chr(0xE000 + _MD_ESCAPABLE.index(m.group(1))), line)
    for pattern, repl in _INLINE_RULES:
        line = pattern.sub(repl, line)
    return _UNESCAPE_RE.sub(lambda m: _UNESCAPE[m.group(0)], line)


def _joiner(left: str, right: str) -> str:
    if left and right and _CJK_CHAR_RE.match(left[-1]) and _CJK_CHAR_RE.match(right[0]):
        return ""
    return " "


def _soft_wrapped(previous: str, line: str) -> bool:
    """Is ``line`` the continuation of a hard-wrapped ``previous`` line (plain text, Markdown)?"""
    return (
        len(previous) >= SOFT_WRAP_MIN_CHARS
        and bool(_WRAP_END_RE.search(previous))
        and bool(_WRAP_START_RE.match(line))
    )


def _list_continues(out: _LineBlocks, raw: str) -> bool:
    """An indented line under a list item continues it (not after a CJK line: Chinese
    text is not hard-wrapped, so there a new line is a new paragraph)."""
    return (
        out.kind == "list_item"
        and raw[:2] in ("  ", "\t")
        and not _CJK_CHAR_RE.match(out.lines[-1].rstrip("*_~` ")[-1:] or " ")
    )


@dataclass
class _LineBlocks:
    """Builds blocks line by line: one open block at a time."""

    pieces: list[tuple[BlockKind, int, str]] = field(default_factory=list)
    kind: BlockKind = "paragraph"
    lines: list[str] = field(default_factory=list)

    def open(self, kind: BlockKind, first: str) -> None:
        self.close()
        self.kind = kind
        self.lines = [first.strip()]

    def add(self, line: str) -> None:
        self.lines.append(line.strip())

    def close(self) -> None:
        if self.lines:
            lines = [strip_inline_markdown(line).strip() for line in self.lines]
            text = lines[0]
            for line in lines[1:]:
                text = text + _joiner(text, line) + line
            if len(lines) > 1:  # emphasis or links spanning lines
                text = strip_inline_markdown(text)
            self.pieces.append((self.kind, 0, normalize_space(text)))
        self.lines = []

    def heading(self, level: int, text: str) -> None:
        self.close()
        self.pieces.append(("heading", level, normalize_space(strip_inline_markdown(text))))


def _markdown_pieces(text: str) -> list[tuple[BlockKind, int, str]]:
    out = _LineBlocks()
    in_fence = False
    for raw in _HTML_COMMENT_RE.sub("", text).splitlines():
        if _FENCE_RE.match(raw):
            out.close()
            in_fence = not in_fence
            continue
        if in_fence:
            if raw.strip():
                out.pieces.append(("paragraph", 0, normalize_space(raw)))
            continue
        line = raw
        while _QUOTE_RE.match(line):
            line = _QUOTE_RE.sub("", line, count=1)
        stripped = line.strip()
        if not stripped:
            out.close()
            continue
        if (m := _ATX_RE.match(line)) is not None:
            out.heading(len(m.group(1)), m.group(2) or "")
            continue
        if (
            (m := _SETEXT_RE.match(line)) is not None
            and out.kind == "paragraph"
            and len(out.lines) == 1
            and _looks_bold_heading(out.lines[0])  # short, does not end a sentence
        ):
            level = 1 if m.group(1).startswith("=") else 2
            heading_text = out.lines[0]
            out.lines = []
            out.heading(level, heading_text)
            continue
        if _THEMATIC_RE.match(line) or _REF_DEF_RE.match(line) or _TABLE_SEP_RE.match(line):
            out.close()
            continue
        if stripped.startswith("|"):
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            out.open("paragraph", " | ".join(c for c in cells if c))
            out.close()
            continue
        if (m := _LIST_RE.match(line)) is not None:
            out.open("list_item", m.group(2))
            continue
        if out.lines and (_soft_wrapped(out.lines[-1], stripped) or _list_continues(out, raw)):
            out.add(stripped)
            continue
        out.open("paragraph", stripped)
    out.close()
    return out.pieces
