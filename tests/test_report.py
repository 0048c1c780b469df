"""The report stage: static site, CSV files and Markdown summary of one audit.

The audit is built by hand below (the policy text is written for these tests) and covers
every state: assessed high, assessed low, assessed with nothing found, no policy, could not
assess, and a hostile policy whose text and names carry script, handlers and javascript: URLs.
"""

from __future__ import annotations

import csv
import hashlib
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from pipeline.records import (
    AuditReport,
    Criterion,
    CriterionResult,
    Evidence,
    FetchOutcome,
    FetchResult,
    GradeStatus,
    Level,
    Names,
    Rubric,
    ServiceReport,
    Target,
    Tier,
)
from pipeline.report.common import ReportError, csv_cell, is_web_url, safe_name
from pipeline.report.headline import headline
from pipeline.report.site import render_markdown, render_report
from pipeline.report.views import highlight

FETCHED = datetime(2026, 11, 20, 8, 30, tzinfo=timezone.utc)

HOSTILE_SCRIPT = "<script>alert(1)</script>"
HOSTILE_IMG = "<img src=x onerror=alert(1)>"
HOSTILE_LINK = '<a href="javascript:alert(1)">click</a>'

ALPHA_TEXT = (
    "Alpha Bank Privacy Policy\n"
    "We collect your name, phone number and account details to open and run your account.\n"
    "We keep account records for five years after the account is closed, then delete them.\n"
    "You can ask us to correct or delete your data by writing to privacy@alpha.example.\n"
)
SHOP_TEXT = (
    "商城隐私政策\n"
    "我们会收集您的手机号码和收货地址，用于配送商品。\n"
    "如有疑问，请联系客服。\n"
)
EMPTY_TEXT = "Empty Words Terms\nWe value you. Thank you for choosing us.\n"
HOSTILE_TEXT = (
    "Evil Co privacy notice\n"
    f"We collect everything. {HOSTILE_SCRIPT}\n"
    f"Your photos may be shown {HOSTILE_IMG} to partners.\n"
    f"Read more {HOSTILE_LINK} at any time.\n"
)
HOSTILE_HTML = (
    "<html><body><h1>Evil</h1><script>alert(1)</script>"
    "<img src=x onerror=alert(1)><a href=\"javascript:alert(1)\">x</a></body></html>"
).encode()
ALPHA_HTML = "<html><body><h1>Alpha Bank Privacy Policy</h1><p>...</p></body></html>".encode()


def sample_rubric() -> Rubric:
    return Rubric(
        id="sample",
        version="1.0",
        name=Names(zh="样例透明度标准", en="Sample transparency rubric"),
        description="A small rubric written for the report tests.",
        criteria=(
            Criterion("collection", Names("收集的个人信息", "Personal data collected"), "PIPL Art. 17(1)", 30, "lexicon.v1"),
            Criterion("retention", Names("保存期限", "Retention period"), "PIPL Art. 17(2)", 25, "retention_period.v1"),
            Criterion("rights", Names("个人权利", "Data-subject rights"), "PIPL Art. 44-47", 25, "lexicon.v1"),
            Criterion("contact", Names("联系方式", "Contact"), "PIPL Art. 17(1)", 20, "contact.v1"),
        ),
        tiers=(
            Tier("high", Names("高", "High"), 80),
            Tier("fairly_high", Names("较高", "Fairly high"), 60),
            Tier("medium", Names("中", "Medium"), 40),
            Tier("fairly_low", Names("较低", "Fairly low"), 20),
            Tier("low", Names("低", "Low"), 0),
        ),
        source="rubrics/sample.yaml",
    )


def ev(text: str, quote: str, method: str = "lexicon.v1", probability: float | None = None) -> Evidence:
    start = text.index(quote)
    return Evidence(segment_index=0, start=start, end=start + len(quote), quote=quote, method=method,
                    probability=probability)


def result(cid: str, level: Level, points: float, weight: float, *evidence: Evidence, note: str = "") -> CriterionResult:
    return CriterionResult(cid, level, points, weight, "lexicon.v1", tuple(evidence), note)


def snapshot(url: str, body: bytes | None) -> FetchResult:
    sha = hashlib.sha256(body).hexdigest() if body is not None else None
    return FetchResult(
        requested_url=url, outcome=FetchOutcome.OK, fetched_at=FETCHED, final_url=url,
        status_code=200, content_type="text/html; charset=utf-8", sha256=sha,
        size=len(body or b""), encoding="utf-8",
    )


def all_none(weight_of: dict[str, float]) -> tuple[CriterionResult, ...]:
    return tuple(result(cid, Level.NONE, 0, w, note="searched, not found") for cid, w in weight_of.items())


WEIGHTS = {"collection": 30.0, "retention": 25.0, "rights": 25.0, "contact": 20.0}
ALPHA_SENTENCE = "We keep account records for five years after the account is closed, then delete them."


def sample_report() -> AuditReport:
    alpha_sentence = ev(ALPHA_TEXT, ALPHA_SENTENCE, "retention_period.v1", 0.93)
    nested = ev(ALPHA_TEXT, "five years", "retention_period.v1")
    alpha = ServiceReport(
        target=Target("alpha-bank", "Alpha Bank 甲银行", "app", "finance", "CN", "https://alpha.example/privacy"),
        status=GradeStatus.ASSESSED, score=75.0, tier="fairly_high", rank=1, reason="",
        criteria=(
            result("collection", Level.FULL, 30, 30, ev(ALPHA_TEXT, "We collect your name, phone number and account details")),
            result("retention", Level.FULL, 25, 25, alpha_sentence, nested),
            result("rights", Level.PARTIAL, 12.5, 25, ev(ALPHA_TEXT, "correct or delete your data"),
                   alpha_sentence),  # same span as a retention quote: one mark, two criteria
            result("contact", Level.PARTIAL, 7.5, 20,
                   Evidence(0, 5, 9, "this quote does not match", "contact.v1")),  # bad offsets
        ),
        snapshot=snapshot("https://alpha.example/privacy", ALPHA_HTML),
        archive_path="archive/aa/bb", text=ALPHA_TEXT, language="en",
    )
    hostile = ServiceReport(
        target=Target("evil<script>", f"Evil {HOSTILE_IMG} Co", "site", "=HYPERLINK(\"x\")", "CN",
                      "javascript:alert(1)"),
        status=GradeStatus.ASSESSED, score=45.0, tier="medium", rank=2, reason="",
        criteria=(
            result("collection", Level.FULL, 30, 30, ev(HOSTILE_TEXT, f"We collect everything. {HOSTILE_SCRIPT}")),
            result("retention", Level.NONE, 0, 25, note="searched, not found"),
            result("rights", Level.PARTIAL, 15, 25, ev(HOSTILE_TEXT, f"Your photos may be shown {HOSTILE_IMG} to partners.")),
            result("contact", Level.NONE, 0, 20, ev(HOSTILE_TEXT, HOSTILE_LINK)),
        ),
        snapshot=FetchResult(
            requested_url="javascript:alert(1)", outcome=FetchOutcome.OK, fetched_at=FETCHED,
            final_url=None, status_code=200, content_type="text/html",
            sha256=hashlib.sha256(HOSTILE_HTML).hexdigest(), size=len(HOSTILE_HTML),
        ),
        archive_path=None, text=HOSTILE_TEXT, language="en",
    )
    shop = ServiceReport(
        target=Target("Shop/β?x=1&y=<2>", "β 商城", "site", "ecommerce", "CN", "https://shop.example/p"),
        status=GradeStatus.ASSESSED, score=25.0, tier="fairly_low", rank=3, reason="",
        criteria=(
            result("collection", Level.PARTIAL, 15, 30, ev(SHOP_TEXT, "我们会收集您的手机号码和收货地址，用于配送商品。")),
            result("retention", Level.NONE, 0, 25, note="searched, not found"),
            result("rights", Level.NONE, 0, 25, note="searched, not found"),
            result("contact", Level.PARTIAL, 10, 20, ev(SHOP_TEXT, "如有疑问，请联系客服。")),
        ),
        snapshot=snapshot("https://shop.example/p", b"<html>shop</html>"),
        archive_path=None, text=SHOP_TEXT, language="zh",
    )
    empty = ServiceReport(
        target=Target("empty-words", "Empty Words", "app", "ecommerce", "CN", "https://empty.example/terms"),
        status=GradeStatus.ASSESSED, score=0.0, tier="low", rank=4, reason="",
        criteria=all_none(WEIGHTS), snapshot=snapshot("https://empty.example/terms", b"<p>empty</p>"),
        archive_path=None, text=EMPTY_TEXT, language="en",
    )
    ghost = ServiceReport(
        target=Target("ghost-app", "Ghost App", "app", "social", "CN", None, "https://ghost.example/"),
        status=GradeStatus.NO_POLICY, score=0.0, tier="low", rank=4,
        reason="no privacy policy link found on the homepage", criteria=(), snapshot=None,
        archive_path=None, text=None, language=None,
    )
    blocked = ServiceReport(
        target=Target("blocked-site", "Blocked Site", "site", "social", "CN", "https://blocked.example/privacy"),
        status=GradeStatus.NOT_ASSESSED, score=None, tier=None, rank=None,
        reason="robots.txt disallows /privacy", criteria=(),
        snapshot=FetchResult("https://blocked.example/privacy", FetchOutcome.ROBOTS_DISALLOWED, FETCHED,
                             error="robots.txt disallows /privacy"),
        archive_path=None, text=None, language=None,
    )
    return AuditReport(
        label="sample-2026", rubric_id="sample", rubric_version="1.0", model_version="en@1.0.0",
        started_at=FETCHED, finished_at=FETCHED, status="finished",
        services=(alpha, hostile, shop, empty, ghost, blocked),
    )


def write_archive(root: Path, body: bytes) -> str:
    sha = hashlib.sha256(body).hexdigest()
    path = root / sha[:2] / sha[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return sha


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("report")
    archive = base / "archive"
    write_archive(archive, ALPHA_HTML)
    write_archive(archive, HOSTILE_HTML)
    # the shop's archive entry is corrupt: its bytes do not hash to its name
    sha = hashlib.sha256(b"<html>shop</html>").hexdigest()
    (archive / sha[:2]).mkdir(parents=True, exist_ok=True)
    (archive / sha[:2] / sha[2:]).write_bytes(b"tampered")
    index = render_report(sample_report(), sample_rubric(), base / "site", archive)
    assert index == base / "site" / "index.html"
    return index.parent


def parse(path: Path) -> LexborHTMLParser:
    return LexborHTMLParser(path.read_text(encoding="utf-8"))


def page_of(site: Path, service_id: str) -> LexborHTMLParser:
    return parse(site / "services" / f"{safe_name(service_id)}.html")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------- index


def test_index_ranks_graded_services_in_order(site: Path) -> None:
    tree = parse(site / "index.html")
    ids = [tr.attributes["data-service-id"] for tr in tree.css("#ranked tbody tr")]
    assert ids == ["alpha-bank", "evil<script>", "Shop/β?x=1&y=<2>", "empty-words", "ghost-app"]
    ranks = [tr.css_first("td").text(strip=True) for tr in tree.css("#ranked tbody tr")]
    assert ranks == ["1", "2", "3", "4", "4"]
    first = tree.css("#ranked tbody tr")[0].text()
    assert "较高" in first and "Fairly high" in first and "75" in first


def test_index_lists_not_assessed_apart_with_reason_and_no_score(site: Path) -> None:
    tree = parse(site / "index.html")
    rows = tree.css("#unassessed tbody tr")
    assert [r.attributes["data-service-id"] for r in rows] == ["blocked-site"]
    text = rows[0].text()
    assert "could not assess" in text and "robots.txt disallows /privacy" in text
    assert not re.search(r"\d", text.replace("robots.txt", ""))  # no score, no rank
    assert "blocked-site" not in [r.attributes["data-service-id"] for r in tree.css("#ranked tbody tr")]


def test_index_marks_no_policy_as_scored_zero(site: Path) -> None:
    tree = parse(site / "index.html")
    row = tree.css_first('#ranked tr[data-service-id="ghost-app"]')
    assert "scored 0" in row.text() and row.css_first("td.score").text(strip=True) == "0"


def test_index_has_two_server_side_svg_charts(site: Path) -> None:
    tree = parse(site / "index.html")
    charts = tree.css("svg.chart")
    assert len(charts) == 2
    tier_labels = [t.text() for t in charts[0].css("g.bar text")][0::2]
    assert tier_labels[0] == "高 High" and tier_labels[-1] == "无法评估 could not assess"
    assert [t.text() for t in charts[0].css("g.bar text")][1::2] == ["0", "1", "1", "1", "2", "1"]
    assert len(charts[1].css("rect")) == 4  # four sectors with graded services


def test_headline_counts_in_both_languages() -> None:
    en = headline(sample_report(), sample_rubric(), "en")
    zh = headline(sample_report(), sample_rubric(), "zh")
    assert en[0] == "6 services were audited: 5 graded, 1 could not be assessed."
    assert en[1].startswith("None reached 高 (High); 1 was rated 较高 (Fairly high); 1 was rated 中 (Medium)")
    assert "2 were rated 低 (Low)" in en[1]
    assert "1 had no privacy policy (scored 0" in " ".join(en)
    assert "1 had a policy in which none of the criteria were found" in " ".join(en)
    assert "The average score was 29 out of 100." in en  # (75+45+25+0+0)/5
    assert en[-1] == (
        'Sector averages: finance 75, =HYPERLINK("x") 45, ecommerce 12.5, social 0; '
        "the lowest sector is social (0)."
    )
    assert zh[0] == "本次审计共 6 个服务：5 个获得评分，1 个无法评估。"
    assert zh[1].startswith("透明度等级：没有一个达到「高」，1 个为「较高」")
    assert "平均分最低的行业是social（0）" in zh[-1]


def test_headline_with_nothing_graded_says_so() -> None:
    report = sample_report()
    only_blocked = AuditReport(**{**report.__dict__, "services": report.services[-1:]})
    en = headline(only_blocked, sample_rubric(), "en")
    assert en[0] == "1 service was audited: 0 graded, 1 could not be assessed."
    assert "No service could be graded." in en
    assert not any("average" in line.lower() for line in en)


def test_headline_rejects_unknown_language() -> None:
    with pytest.raises(ReportError, match="lang"):
        headline(sample_report(), sample_rubric(), "fr")  # type: ignore[arg-type]


def test_render_refuses_a_rubric_other_than_the_audits(tmp_path: Path) -> None:
    rubric = sample_rubric()
    other = Rubric(rubric.id, "2.0", rubric.name, rubric.description, rubric.criteria, rubric.tiers)
    with pytest.raises(ReportError, match="graded with rubric sample v1.0"):
        render_report(sample_report(), other, tmp_path)


# ---------------------------------------------------------------- CSV and Markdown


def test_scores_csv_has_one_row_per_service_in_rank_order(site: Path) -> None:
    rows = read_csv(site / "scores.csv")
    assert list(rows[0]) == ["rank", "service_id", "name", "sector", "kind", "region", "status", "score",
                             "tier", "reason", "rubric_id", "rubric_version", "snapshot_sha256", "doctype"]
    assert [r["service_id"] for r in rows] == [
        "alpha-bank", "evil<script>", "Shop/β?x=1&y=<2>", "empty-words", "ghost-app", "blocked-site"]
    assert rows[0]["score"] == "75" and rows[0]["tier"] == "fairly_high" and rows[0]["rank"] == "1"
    assert rows[0]["snapshot_sha256"] == hashlib.sha256(ALPHA_HTML).hexdigest()
    blocked = rows[-1]
    assert (blocked["status"], blocked["score"], blocked["tier"], blocked["rank"]) == ("not_assessed", "", "", "")
    assert blocked["reason"] == "robots.txt disallows /privacy"
    assert rows[4]["status"] == "no_policy" and rows[4]["score"] == "0" and rows[4]["tier"] == "low"


def test_csv_cells_starting_like_a_formula_are_quoted(site: Path) -> None:
    rows = read_csv(site / "scores.csv")
    assert rows[1]["sector"] == "'=HYPERLINK(\"x\")"
    assert [csv_cell(v) for v in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "a=b", 2.5, None)] == [
        "'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "a=b", "2.5", ""]


def test_criteria_csv_has_quotes_and_first_offsets(site: Path) -> None:
    rows = read_csv(site / "criteria.csv")
    alpha = {r["criterion_id"]: r for r in rows if r["service_id"] == "alpha-bank"}
    assert set(alpha) == set(WEIGHTS)
    start = ALPHA_TEXT.index(ALPHA_SENTENCE)
    assert alpha["retention"]["evidence_quotes"] == f"{ALPHA_SENTENCE} | five years"
    assert (alpha["retention"]["evidence_start"], alpha["retention"]["evidence_end"]) == (
        str(start), str(start + len(ALPHA_SENTENCE)))
    assert (alpha["rights"]["level"], alpha["rights"]["points"], alpha["rights"]["weight"]) == ("partial", "12.5", "25")
    empty = [r for r in rows if r["service_id"] == "empty-words"]
    assert len(empty) == 4 and all(r["level"] == "none" and r["evidence_quotes"] == "" for r in empty)
    assert not [r for r in rows if r["service_id"] in ("ghost-app", "blocked-site")]


def test_markdown_summary_has_headline_and_ranked_table(site: Path) -> None:
    md = render_markdown(sample_report(), sample_rubric())
    assert (site / "summary.md").read_text(encoding="utf-8") == md
    assert "6 services were audited: 5 graded, 1 could not be assessed." in md
    table = [line for line in md.splitlines() if line.startswith("| 1 |")]
    assert table and "Alpha Bank 甲银行" in table[0] and "75" in table[0]
    assert "robots.txt disallows /privacy" in md
    # names are escaped: no raw HTML and no extra table cells
    assert re.search(r"(?<!\\)[<>]", md) is None
    hostile = next(line for line in md.splitlines() if line.startswith("| 2 |"))
    assert "\\<img src=x onerror=alert(1)\\>" in hostile and "\\(" not in md  # parentheses are never escaped
    assert len(re.findall(r"(?<!\\)\|", hostile)) == 8


# ---------------------------------------------------------------- service pages


@pytest.mark.parametrize("service_id", ["alpha-bank", "evil<script>", "Shop/β?x=1&y=<2>"])
def test_service_page_highlights_each_quote_at_its_offsets(site: Path, service_id: str) -> None:
    report = sample_report()
    svc = next(s for s in report.services if s.target.id == service_id)
    tree = page_of(site, service_id)
    checked = 0
    for res in svc.criteria:
        for e in res.evidence:
            if svc.text[e.start:e.end] != e.quote:
                continue
            mark = tree.css_first(f'mark[id="ev-{e.start}-{e.end}"]')
            assert mark is not None, e.quote
            assert mark.text() == e.quote
            checked += 1
            assert e.quote in [q.text() for q in tree.css("blockquote.quote")]
    assert checked >= 2
    text_div = tree.css_first(".policy-text")
    assert text_div.text() == svc.text  # highlighting does not change the text


def test_service_page_lists_every_criterion_with_its_details(site: Path) -> None:
    tree = page_of(site, "alpha-bank")
    bodies = tree.css("tbody.criterion")
    assert [b.attributes["data-criterion"] for b in bodies] == ["collection", "retention", "rights", "contact"]
    retention = bodies[1].text()
    for expected in ("保存期限", "Retention period", "PIPL Art. 17(2)", "25", "full", "lexicon.v1",
                     "retention_period.v1", "p = 0.93"):
        assert expected in retention
    contact = bodies[3].text()
    assert "offsets do not match the extracted text" in contact
    summary = tree.css_first("dl.service-summary").text()
    assert "75 / 100" in summary and "1 / 5" in summary and "较高" in summary


def test_shared_span_gets_one_mark_naming_both_criteria(site: Path) -> None:
    tree = page_of(site, "alpha-bank")
    start = ALPHA_TEXT.index(ALPHA_SENTENCE)
    marks = tree.css(f'mark[id="ev-{start}-{start + len(ALPHA_SENTENCE)}"]')
    assert len(marks) == 1
    assert "Retention period" in marks[0].attributes["title"] and "Data-subject rights" in marks[0].attributes["title"]
    inner = tree.css(f'mark[id="ev-{start}-{start + len(ALPHA_SENTENCE)}"] mark')
    assert [m.text() for m in inner] == ["five years"]


def test_page_of_all_none_service_shows_nothing_found(site: Path) -> None:
    tree = page_of(site, "empty-words")
    levels = [" ".join(s.text().split()) for s in tree.css("span.level")]
    assert levels == ["未找到 none"] * 4
    assert tree.css("mark") == []
    assert tree.css_first(".policy-text").text() == EMPTY_TEXT


def test_page_of_not_assessed_service_has_reason_and_no_grade(site: Path) -> None:
    tree = page_of(site, "blocked-site")
    summary = tree.css_first("dl.service-summary").text()
    assert "could not assess" in summary and "robots.txt disallows /privacy" in summary
    assert "not a low score" in summary
    assert tree.css("tbody.criterion") == []


def test_snapshot_is_copied_as_txt_and_linked(site: Path) -> None:
    sha = hashlib.sha256(ALPHA_HTML).hexdigest()
    copy = site / "snapshots" / f"{sha}.txt"
    assert copy.read_bytes() == ALPHA_HTML
    tree = page_of(site, "alpha-bank")
    assert tree.css_first("a.snapshot-link").attributes["href"] == f"../snapshots/{sha}.txt"
    meta = tree.css_first("dl.snapshot").text()
    assert sha in meta and "2026-11-20T08:30:00+00:00" in meta and "HTTP 200" in meta
    assert "https://alpha.example/privacy" in meta


def test_corrupt_archive_entry_is_not_published(site: Path) -> None:
    sha = hashlib.sha256(b"<html>shop</html>").hexdigest()
    assert not (site / "snapshots" / f"{sha}.txt").exists()
    tree = page_of(site, "Shop/β?x=1&y=<2>")
    assert tree.css("a.snapshot-link") == []
    assert "archived copy not included" in tree.css_first("#sources").text()


def test_live_url_is_a_link_only_for_http_and_https(site: Path) -> None:
    link = page_of(site, "alpha-bank").css_first("a.live-link")
    assert link.attributes["href"] == "https://alpha.example/privacy"
    assert link.attributes["rel"] == "noopener noreferrer nofollow"
    hostile = page_of(site, "evil<script>")
    assert hostile.css("a.live-link") == []
    assert "javascript:alert(1)" in hostile.css_first("#sources").text()  # shown as text


@pytest.mark.parametrize(
    ("url", "ok"),
    [("https://a.example/p", True), ("HTTP://a.example", True), ("javascript:alert(1)", False),
     (" https://a.example", False), ("java\tscript:alert(1)", False), ("data:text/html,x", False),
     ("https:///nohost", False), ("//a.example/p", False), (None, False), ("https://a.example/\n", False)],
)
def test_is_web_url(url: str | None, ok: bool) -> None:
    assert is_web_url(url) is ok


# ---------------------------------------------------------------- safety


def html_files(site: Path) -> list[Path]:
    files = sorted(site.rglob("*.html"))
    assert len(files) == 2 + 6  # index, methodology, six service pages
    return files


def test_hostile_text_is_inert_escaped_text_everywhere(site: Path) -> None:
    for path in html_files(site):
        raw = path.read_text(encoding="utf-8")
        tree = LexborHTMLParser(raw)
        scripts = tree.css("script")
        assert [s.attributes.get("src") for s in scripts] in (
            ["static/report.js"], ["../static/report.js"]), path
        assert all(not s.text().strip() for s in scripts)
        for node in tree.css("*"):
            for name, value in node.attributes.items():
                assert not name.lower().startswith("on"), (path, node.tag, name)
                if name.lower() in ("href", "src", "action", "formaction", "xlink:href"):
                    assert not (value or "").strip().lower().startswith(("javascript:", "data:text")), path
        assert tree.css("img, iframe, object, embed") == []
        assert "<script>alert" not in raw and "<img src=x" not in raw


def test_hostile_policy_page_shows_the_markup_as_text(site: Path) -> None:
    tree = page_of(site, "evil<script>")
    text = tree.css_first(".policy-text").text()
    for hostile in (HOSTILE_SCRIPT, HOSTILE_IMG, HOSTILE_LINK):
        assert hostile in text
    assert tree.css_first("h1").text() == f"Evil {HOSTILE_IMG} Co"
    assert tree.css(".policy-text a, .policy-text script") == []


def test_archived_html_is_published_only_as_txt(site: Path) -> None:
    sha = hashlib.sha256(HOSTILE_HTML).hexdigest()
    assert (site / "snapshots" / f"{sha}.txt").read_bytes() == HOSTILE_HTML
    assert [p.suffix for p in (site / "snapshots").iterdir()] == [".txt", ".txt"]


def test_highlight_escapes_each_piece_separately() -> None:
    out = highlight("<b>x</b>&", [(0, 3, "ev-0-3", '"><script>')])
    assert str(out) == '<mark id="ev-0-3" title="&#34;&gt;&lt;script&gt;">&lt;b&gt;</mark>x&lt;/b&gt;&amp;'


def test_highlight_rejects_crossing_spans() -> None:
    with pytest.raises(ReportError, match="crosses"):
        highlight("abcdef", [(0, 3, "a", ""), (2, 5, "b", "")])


def test_crossing_evidence_is_listed_but_not_highlighted(tmp_path: Path) -> None:
    report = sample_report()
    alpha = report.services[0]
    crossing = ev(ALPHA_TEXT, "then delete them.\nYou can ask")
    changed = ServiceReport(**{**alpha.__dict__, "criteria": alpha.criteria[:3] + (
        result("contact", Level.PARTIAL, 7.5, 20, crossing),)})
    report = AuditReport(**{**report.__dict__, "services": (changed,) + report.services[1:]})
    render_report(report, sample_rubric(), tmp_path)
    tree = page_of(tmp_path, "alpha-bank")
    assert tree.css(f'mark[id="ev-{crossing.start}-{crossing.end}"]') == []
    assert "overlaps another highlighted quote" in tree.css("tbody.criterion")[3].text()
    assert crossing.quote in [q.text() for q in tree.css("blockquote.quote")]


# ---------------------------------------------------------------- methodology and names


def test_methodology_lists_every_criterion_tier_and_state(site: Path) -> None:
    tree = parse(site / "methodology.html")
    rubric = sample_rubric()
    rows = {r.attributes["data-criterion"]: r.text() for r in tree.css("tr[data-criterion]")}
    assert list(rows) == [c.id for c in rubric.criteria]
    for c in rubric.criteria:
        for expected in (c.name.zh, c.name.en, c.legal_basis, c.check):
            assert expected in rows[c.id]
    tiers = {r.attributes["data-tier"]: r.text() for r in tree.css("tr[data-tier]")}
    assert list(tiers) == [t.id for t in rubric.tiers]
    assert "≥ 80" in tiers["high"] and "60 ≤ score < 80" in tiers["fairly_high"]
    body = tree.body.text()
    assert "sample" in body and "1.0" in body
    assert "The weights and thresholds are ours" in body
    states = tree.css_first("dl.states").text()
    assert "No privacy policy" in states and "Could not assess" in states and "Finding nothing" in states


@pytest.mark.parametrize(
    "service_id", ["../../etc/passwd", "CON", "a/b", "A/B", "中文服务", "", ".hidden", "x" * 300,
                   "plain-id", "plain-id-0123abcd", "with space\x00nul"],
)
def test_safe_name_is_a_plain_file_stem(service_id: str) -> None:
    name = safe_name(service_id)
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{0,60}", name), name
    assert name not in ("con", "nul", "aux", "prn")


def test_safe_names_of_distinct_ids_differ() -> None:
    ids = ["a/b", "A/B", "a b", "a-b", "a_b", "plain-id", "plain-id-0123abcd", "中文", "日本"]
    assert len({safe_name(i) for i in ids}) == len(ids)
    assert safe_name("plain-id") == "plain-id"


def test_duplicate_service_ids_are_refused(tmp_path: Path) -> None:
    report = sample_report()
    doubled = AuditReport(**{**report.__dict__, "services": report.services + report.services[:1]})
    with pytest.raises(ReportError, match="twice"):
        render_report(doubled, sample_rubric(), tmp_path)
