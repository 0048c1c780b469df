"""Human review: overriding one criterion with a note, the score with overrides applied, the report
showing machine result + review, and overrides surviving a re-run of the same audit label."""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from pipeline.errors import StoreError
from pipeline.records import CriterionResult, GradeStatus, Level
from pipeline.report.review import (
    EmptyNoteError,
    InvalidLevelError,
    NotReviewableError,
    UnknownCriterionError,
    UnknownServiceError,
    apply_overrides,
    effective_score,
    overrides_for,
    points_for,
    set_override,
)
from pipeline.report.site import render_report
from pipeline.serve.localserver import Route, serve
from pipeline.settings import Settings
from pipeline.store import db, queries, tables


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_{name}", Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


C = _load("test_compare")  # the two hand-written audits y1, y2


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = db.make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    C.save_audit(eng, "y1", C.Y1, C.rubric())
    yield eng
    eng.dispose()


def _machine(engine: Engine, sid: str, cid: str) -> CriterionResult:
    with db.session_scope(engine) as s:
        svc = next(r for r in queries.load_report(s, "y1", with_text=False).services if r.target.id == sid)
    return next(c for c in svc.criteria if c.criterion_id == cid)


def test_points_follow_the_graders_credit_scale() -> None:
    assert [points_for(6, lv) for lv in ("full", "partial", "none")] == [6, 3, 0]
    with pytest.raises(InvalidLevelError, match="'half' is not one of full, partial, none"):
        points_for(6, "half")


def test_effective_score_applies_overrides_like_the_grader() -> None:
    crit = [
        CriterionResult("a", Level.FULL, 6.0, 6.0, "x.v1"),
        CriterionResult("b", Level.NONE, 0.0, 4.0, "x.v1"),
        CriterionResult("c", Level.PARTIAL, 2.5, 5.0, "x.v1"),
    ]
    assert effective_score(crit, {}) == 8.5
    assert effective_score(crit, {"a": "partial", "b": Level.FULL}) == 3.0 + 4.0 + 2.5
    assert effective_score(crit, {"c": "none"}) == 6.0


@pytest.mark.parametrize(
    ("service", "criterion", "level", "note", "error", "message"),
    [
        ("nobody", "retention_period", "partial", "why", UnknownServiceError, "service 'nobody' is not in audit 'y1'"),
        ("tinkerbox", "made_up", "partial", "why", UnknownCriterionError, "criterion 'made_up' has no result for 'tinkerbox'"),
        ("tinkerbox", "retention_period", "most", "why", InvalidLevelError, "level 'most' is not one of"),
        ("tinkerbox", "retention_period", "partial", "  ", EmptyNoteError, "needs a note"),
        ("newleaf", "retention_period", "partial", "why", NotReviewableError, "status no_policy"),
    ],
)
def test_set_override_refuses_bad_input_with_a_clear_message(
    engine: Engine, service: str, criterion: str, level: str, note: str, error: type[Exception], message: str
) -> None:
    with db.session_scope(engine) as s:
        with pytest.raises(error, match=message):
            set_override(s, "y1", service, criterion, level, note, "lin")
        assert overrides_for(s, "y1") == {}


def test_set_override_on_unknown_audit_names_the_known_ones(engine: Engine) -> None:
    with db.session_scope(engine) as s, pytest.raises(StoreError, match=r"no audit labelled '2030'.*y1"):
        set_override(s, "2030", "tinkerbox", "retention_period", "full", "why")


def test_override_replaces_an_earlier_one_and_keeps_the_machine_result(engine: Engine) -> None:
    machine = _machine(engine, "brightpath", "retention_period")
    assert machine.level == Level.FULL
    with db.session_scope(engine) as s:
        set_override(s, "y1", "brightpath", "retention_period", "none", "first look", "lin")
        row = set_override(s, "y1", "brightpath", "retention_period", "partial", "only order records have a period", "wei")
        reviews = overrides_for(s, "y1")
    assert row.level == "partial" and row.reviewer == "wei"
    assert list(reviews) == [("brightpath", "retention_period")]
    r = reviews[("brightpath", "retention_period")]
    assert (r.level, r.machine_level, r.machine_points, r.note) == (Level.PARTIAL, Level.FULL, machine.points, "only order records have a period")
    assert r.points == machine.weight / 2 and r.changes_result and not r.regraded_after_review


def test_apply_overrides_recomputes_score_tier_and_rank(engine: Engine) -> None:
    rub = C.rubric()
    with db.session_scope(engine) as s:
        before = {r.target.id: r for r in queries.load_report(s, "y1", with_text=False).services}
        weights = {c.id: c.weight for c in rub.criteria}
        # push the lowest-ranked assessed service above the others
        low = max((r for r in before.values() if r.status == GradeStatus.ASSESSED), key=lambda r: r.rank)
        for c in low.criteria:
            if c.level != Level.FULL:
                set_override(s, "y1", low.target.id, c.criterion_id, "full", "checked by hand", "lin")
        after = apply_overrides(queries.load_report(s, "y1", with_text=False), overrides_for(s, "y1"), rub)
    top = after.services[0]
    assert top.target.id == low.target.id and top.rank == 1
    assert top.score == round(sum(weights.values()), 1) == 100.0 and top.tier == rub.tiers[0].id
    assert all(c.level == Level.FULL for c in top.criteria)
    untouched = {r.target.id: r for r in after.services}["brightpath"]
    assert untouched.score == before["brightpath"].score and untouched.criteria == before["brightpath"].criteria


def test_report_shows_machine_result_override_reviewer_and_note(engine: Engine, tmp_path: Path) -> None:
    rub = C.rubric()
    with db.session_scope(engine) as s:
        set_override(s, "y1", "brightpath", "retention_period", "partial", "the <b>six-year</b> rule covers orders only", "Lin <Wei>")
        report = queries.load_report(s, "y1")
        reviews = overrides_for(s, "y1")
    index = render_report(report, rub, tmp_path / "site", overrides=reviews, nav_links=[("../cmp/compare.html", "y0 → y1")])
    page = (tmp_path / "site" / "services" / "brightpath.html").read_text(encoding="utf-8")
    machine = next(r for r in report.services if r.target.id == "brightpath")
    weight = next(c.weight for c in rub.criteria if c.id == "retention_period")
    assert 'class="machine-level"' in page and "reviewed level level-partial" in page
    assert "Lin &lt;Wei&gt;" in page and "the &lt;b&gt;six-year&lt;/b&gt; rule covers orders only" in page
    assert f"{machine.score:g} / 100" in page  # machine score shown beside the reviewed one
    assert f"{machine.score - weight / 2:g} / 100" in page
    scores = {row["service_id"]: row for row in csv.DictReader((tmp_path / "site" / "scores.csv").open(encoding="utf-8-sig"))}
    assert float(scores["brightpath"]["score"]) == machine.score - weight / 2
    assert 'href="../cmp/compare.html"' in index.read_text(encoding="utf-8")


def test_report_without_overrides_is_unchanged(engine: Engine, tmp_path: Path) -> None:
    rub = C.rubric()
    with db.session_scope(engine) as s:
        report = queries.load_report(s, "y1")
    render_report(report, rub, tmp_path / "a")
    render_report(report, rub, tmp_path / "b", overrides={})
    for name in ("index.html", "services/brightpath.html", "scores.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert "machine-level" not in (tmp_path / "a" / "services" / "brightpath.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_overrides_survive_rerunning_the_same_audit_label(tmp_path: Path) -> None:
    from pipeline.run.audit import run_audit

    routes = {
        "/robots.txt": Route(b"User-agent: *\nAllow: /\n", content_type="text/plain"),
        "/bright.md": Route(C.STEADY.encode(), content_type="text/markdown; charset=utf-8"),
        "/tinker.md": Route(C.VAGUE.encode(), content_type="text/markdown; charset=utf-8"),
    }
    settings = Settings(data_dir=tmp_path / "data", allow_private=True, use_classifier=False)
    with serve(routes) as base:
        targets = tmp_path / "targets.csv"
        targets.write_text(
            "id,name,kind,sector,region,policy_url,homepage\n"
            f"brightpath,Brightpath,site,shop,,{base}/bright.md,\n"
            f"tinkerbox,Tinkerbox,site,tools,,{base}/tinker.md,\n",
            encoding="utf-8",
        )
        run_audit(targets, "2026", settings)
        engine = db.make_engine(settings.db_url)
        with db.session_scope(engine) as s:
            set_override(s, "2026", "brightpath", "retention_period", "partial", "orders only", "lin")
            first = overrides_for(s, "2026")[("brightpath", "retention_period")]
        run_audit(targets, "2026", settings)  # resume: nothing redone
        run_audit(targets, "2026", settings, refresh=True)  # everything fetched and graded again
    with db.session_scope(engine) as s:
        reviews = overrides_for(s, "2026")
        report = queries.load_report(s, "2026", with_text=False)
        assert len(s.exec(select(tables.Override)).all()) == 1
    engine.dispose()
    again = reviews[("brightpath", "retention_period")]
    assert (again.level, again.note, again.reviewer, again.created_at) == (first.level, first.note, first.reviewer, first.created_at)
    assert again.machine_level == Level.FULL and again.regraded_after_review  # re-graded after the review
    reviewed = apply_overrides(report, reviews, C.rubric())
    b = {r.target.id: r for r in reviewed.services}["brightpath"]
    m = {r.target.id: r for r in report.services}["brightpath"]
    assert b.score == round(sum(c.points for c in m.criteria) - again.weight / 2, 1)  # from the unrounded points
