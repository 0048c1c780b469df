"""The newsroom workflow's pages in a real headless Chromium at 1400 px: audit -> review -> report ->
compare, opened from disk. No page scrolls sideways, Chinese text is drawn with a real CJK font from
the report's font stack (never empty boxes), and no output names a path of this machine.

Screenshots go to ``test-artifacts/newsroom/``; with ``POLICYAUDIT_DOCS_SCREENSHOTS=1`` they are
written to ``docs/newsroom/`` too (the README's workflow section shows them).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.demo import demo_server, write_targets
from pipeline.run.audit import run_audit
from pipeline.settings import Settings

from .conftest import CHROMIUM, REPO  # the browser fixture is in conftest.py

WIDTH = 1400
pytestmark = pytest.mark.slow
ARTIFACTS = REPO / "test-artifacts" / "newsroom"
DOCS = REPO / "docs" / "newsroom"
CSS = REPO / "reports" / "static" / "report.css"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install playwright")


@pytest.fixture(scope="module")
def workflow(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """audit (two years) -> review -> report -> compare, as a newsroom runs them."""
    base = tmp_path_factory.mktemp("newsroom-site")
    data = base / "data"
    settings = Settings(data_dir=data, allow_private=True, use_classifier=False)
    with demo_server() as url:
        targets = write_targets(url, data / "targets.csv")
        for label in ("2025", "2026"):
            run_audit(targets, label, settings)
    runner = CliRunner()
    for args in (
        ["review", "vaguecorp", "retention_period", "--label", "2026", "--set", "partial", "--note", "backups only",
         "--reviewer", "desk", "--data-dir", str(data)],
        ["report", "--label", "2026", "--out", str(base / "site"), "--data-dir", str(data)],
        ["compare", "2025", "2026", "--regrade", "--no-classifier", "--out", str(base / "site" / "compare"), "--data-dir", str(data)],
        ["export", "--label", "2026", "--format", "json", "--out", str(base / "site" / "2026.json"), "--data-dir", str(data)],
        ["export", "--label", "2026", "--format", "md", "--out", str(base / "site" / "2026.md"), "--data-dir", str(data)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    site = base / "site"
    return {
        "base": base,
        "site": site,
        "index": site / "index.html",
        "service": next(site.glob("services/chenguang*.html")),
        "methodology": site / "methodology.html",
        "compare": site / "compare" / "compare.html",
    }


def _stack() -> list[str]:
    """Font families named by the report's body font stack."""
    body = re.search(r"body \{.*?font: [^;]*?/1\.55 (.*?);", CSS.read_text(encoding="utf-8"), re.S)
    assert body is not None
    return [f.strip().strip('"') for f in body.group(1).replace("\n", " ").split(",")]


def _fonts_for(page: object, selector: str) -> list[dict]:
    """The platform fonts Chromium actually used to draw ``selector``'s text (DevTools CSS domain)."""
    cdp = page.context.new_cdp_session(page)  # type: ignore[attr-defined]
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    assert node, selector
    return cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]


PAGES = {
    # page -> an element holding Chinese text
    "index": "h1",
    "service": "h1",
    "methodology": "h1",
    "compare": "h1",
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_fits_1400px_and_draws_chinese_with_a_cjk_font(name: str, workflow: dict[str, Path], browser: object) -> None:
    page = browser.new_page(viewport={"width": WIDTH, "height": 1000})  # type: ignore[attr-defined]
    try:
        page.goto(workflow[name].as_uri())
        page.wait_for_load_state("load")
        overflow = page.evaluate(
            "() => ({doc: document.documentElement.scrollWidth, view: window.innerWidth,"
            " wide: [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
            ".slice(0, 3).map(e => e.tagName + '.' + e.className + ': ' + e.textContent.slice(0, 40))})"
        )
        assert overflow["doc"] <= overflow["view"], f"{name} scrolls sideways: {overflow}"
        boxes = page.evaluate(  # nor does any table inside its own scrolling box
            "() => [...document.querySelectorAll('table')].map(t => [t.id || t.className, t.scrollWidth, t.parentElement.clientWidth])"
        )
        assert all(w <= room + 1 for _, w, room in boxes), f"{name}: tables wider than their box: {boxes}"
        text = page.inner_text(PAGES[name])
        assert re.search(r"[\u4e00-\u9fff]", text), f"{name}: no Chinese in {PAGES[name]!r}: {text!r}"
        fonts = _fonts_for(page, PAGES[name])
        cjk = [f for f in fonts if f["familyName"] in _stack() and f["glyphCount"] > 0]
        assert any(re.search(r"CJK|Hei|Han|Song|PingFang|YaHei|WenQuanYi|Droid Sans Fallback", f["familyName"]) for f in cjk), fonts
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(shot), full_page=False)
        if os.environ.get("POLICYAUDIT_DOCS_SCREENSHOTS"):
            DOCS.mkdir(parents=True, exist_ok=True)
            (DOCS / shot.name).write_bytes(shot.read_bytes())
    finally:
        page.close()


def test_no_output_names_a_path_of_this_machine(workflow: dict[str, Path]) -> None:
    local = {str(workflow["base"]), str(REPO), str(Path.home()), str(Path(os.environ.get("TMPDIR", "/tmp")))}
    local |= {str(Path(p).resolve()) for p in list(local)}
    pattern = re.compile("|".join(re.escape(p) for p in sorted(local, key=len, reverse=True) if p not in ("/", "")))
    files = [p for p in workflow["site"].rglob("*") if p.is_file() and p.suffix in (".html", ".csv", ".md", ".json", ".txt", ".js", ".css")]
    assert len(files) > 15
    leaks = []
    for path in files:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        for m in pattern.finditer(text):
            leaks.append(f"{path.relative_to(workflow['site'])}: …{text[max(0, m.start() - 40):m.end() + 20]}…")
    assert not leaks, "\n".join(leaks[:10])


def test_methodology_names_the_rubric_by_id_version_and_sha256(workflow: dict[str, Path]) -> None:
    from pipeline.grade.rubric import load_rubric, rubric_fingerprint

    html = workflow["methodology"].read_text(encoding="utf-8")
    rubric = load_rubric(Settings().rubric)
    assert rubric_fingerprint(rubric) in html and rubric.version in html and rubric.id in html
    assert "transparency.v2.yaml" not in html
