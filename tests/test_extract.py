"""Extract stage: checklists on self-written pages, structure, offsets, and robustness."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.read.blocks import BLOCK_SEPARATOR, heading_level_of_line, normalize_space
from pipeline.read.extract import extract, extract_html, extract_pdf, extract_text
from pipeline.read.language import detect_language
from pipeline.records import PolicyText

FIXTURES = Path(__file__).parent / "fixtures" / "read"


def read_fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def english() -> PolicyText:
    return extract_html(read_fixture("english_policy.html"))


@pytest.fixture(scope="module")
def chinese() -> PolicyText:
    return extract_html(read_fixture("chinese_policy.html"))


def block_texts(policy: PolicyText, kind: str | None = None) -> list[str]:
    return [policy.text[b.start : b.end] for b in policy.blocks if kind is None or b.kind == kind]


def assert_blocks_index_text(policy: PolicyText) -> None:
    expected = BLOCK_SEPARATOR.join(block_texts(policy))
    assert policy.text == expected
    for block in policy.blocks:
        piece = policy.text[block.start : block.end]
        assert piece and piece == piece.strip()
        assert "\n" not in piece
    assert all(a.end < b.start for a, b in zip(policy.blocks, policy.blocks[1:]))


# ---------------------------------------------------------------- English checklist


@pytest.mark.parametrize(
    "phrase",
    [
        "After you delete your account, we erase your data within 30 days",  # the retention sentence
        "Your email address, when you create an account.",
        "Our website sets a single cookie to keep you signed in.",  # the policy's own cookie section
        "Last updated: 3 March 2025",  # the document's <header> inside <article>
        "Policy version 4.2",  # the document's <footer> inside <article>
        "privacy@lumenfold.example",
    ],
)
def test_extract_html_keeps_policy_text(english: PolicyText, phrase: str) -> None:
    assert phrase in english.text


@pytest.mark.parametrize(
    "phrase",
    [
        "Banner text that must be dropped",  # cookie banner
        "Accept all cookies",  # consent button
        "Pricing Menu Entry",  # nav menu
        "Lumenfold Home Link",  # page header
        "Legal Crumb",  # breadcrumbs
        "Related Sidebar Links",  # aside
        "Share on Twitter",  # share widget
        "Skip to main content",  # skip link
        "Subscribe to the newsletter",  # form
        "Copyright Lumenfold footer text",  # page footer
        "SCRIPT TEXT MUST NOT APPEAR",
        "noscript text",
        "cookie-banner",  # CSS from <style>
    ],
)
def test_extract_html_drops_boilerplate(english: PolicyText, phrase: str) -> None:
    assert phrase not in english.text


def test_extract_html_keeps_headings_with_levels(english: PolicyText) -> None:
    headings = {english.text[b.start : b.end]: b.level for b in english.blocks if b.kind == "heading"}
    assert headings == {
        "Privacy Policy": 1,
        "Information we collect": 2,
        "How long we keep it": 2,
        "Cookies on our website": 3,
        "Contact": 2,
    }


def test_extract_html_keeps_list_items(english: PolicyText) -> None:
    assert block_texts(english, "list_item") == [
        "Your email address, when you create an account.",
        "The notes you write, which we store so you can sync them.",
        "Basic device data such as the app version and crash reports.",
    ]


def test_extract_html_title_comes_from_title_tag(english: PolicyText) -> None:
    assert english.title == "Privacy Policy | Lumenfold Notes"


def test_extract_html_title_falls_back_to_first_h1() -> None:
    policy = extract_html("<body><h1>Data  Notice</h1><p>We keep logs for a week.</p></body>")
    assert policy.title == "Data Notice"


def test_extract_html_language_is_detected(english: PolicyText, chinese: PolicyText) -> None:
    assert (english.language, chinese.language) == ("en", "zh")


def test_extract_html_br_separates_paragraphs(english: PolicyText) -> None:
    assert "Questions about this policy can be sent to privacy@lumenfold.example." in block_texts(english)
    assert "We answer within two weeks." in block_texts(english)


def test_extract_html_collapses_whitespace_inside_blocks(english: PolicyText) -> None:
    assert "we erase your data within 30 days, except backups" in english.text
    assert "  " not in english.text and "\u00a0" not in english.text


def test_fixture_blocks_index_text(english: PolicyText, chinese: PolicyText) -> None:
    assert_blocks_index_text(english)
    assert_blocks_index_text(chinese)


# ---------------------------------------------------------------- Chinese checklist


@pytest.mark.parametrize(
    "phrase",
    [
        "您注销账号后，我们将在十五个工作日内删除或匿名化处理您的个人信息。",  # retention
        "账单记录：您主动录入的收支信息，用于生成统计报表。",
        "更新日期：2025年3月3日",
    ],
)
def test_extract_html_keeps_chinese_policy_text(chinese: PolicyText, phrase: str) -> None:
    assert phrase in chinese.text


@pytest.mark.parametrize("phrase", ["导航链接", "Cookie横幅文字", "法律面包屑", "分享到微信", "页脚文字", "脚本文字"])
def test_extract_html_drops_chinese_boilerplate(chinese: PolicyText, phrase: str) -> None:
    assert phrase not in chinese.text


def test_extract_html_inserts_no_space_between_chinese_characters(chinese: PolicyText) -> None:
    # the source wraps this sentence with a newline and indentation between 和 and 登录
    assert "用于创建账号和登录验证。" in chinese.text


def test_extract_html_turns_nbsp_into_a_space(chinese: PolicyText) -> None:
    assert "请发送邮件至 privacy@qinghe.example，" in chinese.text


def test_extract_html_bold_numbered_line_becomes_heading(chinese: PolicyText) -> None:
    headings = block_texts(chinese, "heading")
    assert "一、我们如何收集和使用您的个人信息" in headings
    assert "二、我们如何存储您的个人信息" in headings


# ---------------------------------------------------------------- structure rules


def test_extract_html_prefers_main_when_it_holds_most_text() -> None:
    policy_text = "We keep access logs for fourteen days and then delete them. " * 10
    html = (
        "<body><div class='top'>Unlabelled promo strip about our summer sale</div>"
        f"<main><p>{policy_text}</p></main><div>Unlabelled list of partner shops</div></body>"
    )
    policy = extract_html(html)
    assert policy.text == policy_text.strip()


def test_extract_html_keeps_everything_when_article_is_small() -> None:
    html = (
        "<body><p>" + "We never sell personal data to brokers. " * 10 + "</p>"
        "<article><p>A short teaser article.</p></article></body>"
    )
    policy = extract_html(html)
    assert "We never sell personal data to brokers." in policy.text
    assert "A short teaser article." in policy.text


def test_extract_html_keeps_page_wrapped_in_form_or_sidebar_layout() -> None:
    body = "<p>" + "We retain invoices for ten years as tax law requires. " * 5 + "</p>"
    html = f"<body><form id='aspnetForm'><div class='with-sidebar'>{body}</div></form></body>"
    assert "We retain invoices for ten years" in extract_html(html).text


def test_extract_html_keeps_policy_section_named_cookies() -> None:
    html = "<section id='cookies' class='cookies'><h2>Cookies</h2><p>We set one session cookie.</p></section>"
    assert "We set one session cookie." in extract_html(html).text


@pytest.mark.parametrize(
    "attrs",
    [
        'class="onetrust-banner-sdk"',
        'id="CybotCookiebotDialog"',
        'class="cookie-consent"',
        'role="navigation"',
        'aria-label="Breadcrumb"',
        'class="main-menu"',
        'class="sr-only"',
    ],
)
def test_extract_html_drops_elements_marked_by_attributes(attrs: str) -> None:
    html = f"<body><div {attrs}>Widget words here</div><p>{'We keep logs for a week. ' * 4}</p></body>"
    policy = extract_html(html)
    assert "Widget words" not in policy.text
    assert "We keep logs for a week." in policy.text


def test_extract_html_pre_lines_become_blocks() -> None:
    html = "<article><pre>Apkid:com.example.app\n==========\n一、总则\n我们重视您的隐私。\n\n我们不会出售您的信息。</pre></article>"
    policy = extract_html(html)
    assert block_texts(policy) == ["Apkid:com.example.app", "一、总则", "我们重视您的隐私。", "我们不会出售您的信息。"]
    assert block_texts(policy, "heading") == ["Apkid:com.example.app", "一、总则"]


def test_extract_html_segment_marker_separates_blocks() -> None:
    policy = extract_html("Intro sentence here. <br> <br>|||Second part starts here.")
    assert block_texts(policy) == ["Intro sentence here.", "Second part starts here."]
    assert "|||" not in policy.text


def test_extract_html_table_cells_are_spaced() -> None:
    policy = extract_html("<table><tr><td>Email</td><td>Sign-in</td></tr></table>")
    assert policy.text == "Email Sign-in"


def test_extract_html_dash_paragraph_becomes_list_item() -> None:
    policy = extract_html("<p>We collect:</p><p>- your name and email address</p>")
    assert block_texts(policy, "list_item") == ["your name and email address"]


@pytest.mark.parametrize("html", ["", "   \n", "<html></html>", "<!-- only a comment -->", "<script>x()</script>"])
def test_extract_html_empty_pages_give_empty_text(html: str) -> None:
    policy = extract_html(html)
    assert policy.text == "" and policy.language == "other" and policy.blocks == ()


def test_extract_html_survives_10000_levels_of_nesting() -> None:
    html = "<div>" * 10_000 + "We keep data for one year." + "</div>" * 10_000
    policy = extract_html(html)
    assert policy.text == "We keep data for one year."
    unclosed = extract_html("<span><b>" * 5_000 + "Deep inline text.")
    assert unclosed.text == "Deep inline text."


def test_extract_html_survives_invalid_markup() -> None:
    html = "<p>Open <b>bold <i>both</p></b> text</i><li>item<td>cell</table></ul>\x00<<<>>>&bogus;"
    policy = extract_html(html)
    assert "Open bold both" in policy.text
    assert "\x00" not in policy.text


# ---------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  a \t\n b  ", "a b"),
        ("a\u00a0b\u3000c", "a b c"),
        ("个人\n   信息", "个人信息"),
        ("个人 信息", "个人 信息"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("ctrl\x00\x07chars", "ctrlchars"),
    ],
)
def test_normalize_space(raw: str, expected: str) -> None:
    assert normalize_space(raw) == expected


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("一、提示条款", 2),
        ("第三条 存储期限", 2),
        ("（二）共享", 3),
        ("2.1 Retention", 4),
        ("INFORMATION WE COLLECT", 2),
        ("Use of Cookies", 3),
        ("4、我们会在必要时更新本政策。", 0),
        ("3.5 million users trust us", 0),
        ("We keep logs", 0),
    ],
)
def test_heading_level_of_line(line: str, level: int) -> None:
    assert heading_level_of_line(line) == level


# ---------------------------------------------------------------- Markdown and plain text


@pytest.fixture(scope="module")
def markdown() -> PolicyText:
    return extract_text(read_fixture("policy.md"))


def test_extract_text_reads_markdown_headings(markdown: PolicyText) -> None:
    headings = [(markdown.text[b.start : b.end], b.level) for b in markdown.blocks if b.kind == "heading"]
    assert headings == [("Lumenfold Notes Privacy Notice", 1), ("What we collect", 2), ("Retention", 2)]
    assert markdown.title == "Lumenfold Notes Privacy Notice"


def test_extract_text_reads_markdown_list_items(markdown: PolicyText) -> None:
    assert block_texts(markdown, "list_item") == [
        "Your email address, used for sign-in.",
        "The notes you write, stored so they can sync.",
        "Crash reports, if you turn them on.",
    ]


def test_extract_text_strips_markdown_syntax_and_keeps_link_text(markdown: PolicyText) -> None:
    assert "Last updated: 3 March 2025. See the previous version for changes." in markdown.text
    assert "We collect only what the app needs to work:" in markdown.text
    assert "https://example.com/old" not in markdown.text
    assert "**" not in markdown.text and "---" not in markdown.text
    assert "Contact: privacy@lumenfold.example" in markdown.text


def test_extract_text_joins_hard_wrapped_lines(markdown: PolicyText) -> None:
    assert "Backups expire after 90 days and are then overwritten." in markdown.text


def test_extract_text_keeps_chinese_lines_apart() -> None:
    policy = extract_text("一、总则\n我们重视您的隐私。\n我们不会出售您的个人信息。\n")
    assert block_texts(policy) == ["一、总则", "我们重视您的隐私。", "我们不会出售您的个人信息。"]
    assert policy.language == "zh"
    assert_blocks_index_text(policy)


def test_extract_text_keeps_snake_case_and_lone_asterisks() -> None:
    policy = extract_text("The field user_id is kept. Prices * 2 apply.")
    assert policy.text == "The field user_id is kept. Prices * 2 apply."


@pytest.mark.parametrize("text", ["", "\n\n  \n", "----", "* * *"])
def test_extract_text_empty_gives_empty_text(text: str) -> None:
    assert extract_text(text).text == ""


# ---------------------------------------------------------------- PDF


def make_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with a Helvetica text layer, built by hand."""
    shown = " ".join(f"({line}) '" for line in lines)
    content = f"BT /F1 11 Tf 72 740 Td 14 TL {shown} ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def test_extract_pdf_reads_the_text_layer() -> None:
    data = make_pdf(["Privacy Policy", "We keep server logs for thirty days.", "Then they are deleted."])
    policy = extract_pdf(data)
    assert "We keep server logs for thirty days." in policy.text
    assert policy.language == "en"
    assert_blocks_index_text(policy)


def test_extract_pdf_without_text_layer_is_empty() -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    buffer = io.BytesIO()
    writer.write(buffer)
    assert extract_pdf(buffer.getvalue()) == PolicyText(text="", language="other")


@pytest.mark.parametrize("data", [b"", b"%PDF-1.4\ngarbage", b"not a pdf at all", make_pdf(["x"])[:200]])
def test_extract_pdf_broken_files_give_empty_text(data: bytes) -> None:
    assert extract_pdf(data).text == ""


# ---------------------------------------------------------------- dispatch


def test_extract_dispatches_on_content_type() -> None:
    html = "<h1>Notice</h1><p>We keep logs for a week.</p>"
    assert extract(html, "text/html; charset=utf-8").blocks[0].kind == "heading"
    assert extract("# Notice\n\nWe keep logs.", "text/markdown").text == "Notice\n\nWe keep logs."
    assert extract("<h1>x</h1>\n# Notice", "text/plain").blocks[-1].kind == "heading"  # read as text
    pdf = make_pdf(["We keep logs for a week."])
    assert extract(pdf, "application/pdf").text == "We keep logs for a week."
    assert extract(pdf).text == "We keep logs for a week."  # sniffed


def test_extract_sniffs_html_and_decodes_other_bytes() -> None:
    assert extract("<p>We keep logs.</p>").text == "We keep logs."
    assert extract("We keep logs.\nNo markup here.").text == "We keep logs.\n\nNo markup here."
    assert extract("<p>数据保存一年。</p>".encode(), None).text == "数据保存一年。"
    assert extract(b"bad \xff byte", "text/plain").text == "bad byte"  # U+FFFD dropped


# ---------------------------------------------------------------- language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("我们会收集您的手机号码，用于创建账号。", "zh"),
        ("本政策适用于 SDK 与 API 的调用方式，我们会说明如何收集信息。", "zh"),
        ("We keep your data for two years and then delete it.", "en"),
        ("Privacy Policy", "en"),
        ("Wir speichern Ihre Daten nicht länger als nötig und geben sie nicht weiter.", "other"),
        ("Nous conservons vos données pendant deux ans et nous ne les vendons pas.", "other"),
        ("Мы храним ваши данные два года.", "other"),
        ("当社はお客様の個人情報を適切に管理します。", "other"),
        ("", "other"),
        ("12345 !!! ...", "other"),
    ],
)
def test_detect_language(text: str, language: str) -> None:
    assert detect_language(text) == language


# ---------------------------------------------------------------- properties

_TAGS = ["p", "div", "h1", "h3", "li", "ul", "pre", "br", "b", "nav", "main", "article", "td", "script", "span"]
_html_pieces = st.one_of(
    st.sampled_from([f"<{t}>" for t in _TAGS] + [f"</{t}>" for t in _TAGS] + ["<p class='menu'>", "&nbsp;", "\n", "|||"]),
    st.text(max_size=30),
    st.sampled_from(["我们收集信息。", "We keep logs.", "个人\n信息", "   ", "Sec. 3", "一、总则", "\udc80"]),
)
_fast = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_fast
@given(st.text())
def test_extract_html_never_raises_on_arbitrary_text(text: str) -> None:
    assert_blocks_index_text(extract_html(text))


@_fast
@given(st.lists(_html_pieces, max_size=60).map("".join))
def test_extract_html_never_raises_on_tag_soup(html: str) -> None:
    policy = extract_html(html)
    assert_blocks_index_text(policy)
    assert policy.language in ("zh", "en", "other")


@_fast
@given(st.text())
def test_extract_text_never_raises_on_arbitrary_text(text: str) -> None:
    assert_blocks_index_text(extract_text(text))


@_fast
@given(st.lists(st.sampled_from(["# ", "## ", "- ", "* ", "1. ", "> ", "|", "===", "---", "```", "**", "_", "[a](b)", "\n", "\n\n", "text", "文字"]), max_size=40).map("".join))
def test_extract_text_never_raises_on_markdown_soup(text: str) -> None:
    assert_blocks_index_text(extract_text(text))


@_fast
@given(st.binary(max_size=300))
def test_extract_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    assert_blocks_index_text(extract(data))
    assert_blocks_index_text(extract(b"%PDF-1.7\n" + data))
