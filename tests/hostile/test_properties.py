"""Properties (hypothesis): extraction and segmentation never raise on arbitrary input,
segments and blocks always index the extracted text, grading is deterministic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.content.charset import decode_body
from pipeline.grade.grader import grade
from pipeline.grade.rubric import load_rubric
from pipeline.read.extract import extract, extract_html, extract_pdf, extract_text
from pipeline.read.segment import segment, segment_many
from pipeline.records import PolicyText, Rubric
from pipeline.settings import DEFAULT_RUBRIC

from . import bodies as b

# HOSTILE_EXAMPLES=5000 for a longer search than CI's
PROPS = settings(max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.too_slow])

TAGS = ["div", "p", "span", "b", "strong", "li", "ul", "ol", "h1", "h2", "h3", "pre", "table", "tr", "td", "br",
        "main", "article", "section", "nav", "header", "footer", "form", "script", "style", "a", "dl", "dt", "dd"]
ATTRS = ['', ' class="cookie-banner"', ' role="main"', ' role="heading" aria-level="9"', ' id="content"',
         ' class="nav"', ' hidden', ' role="listitem"', ' aria-label="menu"']
WORDS = ["We", "collect", "personal", "information", "隐私", "个人信息", "。", ".", "!", "?", ";", "；", "|||",
         "\u3000", "\xa0", "\u200b", "\ufeff", "\ud800", "\x00", "\r\n", "\n\n", "  ", "Sec.", "e.g.", "1.", "一、",
         "- ", "* ", "# ", "```", "&amp;", "&#0;", "&#xD800;", "<!--", "-->", "<", ">", "&", "🙂", "\u202e", "é"]


@st.composite
def html_soup(draw: st.DrawFn) -> str:
    """Tag soup: unbalanced, nested, with hostile characters and entities."""
    parts: list[str] = []
    for _ in range(draw(st.integers(0, 60))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            parts.append(f"<{draw(st.sampled_from(TAGS))}{draw(st.sampled_from(ATTRS))}>")
        elif kind == 1:
            parts.append(f"</{draw(st.sampled_from(TAGS))}>")
        elif kind == 2:
            parts.append(draw(st.sampled_from(WORDS)))
        else:
            parts.append(draw(st.text(max_size=30)))
    return "".join(parts)


def _check_policy(policy: PolicyText) -> None:
    text = policy.text
    assert policy.language in ("zh", "en", "other")
    last = 0
    for block in policy.blocks:
        assert last <= block.start < block.end <= len(text)
        assert text[block.start : block.end].strip() == text[block.start : block.end]
        last = block.end
    segs = segment(policy)
    last = 0
    for i, seg in enumerate(segs):
        assert seg.index == i
        assert last <= seg.start < seg.end <= len(text)
        assert text[seg.start : seg.end] == seg.text
        last = seg.end


@PROPS
@given(html_soup())
def test_extract_html_never_raises_and_offsets_index_the_text(html: str) -> None:
    _check_policy(extract_html(html))


@PROPS
@given(st.text())
def test_extract_html_of_any_text_never_raises(html: str) -> None:
    _check_policy(extract_html(html))


@PROPS
@given(st.text())
def test_extract_text_never_raises_and_offsets_index_the_text(text: str) -> None:
    _check_policy(extract_text(text))


@PROPS
@given(st.lists(st.sampled_from(WORDS + ["\n", " ", "ab", "中文", "Privacy Policy"]), max_size=80).map("".join))
def test_extract_text_of_markdownish_lines_never_raises(text: str) -> None:
    _check_policy(extract_text(text))


@PROPS
@given(st.binary(max_size=2000), st.sampled_from([None, "text/html", "text/plain", "application/pdf", "text/html; charset=gbk", "x/y; charset=nonsense"]))
def test_any_bytes_with_any_content_type_decode_and_extract(body: bytes, ctype: str | None) -> None:
    text, codec = decode_body(body, ctype)
    assert isinstance(text, str) and codec
    _check_policy(extract(body, content_type=ctype))
    _check_policy(extract(text, content_type=ctype))


@PROPS
@given(st.binary(max_size=3000))
def test_extract_pdf_of_garbage_never_raises(data: bytes) -> None:
    _check_policy(extract_pdf(b"%PDF-1.4\n" + data))


@PROPS
@given(st.text(), st.sampled_from(["zh", "en", "other"]))
def test_segment_of_raw_text_without_blocks_indexes_it(text: str, language: str) -> None:
    policy = PolicyText(text=text, language=language)  # type: ignore[arg-type]
    for seg in segment(policy):
        assert text[seg.start : seg.end] == seg.text and seg.text.strip()


@PROPS
@given(st.lists(html_soup(), min_size=1, max_size=4))
def test_segment_many_equals_segment_one_by_one(pages: list[str]) -> None:
    policies = [extract_html(p) for p in pages]
    assert segment_many(policies) == [segment(p) for p in policies]


@lru_cache(maxsize=1)
def _rubric() -> Rubric:
    return load_rubric(DEFAULT_RUBRIC)


@st.composite
def policy_page(draw: st.DrawFn) -> str:
    """A real-looking policy with random extra paragraphs inserted (enough to be graded)."""
    extra = draw(st.lists(st.sampled_from([
        "We keep logs for 30 days.", "我们保存日志30天。", "You may delete your account.", "Contact privacy@x.example.",
        "We share data with advertisers.", "Last updated: 1 May 2026.", "我们不会出售您的个人信息。", "e.g. Sec. 4.",
    ]) | st.text(max_size=40), max_size=8))
    body = "".join(f"<p>{x.replace('<', ' ')}</p>" for x in extra)
    page = draw(st.sampled_from([b.english_policy, b.chinese_policy]))()
    return page.replace("</main>", body + "</main>")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy_page())
def test_grading_is_deterministic_for_the_same_input(html: str) -> None:
    policy = extract_html(html)
    first = grade(policy, segment(policy), _rubric())
    again_policy = extract_html(html)
    again = grade(again_policy, segment(again_policy), _rubric())
    assert first == again
    assert first.status == "assessed" and first.score is not None and 0 <= first.score <= 100
    for c in first.criteria:
        for e in c.evidence:
            assert policy.text[e.start : e.end] == e.quote


_GRADE_SCRIPT = """
import json, sys
from dataclasses import asdict
from pipeline.read.extract import extract_html
from pipeline.grade.grader import grade
from pipeline.grade.rubric import load_rubric
from pipeline.read.segment import segment
from pipeline.settings import DEFAULT_RUBRIC
policy = extract_html(open(sys.argv[1], encoding="utf-8").read())
print(json.dumps(asdict(grade(policy, segment(policy), load_rubric(DEFAULT_RUBRIC))), sort_keys=True, default=str))
"""


@pytest.mark.slow
def test_grading_is_the_same_in_processes_with_different_hash_seeds(tmp_path: Path) -> None:
    page = tmp_path / "policy.html"
    page.write_text(b.english_policy("Seeded").replace("</main>", "<p>我们保存日志30天。We keep logs for 30 days.</p></main>"), encoding="utf-8")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _GRADE_SCRIPT, str(page)], stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        for seed in ("1", "2", "12345")
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs[0] == outs[1] == outs[2]
    in_process = extract_html(page.read_text(encoding="utf-8"))
    assert json.loads(outs[0]) == json.loads(json.dumps(asdict(grade(in_process, segment(in_process), _rubric())), sort_keys=True, default=str))
