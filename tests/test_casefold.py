"""pipeline.grade.casefold: the fast path finds exactly what re.IGNORECASE finds, or is not taken."""

from __future__ import annotations

from pathlib import Path

import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeline.grade.checks as checks
from pipeline.grade.casefold import SPECIAL, CasePattern, lowered_source, lowered_text
from pipeline.grade.rubric import load_rubric
from pipeline.settings import Settings

from .conftest import shared_data_or_skip


# the lower-cased fast path serves the v1 checks (lexicon, coverage, retention, date); v2 checks match with re.IGNORECASE
RUBRIC_V1 = Path(__file__).resolve().parents[1] / "rubrics" / "transparency.v1.yaml"


def _rubric_patterns() -> list[str]:
    """Every pattern union the checks build from the shipped rubric."""
    out: set[str] = set()
    for c in load_rubric(RUBRIC_V1).criteria:
        for key in ("patterns", "keywords"):
            for spec in (c.params.get(key) or {}).values():
                groups = spec.values() if isinstance(spec, dict) else [spec]
                for pats in groups:
                    if pats:
                        out.add("|".join(f"(?:{p})" for p in pats))
        for by_lang in (c.params.get("items") or {}).values():
            for pats in by_lang.values():
                if pats:
                    out.add("|".join(f"(?:{p})" for p in pats))
    return sorted(out)


PATTERNS = _rubric_patterns()
# letters of both cases, digits, the punctuation the rubric uses, Chinese from the patterns,
# and every character whose case folding lower() does not capture
ALPHABET = sorted(
    set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:@-_()/'\n\t")
    | {ch for p in PATTERNS for ch in p if "\u4e00" <= ch <= "\u9fff"}
    | set(SPECIAL or ())
    | set("ÉéÀàÖöß’“”—©")
)


def test_rubric_patterns_take_the_fast_path() -> None:
    assert len(PATTERNS) > 30
    slow = [p for p in PATTERNS if lowered_source(p) is None]
    assert not slow, f"patterns left on the IGNORECASE path: {slow}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=ALPHABET, max_size=120), words=st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=3))
def test_fast_path_matches_ignorecase_on_random_text(text: str, words: list[str]) -> None:
    low = lowered_text(text)
    for source in words:
        want = re.search(source, text, re.IGNORECASE)
        got = CasePattern(source).search(text, low)
        assert (want.span() if want else None) == (got.span() if got else None)


@pytest.mark.parametrize(
    "text",
    [
        "We may share your DATA with Third Parties.",
        "Privacy Policy of Example Inc. (the CONTROLLER)",
        "我们会收集您的IMEI、MAC地址和Android ID。",
        "Contact privacy@Example.ORG or call (555) 010-0199.",
    ],
)
def test_fast_path_matches_on_policy_like_text(text: str) -> None:
    low = lowered_text(text)
    assert low == text.lower()
    for source in PATTERNS:
        want = re.search(source, text, re.IGNORECASE)
        got = CasePattern(source).search(text, low)
        assert (want.span() if want else None) == (got.span() if got else None), source


@pytest.mark.parametrize("text", ["ſecurity", "Kelvin \u212a", "ΣΑΣ", "İstanbul", "ıd", "µs"])
def test_text_with_special_case_variants_keeps_the_ignorecase_path(text: str) -> None:
    assert lowered_text(text) is None


@pytest.mark.parametrize(
    ("source", "lowered"),
    [
        (r"Data\s+Controller", r"data\s+controller"),
        (r"[A-Z]{2}\d", r"[a-z]{2}\d"),
        (r"\bInc\b|\WLLC\S", r"\binc\b|\Wllc\S"),
        (r"(?<!without )notify", r"(?<!without )notify"),
        (r"[^A-Z.]", r"[^a-z.]"),
        (r"(?P<Name>X)(?P=Name)", r"(?P<name>x)(?P=name)"),
    ],
)
def test_lowered_source(source: str, lowered: str | None) -> None:
    assert lowered_source(source) == lowered


@pytest.mark.parametrize("source", [r"(?i)abc", r"(?-i:Abc)", r"\x41", r"\u0041bc", r"[@-Z]", r"(a)\1", "ſ"])
def test_patterns_that_might_change_keep_ignorecase(source: str) -> None:
    assert lowered_source(source) is None


def test_grades_are_identical_on_real_policies() -> None:
    root = shared_data_or_skip("opp-115", "sanitized_policies")
    zh = shared_data_or_skip("ca4p-483", "raw_data")
    from pipeline.grade.grader import grade
    from pipeline.read.reader import read_policy
    from pipeline.read.segment import segment_many
    from pipeline.records import FetchOutcome, FetchResult

    bodies = [(f.read_text(encoding="utf-8").replace("|||", "</p><p>").encode(), "text/html") for f in sorted(root.glob("*.html"))[:25]]
    bodies += [(f.read_bytes(), "text/html; charset=utf-8") for f in sorted(zh.glob("*.html"))[:15]]
    policies = [
        read_policy(FetchResult(requested_url="http://127.0.0.1/p", outcome=FetchOutcome.OK, fetched_at=datetime.now(UTC),
                                final_url="http://127.0.0.1/p", content_type=ctype, body=body))
        for body, ctype in bodies
    ]
    segments = segment_many(policies)
    rubric = load_rubric(RUBRIC_V1)
    fast = [grade(p, s, rubric) for p, s in zip(policies, segments, strict=True)]
    original = checks.lowered_text
    try:
        checks.lowered_text = lambda text: None  # every search through re.IGNORECASE
        slow = [grade(p, s, rubric) for p, s in zip(policies, segments, strict=True)]
    finally:
        checks.lowered_text = original
    assert sum(g.status == "assessed" for g in fast) >= 35
    assert fast == slow
