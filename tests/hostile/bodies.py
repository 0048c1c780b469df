"""Hostile bodies for the tests in this folder, built by code from text written for them.

None of these sentences come from a real policy. Every builder is deterministic (seeded
``random.Random``), so a failure can be reproduced byte for byte.
"""

from __future__ import annotations

import html
import io
import random
import zlib
from collections.abc import Iterator, Sequence

# ---------------------------------------------------------------- policy texts written for these tests

EN_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Privacy Policy of {name}", ("Last updated: 4 February 2026. This privacy policy applies to the {name} app and the {name} website.",)),
    ("What personal information we collect", (
        "We collect your email address, a display name and the password you choose when you sign up.",
        "We collect device information such as the device model, operating system version and an advertising identifier.",
    )),
    ("How we use personal information", (
        "We use your email address to run your account and to send you security alerts.",
        "We use device information to find crashes and to keep the service safe from abuse.",
    )),
    ("Sharing with third parties", (
        "We share personal information with our hosting provider Skyrack Ltd. only to store your data, and we do not sell personal information.",
    )),
    ("How long we keep your data", (
        "We keep your personal information for as long as your account is open and delete it within 60 days after you close your account.",
    )),
    ("Security", ("We protect personal information with encryption in transit and at rest and with strict access controls.",)),
    ("Your rights", (
        "You can access, correct or delete your personal information in the app settings, and you can close your account at any time.",
    )),
    ("Contact us", ("Write to our privacy officer at privacy@{slug}.example with any question about this privacy policy.",)),
)

ZH_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("{name}隐私政策", ("更新日期：2026年2月4日。本隐私政策适用于{name}应用及网站。",)),
    ("一、我们收集的个人信息", (
        "在您注册时，我们收集您的手机号码、昵称和密码。",
        "为保障运行安全，我们收集设备型号、操作系统版本和设备标识符等设备信息。",
    )),
    ("二、我们如何使用个人信息", ("我们使用您的手机号码登录账号并发送安全提醒，使用设备信息排查故障。",)),
    ("三、共享、转让和公开披露", ("我们仅与云存储服务商共享存储所需的个人信息，不会出售您的个人信息。",)),
    ("四、保存期限", ("我们在您的账号存续期间保存个人信息，注销账号后30日内删除。",)),
    ("五、安全措施", ("我们采用加密传输和访问控制等安全措施保护您的个人信息。",)),
    ("六、您的权利", ("您可以在设置中查阅、更正、删除您的个人信息，也可以注销账号。",)),
    ("七、联系我们", ("如对本隐私政策有疑问，请发送邮件至privacy@{slug}.example与我们联系。",)),
)

DE_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Datenschutzerklärung von {name}", ("Stand: 4. Februar 2026. Diese Erklärung gilt für die App und die Webseite von {name}.",)),
    ("Welche Daten wir erheben", (
        "Wir erheben Ihre E-Mail-Adresse, einen Anzeigenamen und das Passwort, das Sie bei der Anmeldung wählen.",
        "Wir speichern außerdem das Gerätemodell und die Version des Betriebssystems, um Fehler zu finden.",
    )),
    ("Wie lange wir Daten speichern", (
        "Wir speichern Ihre Daten, solange Ihr Konto besteht, und löschen sie 60 Tage nach der Kündigung.",
    )),
    ("Ihre Rechte", (
        "Sie haben das Recht auf Auskunft, Berichtigung und Löschung Ihrer Daten und können sich bei der Aufsichtsbehörde beschweren.",
        "Wenden Sie sich dafür an datenschutz@{slug}.example, wir antworten innerhalb von einem Monat.",
    )),
)

JA_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("{name} プライバシーポリシー", ("最終更新日：2026年2月4日。このポリシーは{name}のアプリとウェブサイトに適用されます。",)),
    ("収集する情報", (
        "登録のときに、メールアドレスとニックネームとパスワードをいただきます。",
        "サービスの安全のために、端末の機種やOSのバージョンなどの情報を集めます。",
    )),
    ("保存期間", ("アカウントがある間は情報を保存し、退会してから六十日以内に削除します。",)),
    ("お問い合わせ", ("このポリシーについてのご質問は privacy@{slug}.example までお送りください。",)),
)

AGREEMENT_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Terms of Service for {name}", ("These terms govern your use of {name}. By creating an account you accept them.",)),
    ("Your account", (
        "You must be at least sixteen years old to open an account, and you are responsible for what happens under it.",
        "Do not share your password, and tell us at once if you think someone else used your account.",
    )),
    ("Acceptable use", (
        "You agree not to upload unlawful material, not to attack the service and not to resell it without our written permission.",
    )),
    ("Payments and refunds", ("Subscriptions renew every month until you cancel; refunds follow the rules of the app store you paid through.",)),
    ("Liability", ("The service is provided as is. Our liability is limited to the fees you paid in the last twelve months.",)),
    ("Governing law", ("These terms are governed by the laws of the place where {name} Ltd. is registered.",)),
)


def _fill(s: str, name: str) -> str:
    slug = "".join(c for c in name.lower() if c.isascii() and c.isalnum()) or "svc"
    return s.replace("{name}", name).replace("{slug}", slug)


def sections_html(sections: Sequence[tuple[str, Sequence[str]]], name: str, lang: str = "en", body_extra: str = "") -> str:
    """A plain policy page: <h1> title, <h2> per section, <p> per paragraph (all escaped)."""
    parts = [f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">']
    parts.append(f"<title>{html.escape(_fill(sections[0][0], name))}</title></head><body><main>")
    for i, (heading, paragraphs) in enumerate(sections):
        tag = "h1" if i == 0 else "h2"
        parts.append(f"<{tag}>{html.escape(_fill(heading, name))}</{tag}>")
        parts.extend(f"<p>{html.escape(_fill(p, name))}</p>" for p in paragraphs)
    parts.append(body_extra)
    parts.append("</main></body></html>")
    return "\n".join(parts)


def sections_text(sections: Sequence[tuple[str, Sequence[str]]], name: str) -> str:
    lines: list[str] = []
    for heading, paragraphs in sections:
        lines += [_fill(heading, name), ""]
        for p in paragraphs:
            lines += [_fill(p, name), ""]
    return "\n".join(lines)


def english_policy(name: str = "Nimbus Pad", body_extra: str = "") -> str:
    return sections_html(EN_SECTIONS, name, "en", body_extra)


def chinese_policy(name: str = "青禾笔记") -> str:
    return sections_html(ZH_SECTIONS, name, "zh")


# ---------------------------------------------------------------- hostile bodies

def nested_html(depth: int, inner: str, tag: str = "div") -> str:
    """``inner`` wrapped in ``depth`` levels of ``tag``."""
    return f"<!DOCTYPE html><html><head><title>Deep</title></head><body>{f'<{tag}>' * depth}{inner}{f'</{tag}>' * depth}</body></html>"


def one_line_policy(size: int, name: str = "Longline") -> bytes:
    """An English policy page of about ``size`` bytes with no line break anywhere."""
    base = english_policy(name).replace("\n", " ")
    head, _, tail = base.partition("</main>")
    filler_parts: list[str] = []
    total = len(base)
    i = 0
    rng = random.Random(42)
    while total < size:
        # privacy-flavoured filler sentences with varied numbers, so the text is not one repeated string
        p = f"<p>Record {i}: we keep server log entry {rng.randrange(10**6)} for {rng.randrange(2, 90)} days to investigate abuse of accounts.</p>"
        filler_parts.append(p)
        total += len(p)
        i += 1
    return (head + "".join(filler_parts) + "</main>" + tail).encode("utf-8")


def sprinkle_invalid_utf8(text: str, every: int = 97, seed: int = 42) -> bytes:
    """UTF-8 bytes of ``text`` with invalid byte sequences inserted between characters."""
    rng = random.Random(seed)
    bad = (b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xf0\x9f\x98", b"\x80", b"\xed\xa0\x80", b"\xfe\xfe")
    out = bytearray()
    for i, ch in enumerate(text):
        out += ch.encode("utf-8")
        if i % every == every - 1 and ch == " ":
            out += rng.choice(bad)
    return bytes(out)


def random_binary(size: int, seed: int = 42) -> bytes:
    return random.Random(seed).randbytes(size)


def png_bytes() -> bytes:
    """A real 1x1 PNG."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"\x00\xff\x00\x00"
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def pdf_without_text(pages: int = 2) -> bytes:
    """A valid PDF whose pages have no text layer (as a scan without OCR would be)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": "Scanned privacy policy"})
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


#: Markup and template syntax that must stay inert text in every report format.
INJECTIONS: tuple[str, ...] = (
    "</script><script>window.PWNED=1</script>",
    '<img src=x onerror="window.PWNED=2">',
    '"><svg onload="window.PWNED=3">',
    "{{ 7*7 }} {% raw %}{{ config }}{% endraw %} ${7*7}",
    "<!-- --><iframe src=javascript:alert(4)></iframe>",
    "=HYPERLINK(\"http://evil.example\",\"x\")",
    "](javascript:alert(5)) <a href=\"javascript:alert(6)\">click</a>",
)


def injection_policy(name: str = "Trapdoor") -> str:
    """An English policy whose *text* (escaped in the HTML) carries markup and template syntax."""
    extra = "".join(
        f"<p>We use personal information as stated; note {i}: {html.escape(s)} and we keep it for 30 days.</p>"
        for i, s in enumerate(INJECTIONS)
    )
    return english_policy(name, body_extra=extra)


def stream_bytes(total: int, chunk: bytes) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = chunk[: total - sent]
        sent += len(piece)
        yield piece


def pdf_shared_stream(pages: int = 20, content_bytes: int = 5 * 1024 * 1024) -> bytes:
    """A small PDF (about 20 KB) whose ``pages`` pages share one Flate content stream of
    ``content_bytes`` bytes of text operators: cheap to send, costly to extract naively."""
    ops = b"BT /F1 9 Tf 20 800 Td (We collect your personal information.) Tj ET\n"
    content = zlib.compress(ops * (content_bytes // len(ops)), 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % (5 + i) for i in range(pages)) + b"] /Count %d >>" % pages,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    objects += [
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>"
    ] * pages
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
