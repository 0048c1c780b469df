"""pipeline.grade.zhwords: jieba's tokens at jieba-rs speed (the classifier features depend on them)."""

from __future__ import annotations

import csv
import logging

import jieba
import pytest

from pipeline.grade.features import normalise
from pipeline.grade.zhwords import cut

from .conftest import shared_data_or_skip

jieba.setLogLevel(logging.WARNING)

# Self-written sentences with the mixtures that matter: URLs, e-mail, versions, decimals,
# percentages, full-width punctuation, whitespace runs, Latin words inside Chinese.
SENTENCES = [
    "我们会收集您的设备信息和位置信息，用于提供服务。",
    "请访问 https://example.test/privacy/v2.1 查看最新版本（更新于 2024-05-01）。",
    "如有疑问，请发送邮件至 privacy@example.test 或拨打 400-000-0000。",
    "本应用的 SDK 版本为 3.5.2，覆盖率约 99.5% 的设备。",
    "copyright © 2019-present 示例科技有限公司 all rights reserved",
    "我们不会向第三方出售您的个人信息；除非获得您的单独同意。",
    "第一条\t总则\r\n第二条  定义",
    "App 会读取 IMEI、MAC地址、Android ID 等设备标识符。",
]


@pytest.mark.parametrize("text", SENTENCES)
def test_same_tokens_as_jieba(text: str) -> None:
    for t in (text, normalise(text)):
        assert cut(t) == jieba.lcut(t)


def test_tokens_cover_the_text() -> None:
    for text in SENTENCES:
        assert "".join(cut(text)) == text


def test_empty_and_non_chinese() -> None:
    assert cut("") == []
    assert cut("only ascii, v1.2 50%") == jieba.lcut("only ascii, v1.2 50%")


def test_agrees_with_jieba_on_the_real_chinese_corpus() -> None:
    path = shared_data_or_skip("viodroid-finder-zh", "dataset", "labelled_dataset.csv")
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[1:]
    texts = [normalise(r[0]) for r in rows if r and r[0].strip()]
    assert len(texts) > 4000
    same = sum(cut(t) == jieba.lcut(t) for t in texts)
    assert same / len(texts) >= 0.99, f"only {same} of {len(texts)} sentences tokenised as jieba does"
