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
import time
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from pipeline.content.markup import limit_nesting
from pipeline.read.blocks import EMPTY, _assemble, _clean_unicode, normalize_space
from pipeline.read.html import _HtmlWalker, _main_content
from pipeline.read.markdown import _LIST_RE, _TERMINAL, _LineBlocks, _markdown_pieces
from pipeline.records import BlockKind, PolicyText

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xml", "text/xml"})
_TEXT_TYPES = frozenset({"text/plain", "text/markdown", "text/x-markdown", "text/md"})
_PDF_TYPES = frozenset({"application/pdf", "application/x-pdf"})
_HTML_SNIFF_RE = re.compile(r"<\s*(!doctype\s+html|html|head|body|div|p|h[1-6]|article|main|pre|br)\b", re.I)


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


# A PDF's cost is in its content streams, not its size: 20 KB can inflate to a 5 MB stream that
# every page shares. Each distinct stream is read once, and reading stops (keeping the text so
# far) after this many bytes of content or this many seconds.
PDF_MAX_CONTENT_BYTES = 3_000_000
PDF_MAX_SECONDS = 20.0


def _content_key(page: Any) -> object:
    """What identifies a page's content: the indirect object(s) of /Contents, else the page itself."""
    contents = page.get("/Contents")
    refs = contents if isinstance(contents, list) else [contents]
    keys = tuple((r.idnum, r.generation) for r in refs if hasattr(r, "idnum"))
    return keys if keys and len(keys) == len(refs) else id(page)


def extract_pdf(data: bytes) -> PolicyText:
    """Text of a PDF's text layer (pypdf). No text layer, or a broken file: empty text.

    Bounded: content streams shared by several pages are read once, and reading stops after
    :data:`PDF_MAX_CONTENT_BYTES` of content or :data:`PDF_MAX_SECONDS`.
    """
    from pypdf import PdfReader

    pieces: list[tuple[BlockKind, int, str]] = []
    title: str | None = None
    deadline = time.monotonic() + PDF_MAX_SECONDS
    budget = PDF_MAX_CONTENT_BYTES
    seen: set[object] = set()
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        meta = reader.metadata
        if meta is not None and isinstance(meta.title, str):
            title = normalize_space(meta.title) or None
        for page in reader.pages:
            key = _content_key(page)
            if key in seen:
                continue
            seen.add(key)
            contents = page.get_contents()
            budget -= len(contents.get_data()) if contents is not None else 0
            if budget < 0 or time.monotonic() > deadline:
                break
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
