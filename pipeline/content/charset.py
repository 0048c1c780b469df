"""Decode fetched bodies to text, and tell what kind of body it is.

httpx ignores ``<meta charset>`` and the label ``gb2312`` loses GBK-only characters
(镕, 喆), so bodies are decoded here, in this order::

    1. a byte-order mark (UTF-8, UTF-16, UTF-32)
    2. the Content-Type charset, if the body decodes strictly with it
    3. a <meta charset> / <meta http-equiv="Content-Type"> in the first 4 KB, if it decodes strictly
    4. UTF-8, if the body is valid UTF-8
    5. charset-normalizer's best guess
    6. UTF-8 with errors="replace" (never raises)

A header that lies (GBK bytes labelled ``charset=utf-8``) fails the strict decode and
falls through to the meta tag and detection. A weak header (``iso-8859-1``, ``us-ascii``,
which servers send by default) loses to a meta tag that decodes strictly. The labels
gb2312, gbk, x-gbk and gb_2312-80 are decoded as gb18030, their superset.

    decode_body(b"<meta charset=gbk>\\xd6\\xec\\xe9\\x46", None)  # ("<meta charset=gbk>朱镕", "gb18030")
    sniff_kind(b"%PDF-1.7 ...", "application/pdf")                  # "pdf"
"""

from __future__ import annotations

import codecs
import re
from typing import Literal

import charset_normalizer

BodyKind = Literal["html", "text", "pdf", "binary"]

META_SCAN_BYTES = 4096

# label (lower-case) -> Python codec name, for labels Python lacks or decodes too narrowly.
_ALIASES: dict[str, str] = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "gb_2312-80": "gb18030",
    "gb_2312": "gb18030",
    "csgb2312": "gb18030",
    "chinese": "gb18030",
    "iso-ir-58": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "windows-936": "gb18030",
    "euc-cn": "gb18030",
    "big5": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "x-sjis": "shift_jis",
    "x-euc-jp": "euc_jp",
    # WHATWG: latin-1 and ascii labels mean windows-1252
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
}
_MULTIBYTE = {"gb18030", "big5hkscs", "big5", "cp950", "shift_jis", "cp932", "euc_jp", "euc_kr", "cp949",
              "iso2022_jp", "iso2022_kr", "hz", "utf-16", "utf-32"}
# Labels servers send by default without knowing; a meta tag beats them.
_WEAK = {"cp1252"}

_NOT_CHARSETS = {"undefined"}
_GB_CODECS = {"gbk", "gb18030", "gb2312"}
MAX_PRIVATE_USE_SHARE = 0.02  # of the CJK-range characters; real Chinese text has almost none
# tried, in order, when every declared charset failed (e.g. Big5 bytes labelled gbk)
_CJK_FALLBACKS = ("big5hkscs", "gb18030")

_BOMS: tuple[tuple[bytes, str, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "utf-32-le"),  # before UTF-16 LE: it starts the same
    (codecs.BOM_UTF32_BE, "utf-32-be", "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8", "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16-be"),
)

_CT_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:+\-]+)""", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:+\-]+)""", re.IGNORECASE)


def normalize_label(label: str | None) -> str | None:
    """The Python codec for a charset label, or None if the label is unknown."""
    if not label:
        return None
    key = label.strip().strip("\"'").lower()
    key = _ALIASES.get(key, key)
    try:
        info = codecs.lookup(key)
    except LookupError:
        return None
    if info.name in _NOT_CHARSETS or not getattr(info, "_is_text_encoding", True):
        return None  # "undefined", "rot13", "base64": Python codecs, not charsets a page can declare
    return info.name


def charset_from_content_type(content_type: str | None) -> str | None:
    """The raw charset label of a Content-Type header value, if any."""
    if not content_type:
        return None
    match = _CT_CHARSET.search(content_type)
    return match.group(1) if match else None


def charset_from_meta(body: bytes) -> str | None:
    """The raw charset label of a <meta> tag in the first 4 KB, if any."""
    match = _META_CHARSET.search(body[:META_SCAN_BYTES])
    if not match:
        return None
    return match.group(1).decode("ascii", errors="ignore") or None


def _strict(body: bytes, codec: str | None) -> str | None:
    if codec is None:
        return None
    try:
        text = body.decode(codec)
    except (UnicodeError, LookupError):
        return None
    if codec in _GB_CODECS and _private_use_share(text) > MAX_PRIVATE_USE_SHARE:
        return None  # GB18030 decodes nearly any bytes: private-use characters say it was the wrong guess
    return text


def _private_use_share(text: str) -> float:
    wide = sum(1 for ch in text if ord(ch) >= 0x2E80)
    private = sum(1 for ch in text if 0xE000 <= ord(ch) <= 0xF8FF)
    return private / wide if wide else 0.0


def _detect(body: bytes) -> tuple[str, str] | None:
    best = charset_normalizer.from_bytes(body[:200_000]).best()
    if best is None or not best.encoding:
        return None
    codec = normalize_label(best.encoding)
    text = _strict(body, codec)
    if codec is None or text is None:
        return None
    return text, codec


def decode_body(body: bytes, content_type: str | None) -> tuple[str, str]:
    """Decode ``body`` to text; return ``(text, codec used)``. Never raises."""
    for bom, codec, name in _BOMS:
        if body.startswith(bom):
            text = _strict(body[len(bom):], codec)
            if text is not None:
                return text, name
            break

    header = normalize_label(charset_from_content_type(content_type))
    meta = normalize_label(charset_from_meta(body))
    if meta is not None and meta.startswith(("utf-16", "utf-32")):
        meta = "utf-8"  # WHATWG: a meta tag readable as ASCII cannot mean UTF-16
    has_high = any(b >= 0x80 for b in body)

    weak = header is not None and header in _WEAK and has_high
    # a default latin-1 header loses to a meta tag, to valid UTF-8 and to detection
    order = [meta, "utf-8"] if weak else [header, meta, "utf-8"]
    if has_high and any(c in _GB_CODECS for c in (header, meta)):
        order += list(_CJK_FALLBACKS)
    seen: set[str] = set()
    for codec in order:
        if codec is None or codec in seen:
            continue
        seen.add(codec)
        text = _strict(body, codec)
        if text is not None:
            return text, codec

    detected = _detect(body) if has_high else None
    # a weak header, or a declared UTF-8 that is only slightly broken, loses only to a multi-byte (CJK) guess:
    # a single-byte guess (cp850...) would turn each bad byte into plausible-looking junk letters
    says_utf8 = "utf-8" in (header, meta)
    if detected is not None and ((not weak and not says_utf8) or detected[1] in _MULTIBYTE):
        return detected
    if weak and header is not None:
        text = _strict(body, header)
        if text is not None:
            return text, header
    return body.decode("utf-8", errors="replace"), "utf-8"


# ---------------------------------------------------------------- sniffing

_BINARY_MAGIC: tuple[bytes, ...] = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",  # JPEG
    b"GIF87a",
    b"GIF89a",
    b"BM",  # BMP (checked with NUL bytes below too)
    b"PK\x03\x04",  # zip, docx, apk
    b"\x1f\x8b",  # gzip
    b"7z\xbc\xaf\x27\x1c",
    b"Rar!",
    b"\x00\x00\x01\x00",  # ICO
    b"OggS",
    b"ID3",  # MP3
    b"\x7fELF",
    b"MZ",  # Windows executables
    b"wOFF",
    b"wOF2",
)
_HTML_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|meta|title|script|div|p|!--)[\s>/]",
    re.IGNORECASE | re.DOTALL,
)
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_BINARY_TYPES = ("image/", "audio/", "video/", "font/", "application/zip", "application/octet-stream",
                 "application/x-", "application/vnd.", "application/msword")
_CONTROL = set(range(0, 9)) | {11} | set(range(14, 32))


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def sniff_kind(body: bytes, content_type: str | None) -> BodyKind:
    """Say whether ``body`` is HTML, plain text, a PDF, or binary we cannot read."""
    head = body[:1024]
    if b"%PDF-" in head:
        return "pdf"
    if any(head.startswith(bom) for bom, _, _ in _BOMS):
        media = _media_type(content_type)
        return "html" if media in _HTML_TYPES or b"<\x00h\x00t\x00m\x00l" in head.lower() else "text"
    if head.startswith(b"RIFF") and head[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return "binary"
    if any(head.startswith(magic) for magic in _BINARY_MAGIC) and not _HTML_START.match(head):
        # "BM"/"MZ"/"ID3" could begin a text; insist on control bytes for those
        if head[:2] not in (b"BM", b"MZ") and not head.startswith(b"ID3"):
            return "binary"
        if any(b in _CONTROL for b in head):
            return "binary"
    if b"\x00" in head and not _HTML_START.match(head):
        return "binary"  # a stray NUL inside a page that starts as HTML does not make it binary
    media = _media_type(content_type)
    if media.startswith(("image/", "audio/", "video/", "font/")):
        return "binary"
    if media in _HTML_TYPES:
        return "html"
    looks_html = bool(_HTML_START.match(head))
    if looks_html:
        return "html"  # text/plain or octet-stream that is plainly HTML
    if media == "application/pdf":
        return "binary"  # labelled PDF without the magic: not something we can read
    control = sum(1 for b in head if b in _CONTROL)
    if control > max(2, len(head) // 100):
        return "binary"
    if media.startswith(_BINARY_TYPES) and media != "application/octet-stream":
        return "binary"
    return "text"
