"""Segment stage: sentence rules, headings, offsets, and robustness."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.read.extract import extract_html, extract_text
from pipeline.read.segment import (
    MAX_SEGMENT_CHARS,
    ZH_SEMICOLON_SPLIT_CHARS,
    chinese_nlp,
    english_nlp,
    segment,
    segment_many,
)
from pipeline.records import Block, PolicyText, Segment

FIXTURES = Path(__file__).parent / "fixtures" / "read"


def assert_segments_index_text(policy: PolicyText, segments: list[Segment]) -> None:
    for i, seg in enumerate(segments):
        assert seg.index == i
        assert policy.text[seg.start : seg.end] == seg.text
        assert seg.text and seg.text == seg.text.strip()
    assert all(a.end <= b.start for a, b in zip(segments, segments[1:]))


def texts(segments: list[Segment], kind: str | None = None) -> list[str]:
    return [s.text for s in segments if kind is None or s.kind == kind]


def paragraph(text: str, language: str = "en") -> PolicyText:
    return PolicyText(text=text, language=language, blocks=(Block("paragraph", 0, len(text)),))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def english() -> tuple[PolicyText, list[Segment]]:
    policy = extract_html((FIXTURES / "english_policy.html").read_text(encoding="utf-8"))
    return policy, segment(policy)


@pytest.fixture(scope="module")
def chinese() -> tuple[PolicyText, list[Segment]]:
    policy = extract_html((FIXTURES / "chinese_policy.html").read_text(encoding="utf-8"))
    return policy, segment(policy)


def test_pipelines_are_built_once() -> None:
    assert english_nlp() is english_nlp()
    assert chinese_nlp() is chinese_nlp()
    assert chinese_nlp().pipe_names == ["sentencizer"]


def test_segments_index_the_extracted_text(english, chinese) -> None:
    for policy, segments in (english, chinese):
        assert_segments_index_text(policy, segments)


def test_each_heading_is_one_segment(english) -> None:
    _, segments = english
    assert texts(segments, "heading") == [
        "Privacy Policy",
        "Information we collect",
        "How long we keep it",
        "Cookies on our website",
        "Contact",
    ]


def test_each_list_item_is_one_segment(english) -> None:
    _, segments = english
    assert texts(segments, "list_item") == [
        "Your email address, when you create an account.",
        "The notes you write, which we store so you can sync them.",
        "Basic device data such as the app version and crash reports.",
    ]


def test_english_paragraphs_are_split_into_sentences(english) -> None:
    _, segments = english
    assert "We keep your notes for as long as your account is open." in texts(segments, "sentence")
    assert (
        "After you delete your account, we erase your data within 30 days, except backups, "
        "which expire after 90 days." in texts(segments, "sentence")
    )


def test_segments_record_the_nearest_heading_above(english, chinese) -> None:
    _, segments = english
    retention = next(s for s in segments if "within 30 days" in s.text)
    assert retention.heading == "How long we keep it"
    assert segments[0].heading is None  # the title has no heading above it
    _, zh_segments = chinese
    storage = next(s for s in zh_segments if "十五个工作日内删除" in s.text)
    assert storage.heading == "二、我们如何存储您的个人信息"


def test_chinese_paragraphs_are_split_at_full_stops(chinese) -> None:
    _, segments = chinese
    assert "我们在中华人民共和国境内存储您的个人信息。" in texts(segments)
    assert "您注销账号后，我们将在十五个工作日内删除或匿名化处理您的个人信息。" in texts(segments)


def test_chinese_splits_at_exclamation_and_question_marks() -> None:
    policy = paragraph("感谢您的信任！您想了解我们如何使用数据吗？请阅读本政策。", "zh")
    assert texts(segment(policy)) == ["感谢您的信任！", "您想了解我们如何使用数据吗？", "请阅读本政策。"]


def test_chinese_keeps_closing_quote_with_its_sentence() -> None:
    policy = paragraph("我们称之为“服务。”本政策适用于所有用户。", "zh")
    assert texts(segment(policy)) == ["我们称之为“服务。”", "本政策适用于所有用户。"]


def test_chinese_short_sentences_are_not_split_at_semicolons() -> None:
    policy = paragraph("我们收集手机号码；我们收集设备型号。", "zh")
    assert texts(segment(policy)) == ["我们收集手机号码；我们收集设备型号。"]


def test_chinese_long_sentences_are_split_at_semicolons() -> None:
    clause = "我们会在您使用记账功能时收集您主动录入的账单金额、分类、备注和时间信息，用于生成统计报表"
    text = "；".join([clause] * 4) + "。"
    assert len(text) > ZH_SEMICOLON_SPLIT_CHARS
    segments = segment(paragraph(text, "zh"))
    assert len(segments) == 4
    assert all(s.text.startswith("我们会在") for s in segments)
    assert segments[0].text.endswith("；") and segments[-1].text.endswith("。")


def test_very_long_sentences_are_cut_at_clause_punctuation() -> None:
    text = ", ".join(f"item number {i} of the data we may collect" for i in range(60)) + "."
    assert len(text) > MAX_SEGMENT_CHARS
    policy = paragraph(text)
    segments = segment(policy)
    assert len(segments) >= 3
    assert all(len(s.text) <= MAX_SEGMENT_CHARS for s in segments)
    assert all(s.text.endswith((",", ".")) for s in segments)
    assert_segments_index_text(policy, segments)


def test_unpunctuated_long_text_is_cut_anyway() -> None:
    policy = paragraph("x" * 2500)
    segments = segment(policy)
    assert [len(s.text) for s in segments] == [MAX_SEGMENT_CHARS, MAX_SEGMENT_CHARS, 500]


def test_long_list_items_are_split_but_stay_list_items() -> None:
    item = "We share your shipping address with the courier who delivers your order. " * 10
    policy = PolicyText(text=item.strip(), language="en", blocks=(Block("list_item", 0, len(item.strip())),))
    segments = segment(policy)
    assert len(segments) == 10
    assert {s.kind for s in segments} == {"list_item"}


def test_short_fragments_are_merged_into_a_neighbour() -> None:
    policy = paragraph("We keep logs. Ok. Then we delete them. A.")
    assert texts(segment(policy)) == ["We keep logs. Ok.", "Then we delete them. A."]


def test_lone_fragment_block_joins_the_next_block() -> None:
    policy = extract_text("Intro line for the notice\n\n1.\n\nWe never sell your data.")
    segments = segment(policy)
    assert texts(segments) == ["Intro line for the notice", "1.\n\nWe never sell your data."]
    assert_segments_index_text(policy, segments)


def test_english_abbreviations_do_not_end_sentences() -> None:
    policy = paragraph("See Sec. 3 for details. We follow e.g. the GDPR. Data is kept 2 yrs. and deleted.")
    assert texts(segment(policy)) == ["See Sec. 3 for details.", "We follow e.g. the GDPR.", "Data is kept 2 yrs. and deleted."]


def test_other_languages_use_the_english_pipeline() -> None:
    policy = paragraph("Wir speichern Daten. Danach löschen wir sie!", "other")
    assert texts(segment(policy)) == ["Wir speichern Daten.", "Danach löschen wir sie!"]


def test_chinese_paragraph_inside_english_policy_uses_chinese_rules() -> None:
    text = "We keep logs.\n\n我们保存日志。然后删除。"
    policy = PolicyText(text=text, language="en", blocks=(Block("paragraph", 0, 13), Block("paragraph", 15, len(text))))
    assert texts(segment(policy)) == ["We keep logs.", "我们保存日志。", "然后删除。"]


def test_policy_without_blocks_is_one_paragraph() -> None:
    policy = PolicyText(text="  We keep logs. We delete them.  ", language="en")
    segments = segment(policy)
    assert texts(segments) == ["We keep logs.", "We delete them."]
    assert_segments_index_text(policy, segments)


def test_bad_block_offsets_are_clamped_not_raised() -> None:
    policy = PolicyText(
        text="We keep logs. We delete them.",
        language="en",
        blocks=(Block("paragraph", -5, 14), Block("paragraph", 10, 500), Block("heading", 3, 1)),
    )
    assert_segments_index_text(policy, segment(policy))


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_empty_policy_has_no_segments(text: str) -> None:
    assert segment(PolicyText(text=text, language="other")) == []


def test_segment_many_matches_segment(english, chinese) -> None:
    policies = [english[0], chinese[0], paragraph("One. Two sentences here.")]
    assert segment_many(policies) == [segment(p) for p in policies]
    assert segment_many([]) == []


# ---------------------------------------------------------------- properties

_fast = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_pieces = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["。", "！", "？", "；", ". ", "! ", "Sec. ", "e.g. ", "\n\n", "一、总则", "我们收集信息", "We keep logs", "，", "x" * 300, "\ud800"]),
)
_languages = st.sampled_from(["zh", "en", "other"])


@_fast
@given(st.lists(_pieces, max_size=30).map("".join), _languages)
def test_segment_never_raises_on_arbitrary_text(text: str, language: str) -> None:
    policy = PolicyText(text=text, language=language)  # type: ignore[arg-type]
    assert_segments_index_text(policy, segment(policy))


@_fast
@given(st.lists(_pieces, max_size=30).map("".join), _languages)
def test_segment_offsets_index_extracted_text(text: str, language: str) -> None:
    for policy in (extract_text(text), extract_html(text)):
        forced = PolicyText(text=policy.text, language=language, blocks=policy.blocks)  # type: ignore[arg-type]
        assert_segments_index_text(forced, segment(forced))
