"""Markup and PDFs built to make parsing take forever (issue 14, items 1 and 2).

Each case runs under a generous bound (it must not stall the suite); speed itself is measured
by benchmarks/bench_hostile.py, never asserted here.
"""

from __future__ import annotations

import pytest

from pipeline.content.markup import limit_nesting, tag_end
from pipeline.fetch.discover import classify_page, find_policy_links, needs_javascript, script_sources
from pipeline.read.extract import extract_html, extract_pdf

from . import bodies as b
from .hangs import bounded


def unclosed_tag_page(attributes: int = 26) -> str:
    """600 nested <div>, then an unclosed <div> with quoted attributes: 3.3 KB that made the
    old tag regex backtrack 2^attributes steps."""
    attrs = " ".join(f'data-a{i}="v{i}"' for i in range(attributes))
    return "<html><body>" + "<div>" * 600 + "<p>Privacy Policy</p><div " + attrs


QUADRATIC_PAGES = {
    "unclosed-div-tags": "<script></script>" + "<div " * 40_000,
    "unclosed-mount-points": "<script></script>" + "<div id=" * 30_000,
    "unclosed-script-src": "<script src" * 20_000,
    "unclosed-noscripts": "<script></script>" + "<noscript>" * 20_000,
}


def test_unclosed_tag_with_many_quoted_attributes_is_scanned_in_linear_time() -> None:
    page = unclosed_tag_page()
    out = bounded(20, lambda: limit_nesting(page, max_depth=512))
    assert out.count("<div") < page.count("<div")  # the divs below the limit were unwrapped
    assert bounded(20, lambda: classify_page(page)) in ("other", "policy")
    assert bounded(20, lambda: find_policy_links(page, "http://127.0.0.1/")) == []
    bounded(20, lambda: extract_html(page))


@pytest.mark.parametrize(
    ("html", "pos", "end"),
    [
        ('<a href="x>y">z', 2, 14),
        ("<a title='>' b=c>", 2, 17),
        ("<a b = \"q\"  c>rest", 2, 14),
        ('<a b="never closed>', 2, 19),
        ("<a b=c", 2, 6),
    ],
)
def test_tag_end_skips_a_greater_than_sign_inside_quoted_values(html: str, pos: int, end: int) -> None:
    assert tag_end(html, pos) == end


@pytest.mark.parametrize("name", sorted(QUADRATIC_PAGES))
def test_app_shell_detection_parses_instead_of_backtracking(name: str) -> None:
    page = QUADRATIC_PAGES[name]
    bounded(20, lambda: (needs_javascript(page), script_sources(page), classify_page(page)))


def test_app_shell_detection_still_finds_empty_mount_points_and_noscript_notices() -> None:
    shell = '<html><body><div id="root">  </div><script src="/app.js"></script></body></html>'
    assert "root" in (needs_javascript(shell) or "")
    notice = "<html><body><noscript>请启用 JavaScript</noscript><script src=/a.js></script></body></html>"
    assert "noscript" in (needs_javascript(notice) or "")
    assert needs_javascript('<html><body><div id="root"><p>x</p></div><script></script></body></html>') is None
    assert script_sources('<script src="/a.js"></script><SCRIPT SRC=/b.js></SCRIPT><script>1</script>') == ["/a.js", "/b.js"]


def test_pdf_whose_pages_share_one_huge_content_stream_is_read_within_budget() -> None:
    data = b.pdf_shared_stream(pages=20, content_bytes=5 * 1024 * 1024)
    assert len(data) < 40_000
    policy = bounded(60, lambda: extract_pdf(data))
    assert len(policy.text) < 1_000_000


def test_pdf_pages_sharing_a_small_content_stream_are_read_once() -> None:
    data = b.pdf_shared_stream(pages=5, content_bytes=20_000)
    policy = extract_pdf(data)
    one_page = extract_pdf(b.pdf_shared_stream(pages=1, content_bytes=20_000))
    assert policy.text and policy.text == one_page.text
