"""Hostile inputs to the stages directly (extract -> segment -> grade), without HTTP."""

from __future__ import annotations

from functools import lru_cache

import pytest

from pipeline.content.markup import MAX_NESTING, limit_nesting
from pipeline.demo import demo_file
from pipeline.grade.grader import grade
from pipeline.grade.rubric import load_rubric
from pipeline.read.extract import extract_html, extract_pdf, extract_text
from pipeline.read.segment import MAX_SEGMENT_CHARS, segment
from pipeline.records import GradeStatus, PolicyText, Rubric
from pipeline.settings import DEFAULT_RUBRIC

from . import bodies as b

INNER = b.english_policy("Deepnest").split("<main>")[1].split("</main>")[0]
KEY_SENTENCE = "We keep your personal information for as long as your account is open"


@lru_cache(maxsize=1)
def _rubric() -> Rubric:
    return load_rubric(DEFAULT_RUBRIC)


def _graded(policy: PolicyText) -> None:
    segs = segment(policy)
    for s in segs:
        assert policy.text[s.start : s.end] == s.text
    g = grade(policy, segs, _rubric())
    assert g.status is GradeStatus.ASSESSED and g.score is not None and g.score > 0, g.reason


NESTINGS = {
    "div": b.nested_html(10_000, INNER),
    "span": b.nested_html(10_000, INNER, "span"),
    "strong": b.nested_html(10_000, INNER, "strong"),
    "section": b.nested_html(10_000, INNER, "section"),
    "blockquote": b.nested_html(10_000, INNER, "blockquote"),
    "a": b.nested_html(10_000, INNER, "a"),
    "ul-li": "<html><body>" + "<ul><li>" * 10_000 + INNER + "</li></ul>" * 10_000 + "</body></html>",
    "table": "<html><body>" + "<table><tr><td>" * 3_000 + INNER + "</td></tr></table>" * 3_000 + "</body></html>",
    "unclosed-div": "<html><body>" + "<div>" * 10_000 + INNER,
    "div-100000": b.nested_html(100_000, INNER),
    "mixed-with-stray-closers": "<html><body>" + "<div></span><p></b>" * 5_000 + INNER,
}


@pytest.mark.parametrize("name", list(NESTINGS))
def test_deeply_nested_page_keeps_its_text_and_is_graded(name: str) -> None:
    policy = extract_html(NESTINGS[name])
    assert KEY_SENTENCE in policy.text
    assert policy.language == "en"
    _graded(policy)


def test_ordinary_pages_pass_the_nesting_limit_untouched() -> None:
    for name in ("acme-notes-privacy.html", "chenguang-privacy.html", "pinglan-home.html"):
        html = demo_file(name).decode("utf-8")
        assert limit_nesting(html) is html
    many_siblings = "<html><body>" + "<p>We collect data." * 5_000 + "</body></html>"  # unclosed <p>: not nesting
    assert limit_nesting(many_siblings) is many_siblings


def test_nesting_limit_unwraps_only_below_the_limit_and_never_exposes_scripts() -> None:
    deep = b.nested_html(2 * MAX_NESTING, "<script>var leak = '<div>secret</div>';</script><style>p{}</style>" + INNER)
    limited = limit_nesting(deep)
    # <html> and <body> take two levels; one more "<div>" is the string inside the script
    assert limited.count("<div>") == MAX_NESTING - 2 + 1
    assert "<script>var leak = '<div>secret</div>';</script>" in limited
    text = extract_html(deep).text
    assert "var leak" not in text and "secret" not in text and "p{}" not in text
    assert KEY_SENTENCE in text


def test_one_enormous_word_is_cut_into_bounded_segments() -> None:
    # 200 KB keeps this fast; grading costs ~5 ms per 1,000-character segment of one word
    # (the rubric's e-mail pattern rescans the word from every position), ~1 min for 5 MB.
    html = "<html><body><main>" + INNER + "<p>" + "x" * 200_000 + "</p></main></body></html>"
    policy = extract_html(html)
    segs = segment(policy)
    assert sum(len(s.text) for s in segs if set(s.text) == {"x"}) == 200_000
    assert max(len(s.text) for s in segs) <= MAX_SEGMENT_CHARS
    _graded(policy)


@pytest.mark.slow
def test_five_megabyte_single_line_policy_is_graded() -> None:
    body = b.one_line_policy(5 * 1024 * 1024, "Oneline").decode("utf-8")
    assert "\n" not in body and len(body) >= 5 * 1024 * 1024
    policy = extract_html(body)
    assert KEY_SENTENCE.replace("Deepnest", "Oneline") in policy.text
    _graded(policy)


@pytest.mark.parametrize(
    "text",
    [
        "\x00" * 1000,
        "\ud800\udfff" * 100 + " privacy",
        "\u202e" * 500,
        "。" * 10_000,
        "." * 10_000,
        "|||" * 1000,
        "#" * 10_000,
        "- " * 5_000,
        "```\n" * 1000,
        "\n" * 100_000,
        "a" * 200_000,
    ],
    ids=["nul", "surrogates", "rtl-override", "zh-stops", "dots", "opp-markers", "hashes", "bullets", "fences", "newlines", "one-word"],
)
def test_degenerate_text_never_raises_and_is_not_assessed(text: str) -> None:
    for policy in (extract_text(text), extract_html(f"<p>{text}</p>"), extract_html(text)):
        segs = segment(policy)
        for s in segs:
            assert policy.text[s.start : s.end] == s.text
        g = grade(policy, segs, _rubric())
        assert g.status is GradeStatus.NOT_ASSESSED and g.score is None and g.reason


def test_pdf_without_text_layer_reads_as_empty_text() -> None:
    policy = extract_pdf(b.pdf_without_text(3))
    assert policy.text == "" and policy.language == "other"
    reason = grade(policy, segment(policy), _rubric()).reason
    assert reason.startswith("empty text") and "PDF without a text layer" in reason


@pytest.mark.parametrize("blob", [b"", b"%PDF-", b"%PDF-1.7\n1 0 obj << /Type /Catalog", b"%PDF-1.4\n" + b"\xff" * 5000])
def test_broken_pdfs_read_as_empty_text(blob: bytes) -> None:
    assert extract_pdf(blob).text == ""


def test_third_language_and_agreement_texts_are_set_aside_with_a_reason() -> None:
    de = extract_html(b.sections_html(b.DE_SECTIONS, "Tannenweg", "de"))
    ja = extract_html(b.sections_html(b.JA_SECTIONS, "さくら手帳", "ja"))
    tos = extract_html(b.sections_html(b.AGREEMENT_SECTIONS, "Ruleset"))
    assert (de.language, ja.language, tos.language) == ("other", "other", "en")
    for policy, reason in ((de, "unsupported language"), (ja, "unsupported language"), (tos, "not a privacy policy")):
        g = grade(policy, segment(policy), _rubric())
        assert g.status is GradeStatus.NOT_ASSESSED and reason in g.reason
