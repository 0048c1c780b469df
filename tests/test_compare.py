"""Comparing two audits: ranks, scores, tiers, criteria gained and lost, content changes, re-grading,
the side-by-side text diff, the bump chart and the comparison page (also in a real Chromium).

The two audits are built from policies written for these tests, read, segmented and graded by
the real stages (rules only) and stored with :func:`pipeline.store.save.save_result`; no fetch."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from pipeline.errors import StoreError
from pipeline.grade.grader import grade, grade_missing
from pipeline.grade.rubric import load_rubric, rubric_fingerprint
from pipeline.read.extract import extract_text
from pipeline.read.segment import segment_many
from pipeline.records import (
    FetchOutcome,
    FetchResult,
    GradeStatus,
    Level,
    Rubric,
    Target,
)
from pipeline.report.compare import CompareError, compare_audits, format_comparison_table
from pipeline.report.compare_page import bump_chart_from_ranks, bump_chart_svg, render_comparison
from pipeline.report.textdiff import diff_stats, text_diff
# these tests pin rubric v1's behaviour (v1 stays loadable and unchanged; v2 is tested in test_grade_v2.py)
DEFAULT_RUBRIC = Path(__file__).resolve().parents[1] / "rubrics" / "transparency.v1.yaml"
from pipeline.store import db, queries, save
from selectolax.lexbor import LexborHTMLParser

# ---------------------------------------------------------------- policies written for these tests

VAGUE = """# Privacy at Tinkerbox

Tinkerbox cares about your privacy. This privacy policy says how we handle personal information
when you use the Tinkerbox website.

We collect your name and email address when you register. We use personal information to run the
service and to answer your questions.

We may share information with third parties.
"""

THOROUGH = VAGUE.replace(
    "We may share information with third parties.",
    """We may share information with third parties.

We keep your account information until you close your account, and we delete it within 30 days after you close your account.

You can access your data, correct it, delete it, or close your account at any time from the settings page.""",
)

STEADY = """# Brightpath privacy policy

Last updated: 3 March 2020.

This privacy policy explains how Brightpath collects and uses personal information. We collect
your email address and your delivery address to send orders. We use personal information only to
deliver orders and to prevent fraud. We share delivery addresses with our courier service providers.
We keep order records for six years because tax law requires it, and then we delete them.
"""

LEAVER = """# Quillcraft privacy notice

Quillcraft respects your privacy. This privacy notice explains what personal information we collect
and why. We collect your name, email address and payment details. We use personal information to
process payments and to send receipts. Contact privacy@quillcraft.example with any question.
"""

HOSTILE_NAME = "<script>alert('n')</script>"
HOSTILE = STEADY.replace(
    "We collect", "<script>alert(1)</script> <img src=x onerror=alert(2)> [x](javascript:alert(3)) We collect"
)
HOSTILE_V2 = HOSTILE + "\nWe added <b onmouseover=alert(4)>this line</b> in the new version.\n"


def rubric() -> Rubric:
    return load_rubric(DEFAULT_RUBRIC)


def _fetch(sid: str, body: bytes | None, outcome: FetchOutcome = FetchOutcome.OK) -> FetchResult:
    return FetchResult(
        requested_url=f"https://{sid}.example/privacy",
        outcome=outcome,
        fetched_at=datetime(2026, 1, 1, tzinfo=UTC),
        final_url=f"https://{sid}.example/privacy" if body else None,
        status_code=200 if body else 404,
        content_type="text/markdown; charset=utf-8" if body else "text/plain",
        sha256=hashlib.sha256(body).hexdigest() if body else None,
        size=len(body or b""),
        body=body,
        error=None if body else "HTTP 404",
    )


def save_audit(engine: Engine, label: str, services: dict[str, str | None], rub: Rubric, names: dict[str, str] | None = None) -> None:
    """Store one audit: ``services[id]`` is the policy text, or None for a 404 (no policy)."""
    targets = [Target(id=sid, name=(names or {}).get(sid, sid.title()), kind="site", sector="test") for sid in services]
    texts = {sid: t for sid, t in services.items() if t is not None}
    policies = {sid: extract_text(t) for sid, t in texts.items()}
    segments = dict(zip(policies, segment_many(list(policies.values())), strict=True))
    with db.session_scope(engine) as session:
        save.upsert_services(session, targets)
        run = save.start_run(session, label, rub.id, rub.version, rubric_fingerprint(rub), None, len(targets), "test")
        previous = queries.previous_snapshots(session, run.id, list(services))  # type: ignore[arg-type]
        for t in targets:
            if t.id in texts:
                fetch = _fetch(t.id, texts[t.id].encode())
                g = grade(policies[t.id], segments[t.id], rub)
                save.save_result(session, run.id, t, fetch, g, policies[t.id], segments[t.id], previous.get(t.id))  # type: ignore[arg-type]
            else:
                fetch = _fetch(t.id, None, FetchOutcome.NO_POLICY_FOUND)
                g = grade_missing(rub, FetchOutcome.NO_POLICY_FOUND, "HTTP 404")
                save.save_result(session, run.id, t, fetch, g, previous_sha256=previous.get(t.id))  # type: ignore[arg-type]
        save.finish_run(session, run.id, {})  # type: ignore[arg-type]


Y1 = {"tinkerbox": VAGUE, "brightpath": STEADY, "quillcraft": LEAVER, "newleaf": None}
Y2 = {"tinkerbox": THOROUGH, "brightpath": STEADY, "quillcraft": None, "newleaf": THOROUGH.replace("Tinkerbox", "Newleaf")}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    eng = db.make_engine(f"sqlite:///{tmp_path_factory.mktemp('compare') / 'audit.db'}")
    rub = rubric()
    save_audit(eng, "y1", Y1, rub)
    save_audit(eng, "y2", Y2, rub)
    yield eng
    eng.dispose()


def by_id(cmp: object) -> dict:
    return {s.service_id: s for s in cmp.services}  # type: ignore[attr-defined]


# ---------------------------------------------------------------- comparing


def test_gained_criteria_quote_text_that_is_only_in_the_newer_policy(engine: Engine) -> None:
    with db.session_scope(engine) as s:
        cmp = compare_audits(s, "y1", "y2")
    tb = by_id(cmp)["tinkerbox"]
    gained = {c.criterion_id: c for c in tb.gained}
    assert {"retention_period", "user_rights"} <= set(gained)
    assert gained["retention_period"].level_a == Level.NONE and gained["retention_period"].level_b == Level.FULL
    for change in gained.values():
        assert change.evidence_b, change.criterion_id
        assert any(e.quote in THOROUGH and e.quote not in VAGUE for e in change.evidence_b)
    assert tb.lost == ()
    assert tb.score_delta is not None and tb.score_delta > 0
    assert tb.score_delta == round(tb.score_b - tb.score_a, 1)
    assert tb.content_changed is True and tb.sha256_a != tb.sha256_b


def test_identical_text_gives_no_content_change_and_no_criteria_change(engine: Engine) -> None:
    with db.session_scope(engine) as s:
        cmp = compare_audits(s, "y1", "y2")
    bp = by_id(cmp)["brightpath"]
    assert bp.content_changed is False and bp.sha256_a == bp.sha256_b == hashlib.sha256(STEADY.encode()).hexdigest()
    assert bp.criteria == () and bp.score_delta == 0 and bp.tier_change == 0
    assert bp.policy is None


def test_policy_appeared_and_disappeared_follow_status(engine: Engine) -> None:
    with db.session_scope(engine) as s:
        cmp = compare_audits(s, "y1", "y2")
    svc = by_id(cmp)
    assert svc["newleaf"].policy == "appeared" and svc["newleaf"].status_a == GradeStatus.NO_POLICY
    assert svc["quillcraft"].policy == "disappeared" and svc["quillcraft"].status_b == GradeStatus.NO_POLICY
    assert [x.service_id for x in cmp.appeared] == ["newleaf"]
    assert [x.service_id for x in cmp.disappeared] == ["quillcraft"]
    assert svc["newleaf"].content_changed is None  # no body in y1
    assert svc["quillcraft"].score_b == 0 and svc["quillcraft"].tier_b == rubric().lowest_tier.id


def test_rank_changes_match_ranks_and_rose_fell_lists(engine: Engine) -> None:
    with db.session_scope(engine) as s:
        cmp = compare_audits(s, "y1", "y2")
        a = {r.target.id: r.rank for r in queries.load_report(s, "y1", with_text=False).services}
        b = {r.target.id: r.rank for r in queries.load_report(s, "y2", with_text=False).services}
    for ch in cmp.services:
        assert (ch.rank_a, ch.rank_b) == (a[ch.service_id], b[ch.service_id])
        assert ch.rank_change == a[ch.service_id] - b[ch.service_id]
    assert all(x.rank_change > 0 for x in cmp.rose) and all(x.rank_change < 0 for x in cmp.fell)
    assert "newleaf" in {x.service_id for x in cmp.rose}
    assert "quillcraft" in {x.service_id for x in cmp.fell}
    order = list(cmp.tier_order)
    for ch in cmp.services:
        if ch.tier_a and ch.tier_b:
            assert ch.tier_change == order.index(ch.tier_a) - order.index(ch.tier_b)


def test_regrade_with_the_same_rubric_reproduces_stored_scores(engine: Engine) -> None:
    rub = rubric()
    with db.session_scope(engine) as s:
        cmp = compare_audits(s, "y1", "y2", rubric=rub, regrade=True)
    assert cmp.regrade_rubric == (rub.id, rub.version) and cmp.regrade_method == "rules only"
    for ch in cmp.services:
        assert ch.regrade_a is not None and ch.regrade_b is None  # B already used this rubric
        assert ch.regrade_a.score == ch.score_a, ch.service_id
        assert ch.regrade_a.rubric_version == rub.version


def test_regrade_with_a_changed_rubric_shows_both_numbers_and_versions(engine: Engine) -> None:
    rub = rubric()
    dropped = "third_party_sharing"
    v2 = replace(rub, version="1.1.0-test", criteria=tuple(c for c in rub.criteria if c.id != dropped))
    with db.session_scope(engine) as s:
        cmp = compare_audits(s, "y1", "y2", rubric=v2, regrade=True)
        stored = {r.target.id: r for r in queries.load_report(s, "y1", with_text=False).services}
    assert cmp.regrade_rubric == (rub.id, "1.1.0-test")
    tb = by_id(cmp)["tinkerbox"]
    expected = round(sum(c.points for c in stored["tinkerbox"].criteria if c.criterion_id != dropped), 1)
    assert tb.score_a == stored["tinkerbox"].score and tb.regrade_a.score == expected
    assert tb.regrade_a.score < tb.score_a  # VAGUE mentions sharing: the dropped criterion had points
    assert tb.regrade_b is not None and tb.regrade_b.rubric_version == "1.1.0-test"  # B used another version
    assert tb.regraded_delta == round(tb.regrade_b.score - tb.regrade_a.score, 1)
    table = format_comparison_table(cmp)
    assert "A re-graded (transparency 1.1.0-test)" in table[0]
    assert by_id(cmp)["newleaf"].regrade_a.status == GradeStatus.NO_POLICY


def test_compare_refuses_same_label_and_regrade_without_rubric(engine: Engine) -> None:
    with db.session_scope(engine) as s:
        with pytest.raises(CompareError, match="two different audits"):
            compare_audits(s, "y1", "y1")
        with pytest.raises(CompareError, match="rubric"):
            compare_audits(s, "y1", "y2", regrade=True)
        with pytest.raises(StoreError, match="no audit labelled 'y9'"):
            compare_audits(s, "y1", "y9")


def test_format_comparison_table_has_a_header_and_one_row_per_service(engine: Engine) -> None:
    with db.session_scope(engine) as s:
        rows = format_comparison_table(compare_audits(s, "y1", "y2"))
    assert rows[0][:3] == ["service", "rank A", "rank B"]
    assert sorted(r[0] for r in rows[1:]) == sorted(Y1)
    tb = next(r for r in rows if r[0] == "tinkerbox")
    assert "retention_period (none→full)" in tb[9] and tb[8] == "changed"
    assert next(r for r in rows if r[0] == "brightpath")[8] == "same"


# ---------------------------------------------------------------- text diff


def test_text_diff_pairs_changed_lines_and_marks_changed_words() -> None:
    old = "alpha line\nwe keep data for two years\nomega line\n"
    new = "alpha line\nwe keep data for five years\nomega line\nan added line\n"
    rows = text_diff(old, new, context=None)
    kinds = [r.kind for r in rows]
    assert kinds == ["equal", "replace", "equal", "insert"]
    changed = rows[1]
    assert [t for t, c in changed.left if c] == ["two"] and [t for t, c in changed.right if c] == ["five"]
    assert changed.left_text == "we keep data for two years" and changed.right_text == "we keep data for five years"
    assert (rows[3].left_no, rows[3].right_no, rows[3].right_text) == (None, 4, "an added line")
    assert diff_stats(rows) == (1, 2)


def test_text_diff_collapses_long_unchanged_runs() -> None:
    same = "\n".join(f"line {i}" for i in range(40))
    rows = text_diff(same + "\nold end", same + "\nnew end", context=3)
    assert rows[0].kind == "skip" and rows[0].skipped == 37
    assert [r.kind for r in rows[1:]] == ["equal"] * 3 + ["replace"]
    assert all(r.kind in ("equal", "skip") for r in text_diff(same, same))


# ---------------------------------------------------------------- bump chart and page


def test_bump_chart_escapes_names_and_joins_ranked_audits_only() -> None:
    ranks = {
        "2014": {"a": ("Alpha", 1, 80.0), "b": (HOSTILE_NAME, 2, 50.0), "c": ("Gamma", None, None)},
        "2019": {"a": ("Alpha", 2, 60.0), "b": (HOSTILE_NAME, 1, 70.0)},
        "2021": {"a": ("Alpha", 1, 90.0), "c": ("Gamma", 2, 40.0)},
    }
    svg = bump_chart_from_ranks(["2014", "2019", "2021"], ranks)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    groups = dict(re.findall(r'data-service-id="(\w)">(.*?)</g>', svg, re.DOTALL))
    assert groups["a"].count("<line") == 2  # 2014-2019-2021
    assert groups["b"].count("<line") == 1  # absent in 2021
    assert groups["c"].count("<line") == 0  # ranked only in 2021
    assert groups["c"].count("<circle") == 1
    assert "Alpha · 2019: rank 2, score 60" in svg


def test_bump_chart_svg_reads_ranks_from_the_store(engine: Engine) -> None:
    with db.session_scope(engine) as s:
        svg = bump_chart_svg(s, ["y1", "y2"])
        with pytest.raises(CompareError):
            bump_chart_svg(s, ["y1"])
    assert svg.count('class="bump-service"') == 4 and ">y1</text>" in svg and ">y2</text>" in svg


@pytest.fixture(scope="module")
def page(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    rub = rubric()
    save_audit(engine, "h1", {"tinkerbox": VAGUE, "bad": HOSTILE}, rub, names={"bad": HOSTILE_NAME})
    save_audit(engine, "h2", {"tinkerbox": THOROUGH, "bad": HOSTILE_V2}, rub, names={"bad": HOSTILE_NAME})
    with db.session_scope(engine) as s:
        cmp = compare_audits(s, "h1", "h2", rubric=rub, regrade=True)
        bump = bump_chart_svg(s, ["y1", "h1", "h2"])
    # the Markdown reader drops tags; put the raw hostile texts back so the templates must escape them
    raw = {"bad": (HOSTILE, HOSTILE_V2)}
    cmp = replace(cmp, services=tuple(
        replace(x, text_a=raw[x.service_id][0], text_b=raw[x.service_id][1]) if x.service_id in raw else x
        for x in cmp.services
    ))
    return render_comparison(cmp, tmp_path_factory.mktemp("cmp-site"), bump_svg=bump)


def test_comparison_page_escapes_policy_text_and_names(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    diffs = sorted((page.parent / "diffs").glob("*.html"))
    assert len(diffs) == 2  # both texts changed
    for text in [html] + [d.read_text(encoding="utf-8") for d in diffs]:
        assert "<script>alert" not in text and "<img" not in text and "<b onmouseover" not in text
        assert len(re.findall(r"<script\b", text)) == 1  # only static/report.js
    hostile_diff = next(d for d in diffs if d.name != "tinkerbox.html").read_text(encoding="utf-8")
    assert "&lt;b onmouseover=alert(4)&gt;this line&lt;/b&gt;" in hostile_diff
    assert "&lt;script&gt;alert(&#39;n&#39;)&lt;/script&gt;" in html
    assert 'id="regrade-note"' in html and "rules only" in html
    assert (page.parent / "static" / "report.css").is_file()


# ---------------------------------------------------------------- in a real browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
# the browser fixture (headless /usr/bin/chromium) is in conftest.py


def _open(browser: object, path: Path) -> tuple[object, list[str], list[str]]:
    p = browser.new_page(viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
    errors: list[str] = []
    dialogs: list[str] = []
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    p.goto(path.as_uri())
    p.wait_for_load_state("load")
    return p, errors, dialogs


@pytest.mark.slow
def test_comparison_page_renders_bump_chart_and_sorts_in_chromium(page: Path, browser: object) -> None:
    p, errors, dialogs = _open(browser, page)
    svg = p.locator("svg.bump-chart")  # type: ignore[attr-defined]
    assert svg.count() == 1
    box = svg.bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 60
    assert svg.locator("circle").count() == 4 + 2 + 2 and svg.locator("line[stroke-linecap]").count() >= 2
    header = p.locator("#changes thead th", has_text="Δ 分数")  # type: ignore[attr-defined]
    header.locator("button").click()
    deltas = p.eval_on_selector_all(  # type: ignore[attr-defined]
        "#changes tbody tr td:nth-child(7)", "cells => cells.map(c => c.dataset.value)"
    )
    values = [float(v) for v in deltas if v]
    assert values == sorted(values, reverse=True) and len(values) == 2
    ARTIFACTS.mkdir(exist_ok=True)
    p.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)  # type: ignore[attr-defined]
    p.locator("a.diff-link").first.click()  # type: ignore[attr-defined]
    p.wait_for_load_state("load")  # type: ignore[attr-defined]
    assert "/diffs/" in p.url and p.locator("#diff tr.insert, #diff tr.replace").count() >= 1  # type: ignore[attr-defined]
    p.screenshot(path=str(ARTIFACTS / "compare-diff.png"), full_page=True)  # type: ignore[attr-defined]
    p.close()  # type: ignore[attr-defined]
    assert errors == [] and dialogs == []


@pytest.mark.slow
def test_hostile_diff_page_runs_no_injected_script_in_chromium(page: Path, browser: object) -> None:
    diff = next(d for d in (page.parent / "diffs").glob("*.html") if d.name != "tinkerbox.html")
    p, errors, dialogs = _open(browser, diff)
    p.hover("#diff")  # type: ignore[attr-defined]
    p.wait_for_timeout(200)  # type: ignore[attr-defined]
    assert p.locator("script").count() == 1 and p.locator("img, #diff a, #diff b").count() == 0  # type: ignore[attr-defined]
    assert "<b onmouseover=alert(4)>this line</b>" in p.locator("#diff").text_content()  # type: ignore[attr-defined]
    p.close()  # type: ignore[attr-defined]
    assert errors == [] and dialogs == []


def test_long_rose_and_fell_lists_show_the_ten_largest_moves_and_fold_the_rest(engine: Engine, tmp_path: Path) -> None:
    rub = rubric()
    ids = [f"svc{i:02d}" for i in range(24)]
    save_audit(engine, "many1", {sid: THOROUGH if i < 12 else VAGUE for i, sid in enumerate(ids)}, rub)
    save_audit(engine, "many2", {sid: VAGUE if i < 12 else THOROUGH for i, sid in enumerate(ids)}, rub)
    with db.session_scope(engine) as s:
        cmp = compare_audits(s, "many1", "many2")
    assert len(cmp.rose) == 12 and len(cmp.fell) == 12
    doc = LexborHTMLParser(render_comparison(cmp, tmp_path).read_text(encoding="utf-8"))
    for key in ("rose", "fell"):
        item = doc.css_first(f"#sum-{key}")
        folded = item.css_first("details.more")
        assert folded is not None and "and 2 more" in folded.text()
        shown = item.text().replace(folded.text(), "")
        assert shown.count("→") == 10 and folded.text().count("→") == 2


def test_bump_chart_labels_are_cut_to_fit_and_keep_the_whole_name() -> None:
    from pipeline.report.compare_page import fit_label

    long_name = "0561 com.example.averyveryverylongpackagename.reader"
    ranks = {"a": {"x": (long_name, 1, 80.0)}, "b": {"x": (long_name, 1, 81.0)}}
    svg = bump_chart_from_ranks(["a", "b"], ranks)
    assert fit_label(long_name).endswith("…") and len(fit_label(long_name)) < len(long_name)
    assert f"<title>{long_name}</title>{fit_label(long_name)}</text>" in svg
    assert fit_label("Alpha") == "Alpha" and fit_label("腾讯视频") == "腾讯视频"
    assert fit_label("很" * 40).count("很") <= 12  # wide characters take twice the room
