"""Golden real-world pages from ../shared/data, read at test time (never copied into the repo).

Checklists, not snapshots: the policies are Chinese/English, the markup is gone, policy
phrases survive, headings are found, and every segment indexes the extracted text.

- CA4P-483 ``raw_data/*.html``: tagtog pages, the policy inside ``<pre>`` (Markdown-ish lines;
  the first line "Apkid:..." stays).
- OPP-115 ``sanitized_policies/*.html``: fragments with ``<br>``, segments separated by ``|||``.
- ToS;DR ``policies/*/*.md``: Markdown versions of 15 services' policies.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.read.extract import extract_html, extract_text
from pipeline.read.segment import MAX_SEGMENT_CHARS, segment_many
from pipeline.records import PolicyText, Segment

pytestmark = pytest.mark.shared

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CA4P = DATA / "ca4p-483" / "raw_data"
OPP = DATA / "opp-115" / "sanitized_policies"
TOSDR = DATA / "tosdr-tosback-versions-sample" / "policies"

Read = tuple[list[Path], list[PolicyText], list[list[Segment]]]


def files(folder: Path, pattern: str) -> list[Path]:
    found = sorted(folder.glob(pattern))
    if not found:
        pytest.skip(f"real-world corpus not available: {folder} has no {pattern} (needs ../shared/data next to the repo)")
    return found


def read(paths: list[Path], extractor: Callable[[str], PolicyText]) -> Read:
    policies = [extractor(p.read_text(encoding="utf-8")) for p in paths]
    return paths, policies, segment_many(policies)


def share(flags: list[bool]) -> float:
    return sum(flags) / len(flags)


def assert_offsets(policies: list[PolicyText], segments: list[list[Segment]], paths: list[Path]) -> None:
    for path, policy, segs in zip(paths, policies, segments):
        for block in policy.blocks:
            assert policy.text[block.start : block.end].strip(), path
        for seg in segs:
            assert policy.text[seg.start : seg.end] == seg.text, (path, seg)
            assert len(seg.text) <= MAX_SEGMENT_CHARS or seg.kind == "heading", (path, seg.start)
        assert all(a.end <= b.start for a, b in zip(segs, segs[1:])), path


# ---------------------------------------------------------------- CA4P-483 (Chinese)


@pytest.fixture(scope="module")
def ca4p_sample() -> Read:
    return read(files(CA4P, "*.html")[::12], extract_html)  # 41 of 483, spread over the corpus


@pytest.fixture(scope="module")
def ca4p_all() -> Read:
    return read(files(CA4P, "*.html"), extract_html)


def check_ca4p(paths: list[Path], policies: list[PolicyText], segments: list[list[Segment]]) -> None:
    assert [p.language for p in policies] == ["zh"] * len(policies)
    assert min(len(p.text) for p in policies) > 500
    assert min(len(s) for s in segments) >= 10
    assert share([any("个人信息" in s.text for s in segs) for segs in segments]) >= 0.9
    assert share([any(s.kind == "heading" for s in segs) for segs in segments]) >= 0.9
    for policy in policies:
        assert "<pre" not in policy.text and "anndoc" not in policy.text
    # separator lines of the source text are dropped (one source has them inside a sentence)
    assert share(["==========" not in p.text for p in policies]) >= 0.99
    assert_offsets(policies, segments, paths)


def test_ca4p_sample_reads_as_chinese_policies(ca4p_sample: Read) -> None:
    check_ca4p(*ca4p_sample)


@pytest.mark.slow
def test_ca4p_all_483_policies_read_with_exact_offsets(ca4p_all: Read) -> None:
    paths, policies, segments = ca4p_all
    assert len(paths) == 483
    check_ca4p(paths, policies, segments)
    assert sum(len(s) for s in segments) > 50_000


def _source_spacing(raw: str) -> str:
    """The page source with Markdown link/emphasis syntax and zero-width spaces removed."""
    raw = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", raw)
    raw = re.sub(r"[*_#\u200b]", "", raw)
    return re.sub(r"[ \t\u3000\u00a0]+", " ", raw)


@pytest.mark.slow
def test_ca4p_extraction_inserts_no_space_between_han_characters(ca4p_all: Read) -> None:
    han_space_han = re.compile(r"[\u4e00-\u9fff] [\u4e00-\u9fff]")
    inserted = []
    for path, policy in zip(ca4p_all[0], ca4p_all[1]):
        source = _source_spacing(path.read_text(encoding="utf-8"))
        inserted += [(path.name, m.group()) for m in han_space_han.finditer(policy.text) if m.group() not in source]
    assert inserted == []


# ---------------------------------------------------------------- OPP-115 (English)


@pytest.fixture(scope="module")
def opp() -> Read:
    return read(files(OPP, "*.html"), extract_html)


def test_opp115_policies_read_as_english(opp: Read) -> None:
    paths, policies, segments = opp
    assert len(paths) == 115
    assert [p.language for p in policies] == ["en"] * 115
    assert min(len(s) for s in segments) >= 5


def test_opp115_markup_and_separators_are_gone(opp: Read) -> None:
    for policy in opp[1]:
        assert "|||" not in policy.text
        assert "<br" not in policy.text and "&nbsp" not in policy.text


def test_opp115_policy_phrases_are_kept(opp: Read) -> None:
    _, policies, segments = opp
    assert share([any("information" in s.text.lower() for s in segs) for segs in segments]) >= 0.95
    assert share([any("cookie" in s.text.lower() for s in segs) for segs in segments]) >= 0.6
    assert share([any(s.kind == "heading" for s in segs) for segs in segments]) >= 0.9


def test_opp115_segments_index_the_text(opp: Read) -> None:
    assert_offsets(opp[1], opp[2], opp[0])


# ---------------------------------------------------------------- ToS;DR Markdown (English)


@pytest.fixture(scope="module")
def tosdr_sample() -> Read:
    by_service = {p.parent.name: p for p in files(TOSDR, "*/*.md")}  # latest version per service
    return read(sorted(by_service.values()), extract_text)


@pytest.fixture(scope="module")
def tosdr_all() -> Read:
    return read(files(TOSDR, "*/*.md"), extract_text)


def check_tosdr(paths: list[Path], policies: list[PolicyText], segments: list[list[Segment]]) -> None:
    assert [p.language for p in policies] == ["en"] * len(policies)
    assert min(len(s) for s in segments) >= 20
    for path, policy in zip(paths, policies):
        assert "](http" not in policy.text, path  # link syntax gone, link text kept
    mentions = [any(re.search(r"personal (information|data)", s.text, re.I) for s in segs) for segs in segments]
    assert share(mentions) >= 0.85
    assert share([any(s.kind == "heading" for s in segs) for segs in segments]) >= 0.9
    assert_offsets(policies, segments, paths)


def test_tosdr_latest_versions_read_as_english(tosdr_sample: Read) -> None:
    assert len(tosdr_sample[0]) == 15
    check_tosdr(*tosdr_sample)


@pytest.mark.slow
def test_tosdr_all_versions_read_as_english(tosdr_all: Read) -> None:
    check_tosdr(*tosdr_all)
