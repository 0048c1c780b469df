"""The HTML walker: one pass over the parsed page, boilerplate dropped, blocks kept, main content found.

What counts as boilerplate is data, in :mod:`pipeline.content.selectors`; the entry point is
:func:`pipeline.read.extract.extract_html`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from selectolax.lexbor import LexborNode

from pipeline.content import selectors as sel
from pipeline.read.blocks import (
    BOLD_HEADING_LEVEL,
    _looks_bold_heading,
    heading_level_of_line,
    normalize_space,
)
from pipeline.read.markdown import _markdown_pieces
from pipeline.records import BlockKind

# Attribute/role checks that would drop an element holding most of the page are skipped;
# at most this many such size checks are made per page (pathological pages drop the rest).
MAX_SIZE_CHECKS = 500


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
