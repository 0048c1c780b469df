"""The HTML nesting guard: pages are unwrapped below a fixed depth before any parser sees them.

    limit_nesting("<div>" * 100_000 + "text")    # parses in linear time; the text is kept

Used by reading (:mod:`pipeline.read.extract`) and by discovery (:mod:`pipeline.fetch.discover`),
so it sits below both stages.
"""

from __future__ import annotations

import re

from pipeline.content import selectors as sel

# The HTML5 tree builder checks the stack of open elements on every block start tag, so
# parsing N nested <div>/<li> costs O(N^2): 10,000 levels take about 0.3 s, 100,000 about
# 25 s per parse. Browsers cap nesting; we unwrap elements deeper than this before parsing.
MAX_NESTING = 512
_VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param", "source", "track", "wbr"}
)
# start tags that close an open element of the same name (<p>a<p>b, <li>a<li>b): not nesting
_SELF_CLOSING_SIBLINGS = frozenset({"p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "rt", "rp"})
_RAW_TEXT_TAGS = frozenset(
    {"script", "style", "textarea", "title", "xmp", "plaintext", "noscript", "template", "iframe", "noembed",
     "noframes", "svg", "math"}
)
_UNWRAP_AS_BREAK = sel.BLOCK_TAGS | frozenset(sel.HEADING_TAGS) | sel.LIST_ITEM_TAGS
_TAG_START_RE = re.compile(r"<(/?)([A-Za-z][^\s/>]*)")
# inside a tag, the characters that can change where it ends: '>' ends it, '=' may start a quoted value
_TAG_STOP_RE = re.compile(r"[>=]")
_VALUE_START_RE = re.compile(r"\s*")
_CLOSE_SEARCH = 64  # how far down the open-element stack an end tag looks for its start tag


def tag_end(html: str, pos: int) -> int:
    """Index just past the ``>`` ending the tag whose name ends at ``pos`` (``len(html)`` if unclosed).

    A ``>`` inside a quoted attribute value does not end the tag. One forward scan, each
    character looked at a bounded number of times: no backtracking regex ever runs over markup
    (a pattern with two ways to read each quoted value took 2^n steps on an unclosed tag of n
    attributes).
    """
    end = len(html)
    while True:
        m = _TAG_STOP_RE.search(html, pos)
        if m is None:
            return end
        if m.group() == ">":
            return m.end()
        value = _VALUE_START_RE.match(html, m.end()).end()  # type: ignore[union-attr]
        quote = html[value : value + 1]
        if quote in ("\"", "'"):
            close = html.find(quote, value + 1)
            if close < 0:
                return end
            pos = close + 1
        else:
            pos = value


def limit_nesting(html: str, max_depth: int = MAX_NESTING) -> str:
    """``html`` with elements nested deeper than ``max_depth`` unwrapped (their text kept).

    A page that never nests deeper is returned unchanged (the same object). Unwrapped block
    elements leave a ``<br>`` so their text still starts a new block; raw-text elements
    (script, style, ...) are skipped whole, so their content never becomes text. Linear time.
    """
    if html.count("<") <= max_depth:
        return html
    stack: list[tuple[str, bool]] = []  # (tag name, kept)
    cuts: list[tuple[int, int, str]] = []
    lower: str | None = None
    pos = 0
    search = _TAG_START_RE.search
    while (m := search(html, pos)) is not None:
        pos = m.end()
        closing, name = m.groups()
        name = name.lower()
        cut = False
        if closing:
            for i in range(len(stack) - 1, max(-1, len(stack) - 1 - _CLOSE_SEARCH), -1):
                if stack[i][0] == name:
                    cut = not stack[i][1]
                    del stack[i:]
                    break
        elif name in _RAW_TEXT_TAGS:  # skip to its end tag: what is inside is not markup
            lower = html.lower() if lower is None else lower
            end = lower.find(f"</{name}", pos)
            pos = len(html) if end < 0 else end
            continue
        elif name not in _VOID_TAGS:
            if name in _SELF_CLOSING_SIBLINGS and stack and stack[-1][0] == name:
                stack.pop()
            cut = len(stack) >= max_depth
            stack.append((name, not cut))
        if cut:
            stop = tag_end(html, pos)
            cuts.append((m.start(), stop, "<br>" if name in _UNWRAP_AS_BREAK else ""))
            pos = stop
    if not cuts:
        return html
    out: list[str] = []
    last = 0
    for start, stop, repl in cuts:
        out.append(html[last:start])
        out.append(repl)
        last = stop
    out.append(html[last:])
    return "".join(out)
