"""pipeline.content.charset: decoding bodies in the order BOM, header, meta, UTF-8, detection; sniffing kinds."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.content.charset import decode_body, normalize_label, sniff_kind

NAMES = "朱镕基和陶喆阅读了本隐私政策"  # 镕 and 喆 are in GBK but not in GB2312
POLICY_ZH = "本隐私政策说明我们如何收集、使用、存储和保护您的个人信息，以及您享有的权利。" * 4


def test_bom_utf8_wins_over_a_lying_header() -> None:
    text, enc = decode_body(codecs.BOM_UTF8 + NAMES.encode("utf-8"), "text/html; charset=gbk")
    assert (text, enc) == (NAMES, "utf-8")


@pytest.mark.parametrize("codec", ["utf-16", "utf-32"])
def test_bom_utf16_and_utf32_are_decoded_without_the_bom(codec: str) -> None:
    text, enc = decode_body(NAMES.encode(codec), None)
    assert text == NAMES
    assert enc.startswith(codec)


def test_content_type_charset_is_used_when_it_decodes() -> None:
    assert decode_body(NAMES.encode("gb18030"), "text/html; charset=GB18030") == (NAMES, "gb18030")


@pytest.mark.parametrize("label", ["gb2312", "GBK", "x-gbk", "gb_2312-80", "GB2312"])
def test_gb_labels_decode_as_gb18030_keeping_gbk_only_characters(label: str) -> None:
    text, enc = decode_body(NAMES.encode("gbk"), f"text/html; charset={label}")
    assert enc == "gb18030"
    assert "镕" in text and "喆" in text


def test_meta_charset_in_first_bytes_is_used_without_header() -> None:
    body = b'<html><head><meta charset="gb2312"><title>t</title></head><body>' + NAMES.encode("gbk") + b"</body></html>"
    text, enc = decode_body(body, "text/html")
    assert enc == "gb18030"
    assert NAMES in text


def test_meta_http_equiv_content_type_is_used() -> None:
    head = b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=gbk"></head><body>'
    text, enc = decode_body(head + NAMES.encode("gbk"), None)
    assert (NAMES in text, enc) == (True, "gb18030")


def test_gbk_bytes_with_lying_utf8_header_fall_back_to_meta() -> None:
    body = b"<meta charset=gbk>" + NAMES.encode("gbk")
    text, enc = decode_body(body, "text/html; charset=utf-8")
    assert enc == "gb18030"
    assert NAMES in text


def test_gbk_bytes_with_lying_utf8_header_and_no_meta_are_detected() -> None:
    text, enc = decode_body((NAMES + POLICY_ZH).encode("gbk"), "text/html; charset=utf-8")
    assert enc == "gb18030"
    assert text == NAMES + POLICY_ZH


def test_default_latin1_header_loses_to_meta() -> None:
    body = b"<meta charset=utf-8>" + NAMES.encode("utf-8")
    text, enc = decode_body(body, "text/html; charset=ISO-8859-1")
    assert (NAMES in text, enc) == (True, "utf-8")


def test_real_latin1_text_with_latin1_header_stays_latin1() -> None:
    text, enc = decode_body("Café, naïve résumé: privacy notice".encode("latin-1"), "text/plain; charset=iso-8859-1")
    assert text == "Café, naïve résumé: privacy notice"
    assert enc == "cp1252"


def test_undeclared_utf8_is_decoded_as_utf8() -> None:
    assert decode_body(NAMES.encode("utf-8"), None) == (NAMES, "utf-8")


def test_undeclared_gb18030_is_detected() -> None:
    text, enc = decode_body(POLICY_ZH.encode("gb18030"), None)
    assert (text, enc) == (POLICY_ZH, "gb18030")


def test_unknown_label_is_ignored() -> None:
    assert decode_body(NAMES.encode("utf-8"), "text/html; charset=x-no-such-charset") == (NAMES, "utf-8")


def test_empty_body_decodes_to_empty_text() -> None:
    assert decode_body(b"", None) == ("", "utf-8")


def test_normalize_label_maps_gbk_family_and_rejects_unknown() -> None:
    assert normalize_label("x-gbk") == "gb18030"
    assert normalize_label("UTF8") == "utf-8"
    assert normalize_label("bogus-charset") is None


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=600),
    content_type=st.one_of(st.none(), st.sampled_from(["text/html; charset=utf-8", "text/html; charset=gbk",
                                                       "text/plain; charset=utf-16", "text/html; charset=\"", "x"])),
)
def test_decode_body_never_raises(body: bytes, content_type: str | None) -> None:
    text, enc = decode_body(body, content_type)
    assert isinstance(text, str)
    assert codecs.lookup(enc)


@pytest.mark.parametrize(
    ("body", "content_type", "kind"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "application/pdf", "pdf"),
        (b"%PDF-1.4 body", "application/octet-stream", "pdf"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "text/html", "binary"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", None, "binary"),
        (b"GIF89a\x01\x00", "image/gif", "binary"),
        (b"PK\x03\x04\x14\x00\x06\x00", "application/zip", "binary"),
        (b"hello\x00world\x00\x00", "text/plain", "binary"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", None, "html"),
        (b"  \n<html lang=zh>", "text/plain", "html"),
        (b"<p>fragment</p>", "text/html; charset=utf-8", "html"),
        ("隐私政策 plain text".encode(), "text/plain; charset=utf-8", "text"),
        (b"just words", None, "text"),
        (b"not really a pdf", "application/pdf", "binary"),
        (b"text", "image/png", "binary"),
    ],
)
def test_sniff_kind(body: bytes, content_type: str | None, kind: str) -> None:
    assert sniff_kind(body, content_type) == kind


def test_sniff_kind_utf16_text_with_bom_is_not_binary() -> None:
    assert sniff_kind("<html>隐私</html>".encode("utf-16"), "text/html") == "html"
    assert sniff_kind("隐私 text".encode("utf-16"), None) == "text"
