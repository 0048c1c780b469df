"""Extract stage: a fetched body -> :class:`~pipeline.records.PolicyText` (text + blocks).

    extract_html("<h1>Privacy</h1><p>We keep logs for 30 days.</p>")
    # PolicyText(text="Privacy\\n\\nWe keep logs for 30 days.", language="en", title="Privacy",
    #            blocks=(Block("heading", 0, 7, level=1), Block("paragraph", 9, 34)))
    extract_text("# Privacy\\n\\n- We keep logs.")       # Markdown or text/plain
    extract_pdf(pdf_bytes)                               # pypdf text layer; none -> empty text
    extract(body, content_type="text/html; charset=utf-8", url=...)   # dispatch

The text is the blocks joined by a blank line ("\\n\\n"); every ``Block`` indexes it exactly.
Inside a block whitespace is collapsed to single spaces (NBSP and the full-width space
included) and a line break between two CJK characters is removed, never turned into a
space. What counts as boilerplate is data, in :mod:`pipeline.content.selectors`.

None of these functions raise on odd input (empty strings, invalid markup, 10,000 levels
of nesting, corrupt PDFs): the worst case is ``PolicyText(text="", language="other")``.
"""

from __future__ import annotations

import io
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

from pipeline.content import selectors as sel
from pipeline.content.markup import limit_nesting
from pipeline.read.language import detect_language
from pipeline.records import Block, BlockKind, PolicyText

BLOCK_SEPARATOR = "\n\n"
EMPTY = PolicyText(text="", language="other")

# Attribute/role checks that would drop an element holding most of the page are skipped;
# at most this many such size checks are made per page (pathological pages drop the rest).
MAX_SIZE_CHECKS = 500

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xml", "text/xml"})
_TEXT_TYPES = frozenset({"text/plain", "text/markdown", "text/x-markdown", "text/md"})
_PDF_TYPES = frozenset({"application/pdf", "application/x-pdf"})
_HTML_SNIFF_RE = re.compile(r"<\s*(!doctype\s+html|html|head|body|div|p|h[1-6]|article|main|pre|br)\b", re.I)

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


# ---------------------------------------------------------------- HTML

_BLOCK_MARKER_RE = re.compile("|".join(re.escape(m) for m in sel.TEXT_BLOCK_MARKERS))


@dataclass
class _RawBlock:
    kind: BlockKind
    level: int
    text: str
    containers: tuple[int, ...]


@dataclass
class _Frame:
    """What entering an element pushed, undone when leaving it."""

    block: bool = False
    context: tuple[BlockKind, int] | None = None
    pre: bool = False
    sectioning: bool = False
    container: int | None = None
    spaced: bool = False
    bold: bool = False


@dataclass
class _HtmlWalker:
    page_chars: int
    blocks: list[_RawBlock] = field(default_factory=list)
    buffer: list[str] = field(default_factory=list)
    contexts: list[tuple[BlockKind, int]] = field(default_factory=list)
    containers: list[int] = field(default_factory=list)
    pre_depth: int = 0
    bold_depth: int = 0
    plain_text_seen: bool = False  # some text of the open block is not bold
    sectioning_depth: int = 0
    size_checks: int = 0
    next_container: int = 0

    # -- blocks

    def flush(self) -> None:
        if not self.buffer:
            return
        raw = "".join(self.buffer)
        self.buffer.clear()
        all_bold, self.plain_text_seen = not self.plain_text_seen, False
        kind, level = self.contexts[-1] if self.contexts else ("paragraph", 0)
        where = tuple(self.containers)
        if self.pre_depth:  # preformatted text: read like a plain-text/Markdown body
            self.blocks.extend(_RawBlock(k, n, t, where) for k, n, t in _markdown_pieces(raw))
            return
        if any(marker in raw for marker in sel.TEXT_BLOCK_MARKERS):
            self._flush_marked(raw, kind, level, where)
            return
        text = normalize_space(raw)
        if text and kind == "paragraph" and all_bold and _looks_bold_heading(text):
            kind, level = "heading", heading_level_of_line(text) or BOLD_HEADING_LEVEL
        if text:
            self.blocks.append(_RawBlock(kind, level, text, where))

    def _flush_marked(self, raw: str, kind: BlockKind, level: int, where: tuple[int, ...]) -> None:
        for part in _BLOCK_MARKER_RE.split(raw):
            text = normalize_space(part)
            if text:
                self.blocks.append(_RawBlock(kind, level, text, where))

    # -- decisions

    def is_large(self, node: LexborNode) -> bool:
        """Does this element hold most of the page's text? (then it is not boilerplate)"""
        if self.page_chars <= 0 or self.size_checks >= MAX_SIZE_CHECKS:
            return False
        self.size_checks += 1
        return len(node.text(deep=True)) >= sel.FORM_KEEP_SHARE * self.page_chars

    def drops(self, node: LexborNode, tag: str, attrs: dict[str, str | None]) -> bool:
        if tag in sel.DROP_TAGS:
            return True
        structural = tag in sel.PAGE_LEVEL_DROP_TAGS and self.sectioning_depth == 0
        structural = structural or tag == sel.FORM_TAG or tag in ("nav", "aside", "menu")
        if not structural and not attrs:
            return False
        if structural or _attrs_say_boilerplate(attrs, self.sectioning_depth):
            return tag not in ("html", "body") and not self.is_large(node)
        return False

    # -- walking

    def enter(self, node: LexborNode, tag: str, attrs: dict[str, str | None]) -> _Frame:
        frame = _Frame()
        role = (attrs.get("role") or "").strip().lower()
        if tag in sel.BLOCK_TAGS or tag in sel.HEADING_TAGS or role == "heading":
            self.flush()
            frame.block = True
        if tag in sel.HEADING_TAGS:
            frame.context = ("heading", sel.HEADING_TAGS[tag])
        elif role == "heading":
            frame.context = ("heading", _aria_level(attrs.get("aria-level")))
        elif tag in sel.LIST_ITEM_TAGS or role == "listitem":
            frame.context = ("list_item", 0)
            if not frame.block:
                self.flush()
                frame.block = True
        if frame.context is not None:
            self.contexts.append(frame.context)
        if tag == sel.PRE_TAG:
            frame.pre = True
            self.pre_depth += 1
        if tag in sel.SECTIONING_KEEP_TAGS or role == "main":
            frame.sectioning = True
            self.sectioning_depth += 1
        if tag in sel.MAIN_CANDIDATE_TAGS or role in sel.MAIN_CANDIDATE_ROLES:
            frame.container = self.next_container
            self.next_container += 1
            self.containers.append(frame.container)
        if tag in sel.SPACED_INLINE_TAGS:
            frame.spaced = True
            self.buffer.append(" ")
        if tag in sel.BOLD_TAGS:
            frame.bold = True
            self.bold_depth += 1
        return frame

    def leave(self, frame: _Frame) -> None:
        if frame.block:
            self.flush()
        if frame.spaced:
            self.buffer.append(" ")
        if frame.context is not None:
            self.contexts.pop()
        if frame.pre:
            self.pre_depth -= 1
        if frame.sectioning:
            self.sectioning_depth -= 1
        if frame.container is not None:
            self.containers.pop()
        if frame.bold:
            self.bold_depth -= 1

    def line_break(self) -> None:
        if self.pre_depth:
            self.buffer.append("\n")
        elif self.contexts:  # inside a heading or list item: same block
            self.buffer.append(" ")
        else:
            self.flush()

    def walk(self, root: LexborNode) -> None:
        # An explicit stack: documents nest deeper than Python's recursion limit.
        stack: list[tuple[LexborNode, _Frame | None]] = [(root, None)]
        while stack:
            node, frame = stack.pop()
            if frame is not None:
                self.leave(frame)
                continue
            tag = node.tag or ""
            if tag == "-text":
                text = node.text_content
                if text:
                    self.buffer.append(text)
                    if not self.bold_depth and not self.plain_text_seen and not text.isspace():
                        self.plain_text_seen = True
                continue
            if tag.startswith("-"):  # comments, doctype
                continue
            if tag == "br":
                self.line_break()
                continue
            attrs = node.attributes
            if self.drops(node, tag, attrs):
                continue
            stack.append((node, self.enter(node, tag, attrs)))
            children: list[LexborNode] = []
            child = node.child
            while child is not None:
                children.append(child)
                child = child.next
            stack.extend((c, None) for c in reversed(children))
        self.flush()


def _aria_level(value: str | None) -> int:
    try:
        level = int((value or "").strip())
    except ValueError:
        return 2
    return min(max(level, 1), 6)


def _attrs_say_boilerplate(attrs: dict[str, str | None], sectioning_depth: int) -> bool:
    roles = (attrs.get("role") or "").lower().split()
    for role in roles:
        if role in sel.DROP_ROLES and not (role in sel.PAGE_LEVEL_DROP_ROLES and sectioning_depth > 0):
            return True
    label = attrs.get("aria-label")
    if label and sel.BOILERPLATE_LABEL_RE.search(label.lower()):
        return True
    tokens = (attrs.get("class") or "").lower().split()
    ident = (attrs.get("id") or "").strip().lower()
    if ident:
        tokens.append(ident)
    for token in tokens:
        if sel.BOILERPLATE_TOKEN_RE.fullmatch(token) and not (
            sel.CONTENT_TOKEN_RE.fullmatch(token) and not sel.WIDGET_TOKEN_RE.fullmatch(token)
        ):
            return True
    return False


def _main_content(blocks: list[_RawBlock]) -> list[_RawBlock]:
    """Keep only the main/article element that holds most of the text, if there is one."""
    total = sum(len(b.text) for b in blocks)
    if total == 0:
        return blocks
    inside: dict[int, int] = {}
    for block in blocks:
        for container in block.containers:
            inside[container] = inside.get(container, 0) + len(block.text)
    qualified = [(chars, cid) for cid, chars in inside.items() if chars > sel.MAIN_MIN_SHARE * total]
    if not qualified:
        return blocks
    # Most text first; on a tie the innermost (nested elements get larger ids).
    _, best = max(qualified)
    return [b for b in blocks if best in b.containers]


def extract_html(html: str, url: str | None = None) -> PolicyText:
    """Readable text and structure of an HTML page (``url`` is accepted for future use)."""
    if not html or not html.strip():
        return EMPTY
    parser = LexborHTMLParser(limit_nesting(_clean_unicode(html)))
    root = parser.root
    if root is None:
        return EMPTY
    title_node = parser.css_first("title")
    title = normalize_space(title_node.text(deep=True)) if title_node is not None else ""
    body = parser.body
    page_chars = len(body.text(deep=True)) if body is not None else 0
    walker = _HtmlWalker(page_chars=page_chars)
    walker.walk(root)
    blocks = _main_content(walker.blocks)
    return _assemble(((b.kind, b.level, b.text) for b in blocks), title or None)


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


def extract_text(text: str) -> PolicyText:
    """Blocks of a text/plain or Markdown body.

    ``#`` headings (and ``===``/``---`` underlined ones), ``-``/``*``/``1.`` list items,
    paragraphs separated by blank lines; a line break inside a paragraph starts a new block
    unless the line was visibly hard-wrapped (a long line ending mid-sentence in Latin
    script). Link and emphasis syntax is removed, link text kept.
    """
    if not text or not text.strip():
        return EMPTY
    return _assemble(_markdown_pieces(_clean_unicode(text)), None)


# ---------------------------------------------------------------- PDF

PDF_JOIN_SHARE = 0.7  # a PDF line this close to the page's typical width continues on the next


def _pdf_page_pieces(page_text: str) -> list[tuple[BlockKind, int, str]]:
    lines = [normalize_space(line) for line in page_text.splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return []
    typical = statistics.median(len(line) for line in lines)
    out = _LineBlocks()
    for line in lines:
        if (m := _LIST_RE.match(line)) is not None:
            out.open("list_item", m.group(2))
            continue
        previous = out.lines[-1] if out.lines else ""
        if previous and not previous.endswith(_TERMINAL) and len(previous) >= PDF_JOIN_SHARE * typical:
            out.add(line)
        else:
            out.open("paragraph", line)
    out.close()
    return out.pieces


def extract_pdf(data: bytes) -> PolicyText:
    """Text of a PDF's text layer (pypdf). No text layer, or a broken file: empty text."""
    from pypdf import PdfReader

    pieces: list[tuple[BlockKind, int, str]] = []
    title: str | None = None
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        meta = reader.metadata
        if meta is not None and isinstance(meta.title, str):
            title = normalize_space(meta.title) or None
        for page in reader.pages:
            pieces.extend(_pdf_page_pieces(_clean_unicode(page.extract_text() or "")))
    except Exception:  # noqa: BLE001 -- pypdf raises many types on malformed files; a bad PDF is data
        if not pieces:
            return EMPTY
    return _assemble(pieces, title)


# ---------------------------------------------------------------- dispatch


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def extract(body: str | bytes, content_type: str | None = None, url: str | None = None) -> PolicyText:
    """Dispatch on the content type (sniffing when it is missing or unknown).

    Bytes are expected only for PDFs; other bytes are decoded as UTF-8 with replacement
    (the fetch stage normally decodes charsets itself and passes ``str``).
    """
    media = _media_type(content_type)
    if isinstance(body, (bytes, bytearray, memoryview)):
        data = bytes(body)
        if media in _PDF_TYPES or data.lstrip()[:5] == b"%PDF-":
            return extract_pdf(data)
        body = data.decode("utf-8", errors="replace")
    if media in _PDF_TYPES or body.lstrip()[:5] == "%PDF-":
        return extract_pdf(body.encode("latin-1", errors="replace"))
    if media in _HTML_TYPES:
        return extract_html(body, url)
    if media in _TEXT_TYPES:
        return extract_text(body)
    if _HTML_SNIFF_RE.search(body[:4096]):
        return extract_html(body, url)
    return extract_text(body)
