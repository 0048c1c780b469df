"""The audit end to end: real HTTP on 127.0.0.1, real SQLite, a real Prefect flow run."""

from __future__ import annotations

from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser
from sqlalchemy import func
from sqlmodel import select

from pipeline.demo import (
    EXPECTED_NO_POLICY,
    EXPECTED_NOT_ASSESSED,
    EXPECTED_ORDER_EN,
    EXPECTED_ORDER_ZH,
    demo_server,
    write_targets,
)
from pipeline.grade.rubric import load_rubric
from pipeline.records import GradeStatus
from pipeline.settings import Settings
from pipeline.store import db, queries, tables


def _overrides(tmp_path: Path) -> dict:
    return {"data_dir": str(tmp_path), "allow_private": True, "use_classifier": False}


def _check_demo_results(settings: Settings) -> None:
    engine = db.make_engine(settings.db_url)
    rubric = load_rubric(settings.rubric)
    with db.session_scope(engine) as s:
        report = queries.load_report(s, "demo")
    engine.dispose()
    by_id = {r.target.id: r for r in report.services}
    assert len(by_id) == 9
    for order in (EXPECTED_ORDER_EN, EXPECTED_ORDER_ZH):
        scores = [by_id[i].score for i in order]
        assert all(x is not None for x in scores)
        assert scores == sorted(scores, reverse=True) and len(set(scores)) == 3, scores
    tier_rank = {t.id: i for i, t in enumerate(rubric.tiers)}
    # the thorough policies sit at least two tiers above the vague ones
    assert tier_rank[by_id["vaguecorp"].tier] - tier_rank[by_id["acme-notes"].tier] >= 2
    assert tier_rank[by_id["youxuan"].tier] - tier_rank[by_id["chenguang"].tier] >= 2
    for sid in EXPECTED_NO_POLICY:
        assert by_id[sid].status == GradeStatus.NO_POLICY and by_id[sid].score == 0 and by_id[sid].tier == rubric.lowest_tier.id
    for sid in EXPECTED_NOT_ASSESSED:
        assert by_id[sid].status == GradeStatus.NOT_ASSESSED and by_id[sid].score is None and by_id[sid].rank is None
    weilan = by_id["weilan"]
    assert weilan.status == GradeStatus.ASSESSED and weilan.snapshot and weilan.snapshot.final_url.endswith("/weilan/legal/privacy-policy")
    assert len(weilan.snapshot.discovery_path) >= 2
    # GBK page with the charset only in <meta>: GB18030-only characters survive
    assert by_id["youxuan"].text and "朱镕" in by_id["youxuan"].text and "王喆" in by_id["youxuan"].text
    for r in report.services:
        for c in r.criteria:
            for e in c.evidence:
                assert r.text is not None and r.text[e.start : e.end] == e.quote


@pytest.mark.slow
def test_audit_flow_ranks_demo_services_as_constructed(tmp_path: Path, prefect_harness: None) -> None:
    from pipeline.run.flows import audit

    with demo_server() as base:
        targets = write_targets(base, tmp_path / "targets.csv")
        summary = audit(str(targets), "demo", _overrides(tmp_path))
        assert (summary["n_targets"], summary["n_assessed"], summary["n_no_policy"], summary["n_not_assessed"]) == (9, 7, 1, 1)
        _check_demo_results(Settings(**_overrides(tmp_path)))
        # running the same audit again resumes: nothing is redone, nothing duplicated
        again = audit(str(targets), "demo", _overrides(tmp_path))
        assert again["n_assessed"] == 7
        engine = db.make_engine(Settings(**_overrides(tmp_path)).db_url)
        with db.session_scope(engine) as s:
            for table in (tables.Snapshot, tables.Score):
                assert s.exec(select(func.count()).select_from(table)).one() == 9
        # --refresh redoes everything, still without duplicates
        audit(str(targets), "demo", _overrides(tmp_path), refresh=True)
        with db.session_scope(engine) as s:
            assert s.exec(select(func.count()).select_from(tables.Score)).one() == 9
            assert s.exec(select(func.count()).select_from(tables.Document)).one() == 7
        engine.dispose()


def test_direct_run_matches_and_report_escapes(tmp_path: Path) -> None:
    from pipeline.cli import _render
    from pipeline.run.audit import run_audit

    settings = Settings(**_overrides(tmp_path))
    with demo_server() as base:
        run = run_audit(write_targets(base, tmp_path / "targets.csv"), "demo", settings)
    assert run.status == "completed" and run.n_targets == 9
    _check_demo_results(settings)
    index = _render("demo", tmp_path / "report", settings)
    html = LexborHTMLParser(index.read_text(encoding="utf-8"))
    names = [n.text(strip=True) for n in html.css("table td a")]
    assert any("Acme Notes" in n for n in names)
