"""The held-out yardstick: CA4P-style span annotations turned into criterion levels.

The texts and spans here are written for the tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.train.span_truth import load_span_truth, policy_text, span_levels

TEXT = (
    "我们收集您的手机号码，用于注册登录。\n"
    "我们收集您的位置信息，用于推荐附近门店。\n"
    "我们读取您的相册，用于上传头像。\n"
    "我们会与物流公司共享您的收货地址，以便配送商品。\n"
)


def span(text: str, piece: str, kind: str, nth: int = 0) -> dict:
    start = -1
    for _ in range(nth + 1):
        start = text.index(piece, start + 1)
    return {"classId": kind, "start": start, "end": start + len(piece), "text": piece}


def spans_for(text: str, tied: int) -> list[dict]:
    items = ["手机号码", "位置信息", "相册"]
    purposes = ["注册登录", "推荐附近门店", "上传头像"]
    out = [{"classId": "", "start": 0, "end": 5, "text": text[:5]}]  # a sentence unit carries no label
    for item, why in list(zip(items, purposes))[:tied]:
        out += [span(text, item, "e_21"), span(text, why, "e_27")]
    return out


def test_three_sentences_tying_items_to_purposes_make_purpose_full() -> None:
    assert span_levels(TEXT, spans_for(TEXT, 3))["purpose"] == "full"
    assert span_levels(TEXT, spans_for(TEXT, 2))["purpose"] == "partial"
    assert span_levels(TEXT, [span(TEXT, "注册登录", "e_27")])["purpose"] == "partial"  # a purpose, tied to no item
    assert span_levels(TEXT, [])["purpose"] == "none"


def test_sharing_is_full_only_with_receiver_data_and_purpose_in_one_sentence() -> None:
    parts = [span(TEXT, "共享", "e_23"), span(TEXT, "物流公司", "e_26"), span(TEXT, "收货地址", "e_21")]
    assert span_levels(TEXT, parts)["sharing"] == "partial"
    assert span_levels(TEXT, parts + [span(TEXT, "配送商品", "e_27")])["sharing"] == "full"


def test_collected_counts_distinct_items() -> None:
    text = "我们收集" + "、".join(f"项目{i}" for i in range(9)) + "。"
    spans = [span(text, f"项目{i}", "e_21") for i in range(9)]
    assert span_levels(text, spans)["collected"] == "full"
    assert span_levels(text, spans[:7] + spans[:7])["collected"] == "partial"  # repeats are one item
    listed = "我们收集" + "、".join(f"项目{i}" for i in range(8)) + "。"
    whole_list = [{"classId": "e_21", "start": 4, "end": len(listed) - 1, "text": listed[4:-1]}]
    assert span_levels(listed, whole_list)["collected"] == "full"  # one span listing eight items


def test_offsets_refer_to_the_unescaped_pre_text() -> None:
    raw = "<html><body><pre id='s1v1'>Apkid:x\n我们&amp;你们收集手机号码</pre></body></html>"
    text = policy_text(raw)
    assert text == "Apkid:x\n我们&你们收集手机号码"
    assert text[text.index("手机号码"):][:4] == "手机号码"


def test_a_malformed_annotation_file_is_named(tmp_path: Path) -> None:
    root = tmp_path / "ca4p-483"
    (root / "annotation_data").mkdir(parents=True)
    (root / "raw_data").mkdir()
    (root / "raw_data" / "0001.html").write_text(f"<pre>{TEXT}</pre>", encoding="utf-8")
    (root / "annotation_data" / "0001.json").write_text(json.dumps(spans_for(TEXT, 3)), encoding="utf-8")
    assert load_span_truth(tmp_path)["0001"]["purpose"] == "full"
    (root / "annotation_data" / "0002.json").write_text("[{\"classId\": ", encoding="utf-8")
    with pytest.raises(ValueError, match="0002.json"):
        load_span_truth(tmp_path)
    with pytest.raises(FileNotFoundError, match="CA4P-483"):
        load_span_truth(tmp_path / "elsewhere")
