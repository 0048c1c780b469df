"""The rendered report in a real headless Chromium, opened from disk (file://, no network).

Needs Debian's ``chromium`` (``apt-get install -y chromium``) and the ``playwright`` Python
package (``pip install playwright``; its own browser download is never used: we launch
/usr/bin/chromium). Screenshots go to ``test-artifacts/`` (gitignored).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from .conftest import CHROMIUM  # the browser fixture is in conftest.py

pytestmark = pytest.mark.slow  # a real browser: ~10 s for the module (each test under 2 s)
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium", allow_module_level=True)
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed: pip install playwright (no 'playwright install')"
)


def _samples() -> ModuleType:
    """The hand-built audit of tests/test_report.py, loaded by path (works in any import mode)."""
    spec = importlib.util.spec_from_file_location("_report_samples", Path(__file__).with_name("test_report.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


S = _samples()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("browser-report")
    archive = base / "archive"
    S.write_archive(archive, S.ALPHA_HTML)
    S.write_archive(archive, S.HOSTILE_HTML)
    return S.render_report(S.sample_report(), S.sample_rubric(), base / "site", archive).parent


class Watched:
    """A page with its console errors, uncaught exceptions and dialogs recorded."""

    def __init__(self, browser: object) -> None:
        self.page = browser.new_page(viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: object) -> None:
        self.dialogs.append(dialog.message)  # type: ignore[attr-defined]
        dialog.dismiss()  # type: ignore[attr-defined]

    def open(self, path: Path) -> None:
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")


@pytest.fixture
def watched(browser: object) -> Iterator[Watched]:
    w = Watched(browser)
    yield w
    w.page.close()


def screenshot(w: Watched, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    w.page.screenshot(path=str(ARTIFACTS / f"report-{name}.png"), full_page=True)


def ranked_ids(w: Watched, visible_only: bool = False) -> list[str]:
    script = "(rows, vis) => rows.filter(r => !vis || !r.hidden).map(r => r.dataset.serviceId)"
    return w.page.eval_on_selector_all("#ranked tbody tr", script, visible_only)


def scores(w: Watched) -> list[float]:
    return w.page.eval_on_selector_all(
        "#ranked tbody tr td.score", "cells => cells.map(c => parseFloat(c.dataset.value))"
    )


def test_index_opens_from_disk_without_console_errors(site: Path, watched: Watched) -> None:
    watched.open(site / "index.html")
    assert watched.page.title().startswith("sample-2026")
    assert watched.page.locator("#filters").is_visible()  # the script ran and un-hid the filters
    screenshot(watched, "index")
    assert watched.errors == []


def test_sorting_by_score_orders_rows_both_ways(site: Path, watched: Watched) -> None:
    watched.open(site / "index.html")
    header = watched.page.locator("#ranked thead th", has_text="Score")
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "descending"
    assert scores(watched) == [75, 45, 25, 0, 0]
    assert ranked_ids(watched)[0] == "alpha-bank"
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert scores(watched) == [0, 0, 25, 45, 75]
    assert ranked_ids(watched)[-1] == "alpha-bank"
    watched.page.locator("#ranked thead th", has_text="Rank").locator("button").click()
    assert ranked_ids(watched) == ["alpha-bank", "evil<script>", "Shop/β?x=1&y=<2>", "empty-words", "ghost-app"]
    assert watched.errors == []


def test_filtering_by_sector_and_tier_hides_other_rows(site: Path, watched: Watched) -> None:
    watched.open(site / "index.html")
    watched.page.select_option("#filter-sector", "ecommerce")
    assert ranked_ids(watched, visible_only=True) == ["Shop/β?x=1&y=<2>", "empty-words"]
    assert watched.page.locator("#unassessed tbody tr").first.is_hidden()
    assert watched.page.locator("#filter-count").text_content() == "2 / 6"
    watched.page.select_option("#filter-tier", "low")
    assert ranked_ids(watched, visible_only=True) == ["empty-words"]
    watched.page.select_option("#filter-sector", "social")
    assert ranked_ids(watched, visible_only=True) == ["ghost-app"]
    watched.page.select_option("#filter-tier", "")
    assert watched.page.locator("#unassessed tbody tr").first.is_visible()  # blocked-site is social
    screenshot(watched, "index-filtered")
    assert watched.errors == []


def test_charts_render_as_svg(site: Path, watched: Watched) -> None:
    watched.open(site / "index.html")
    charts = watched.page.locator("svg.chart")
    assert charts.count() == 2
    for i in range(2):
        box = charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 60
    widest = max(
        watched.page.locator("svg.chart").first.locator("rect").nth(i).bounding_box()["width"] for i in range(6)
    )
    assert widest > 100  # the "low" bar (2 services) is drawn at full scale


def test_service_page_marks_are_visible_and_linked(site: Path, watched: Watched) -> None:
    watched.open(site / "services" / f"{S.safe_name('alpha-bank')}.html")
    marks = watched.page.locator(".policy-text mark")
    assert marks.count() == 4
    assert all(marks.nth(i).is_visible() for i in range(marks.count()))
    link = watched.page.locator("ol.evidence a").first
    anchor = link.get_attribute("href")
    link.click()
    assert watched.page.url.endswith(anchor)
    assert watched.page.locator(f"mark{anchor}").text_content() == "We collect your name, phone number and account details"
    screenshot(watched, "service")
    assert watched.errors == []


def test_hostile_service_page_runs_no_injected_script(site: Path, watched: Watched) -> None:
    watched.open(site / "services" / f"{S.safe_name('evil<script>')}.html")
    watched.page.hover(".policy-text")
    watched.page.locator(".policy-text mark").last.click()
    watched.page.wait_for_timeout(300)
    assert watched.dialogs == []
    assert watched.page.locator("script").count() == 1
    assert watched.page.locator("img, .policy-text a").count() == 0
    text = watched.page.locator(".policy-text").text_content()
    assert S.HOSTILE_SCRIPT in text and S.HOSTILE_IMG in text and S.HOSTILE_LINK in text
    screenshot(watched, "hostile")
    assert watched.errors == []


def test_archived_snapshot_opens_as_plain_text(site: Path, watched: Watched) -> None:
    watched.open(site / "services" / f"{S.safe_name('evil<script>')}.html")
    watched.page.locator("a.snapshot-link").click()
    watched.page.wait_for_load_state("load")
    assert watched.page.url.endswith(".txt")
    assert watched.page.locator("script, img").count() == 0  # shown as text, not parsed as HTML
    assert "<script>alert(1)</script>" in watched.page.locator("body").text_content()
    assert watched.dialogs == []

