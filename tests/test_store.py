"""Store: real SQLite files; writing a service twice replaces, never duplicates; ranks tie fairly."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from pipeline.errors import StoreError
from pipeline.records import (
    CriterionResult,
    Evidence,
    FetchOutcome,
    FetchResult,
    Grade,
    GradeStatus,
    Level,
    PolicyText,
    Segment,
    Target,
)
from pipeline.store import db, queries, save, tables

TEXT = "We keep your data for 30 days. Contact privacy@example.org."


def _target(i: str) -> Target:
    return Target(id=i, name=f"Service {i}", kind="site", sector="news", policy_url=f"https://{i}.example/privacy")


def _fetch(sha: str | None, outcome: FetchOutcome = FetchOutcome.OK) -> FetchResult:
    return FetchResult(requested_url="https://x.example/p", outcome=outcome, fetched_at=datetime.now(UTC), sha256=sha, size=len(TEXT))


def _grade(score: float | None, status: GradeStatus = GradeStatus.ASSESSED) -> Grade:
    ev = Evidence(segment_index=0, start=0, end=30, quote=TEXT[:30], method="retention_period.v1")
    crit = CriterionResult("retention_period", Level.FULL, 6.0, 6.0, "retention_period.v1", (ev,))
    return Grade(status=status, rubric_id="transparency", rubric_version="1.0.0", score=score, tier="low" if score is not None else None, criteria=(crit,) if score else ())


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'a.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    eng = db.make_engine(url)
    yield eng
    eng.dispose()


def _run(engine, label: str = "2026") -> int:
    with db.session_scope(engine) as s:
        save.upsert_services(s, [_target(x) for x in "abcd"])
        return save.start_run(s, label, "transparency", "1.0.0", "sha", None, 4, "t.csv").id  # type: ignore[return-value]


def test_saving_a_service_twice_keeps_one_row_per_table(engine) -> None:
    run_id = _run(engine)
    policy = PolicyText(text=TEXT, language="en")
    segs = [Segment(0, 0, 30, TEXT[:30]), Segment(1, 31, len(TEXT), TEXT[31:])]
    with db.session_scope(engine) as s:
        for _ in range(2):
            save.save_result(s, run_id, _target("a"), _fetch("ab" * 32), _grade(40.0), policy, segs)
        for table in (tables.Snapshot, tables.Score, tables.CriterionRow, tables.Document):
            assert s.exec(select(func.count()).select_from(table)).one() == 1, table.__name__
        assert s.exec(select(func.count()).select_from(tables.SegmentRow)).one() == 2
        assert queries.completed_service_ids(s, run_id) == {"a"}


def test_reopening_a_label_resumes_the_same_run(engine) -> None:
    first = _run(engine)
    assert _run(engine) == first
    with db.session_scope(engine) as s:
        with pytest.raises(StoreError, match="use a new label"):
            save.start_run(s, "2026", "transparency", "2.0.0", "sha", None, 4, "t.csv")


def test_report_ranks_ties_together_and_lists_ungraded_last(engine) -> None:
    run_id = _run(engine)
    with db.session_scope(engine) as s:
        save.save_result(s, run_id, _target("a"), _fetch("aa" * 32), _grade(50.0))
        save.save_result(s, run_id, _target("b"), _fetch("bb" * 32), _grade(70.0))
        save.save_result(s, run_id, _target("c"), _fetch("cc" * 32), _grade(50.0))
        save.save_result(s, run_id, _target("d"), _fetch(None, FetchOutcome.TIMEOUT), _grade(None, GradeStatus.NOT_ASSESSED))
        save.finish_run(s, run_id, {"fetch": 1.0, "wall": 2.0})
        report = queries.load_report(s, "2026")
        run = queries.get_run(s, "2026")
    assert [(x.target.id, x.rank) for x in report.services] == [("b", 1), ("a", 2), ("c", 2), ("d", None)]
    assert (run.n_assessed, run.n_not_assessed, run.status) == (3, 1, "completed")
    a = report.services[1]
    assert a.criteria[0].evidence[0].quote == TEXT[:30] and a.criteria[0].level == Level.FULL
    assert a.archive_path == "aa/" + "aa" * 31


def test_unknown_label_lists_known_ones(engine) -> None:
    _run(engine, "2025")
    with db.session_scope(engine) as s, pytest.raises(StoreError, match="audits: 2025"):
        queries.get_run(s, "2031")


def test_unreachable_database_gives_a_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot use the database"):
        db.make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", retries=2, retry_delay=0.01)


def test_migrations_match_the_table_models(engine) -> None:
    """A change to the tables without an Alembic revision fails here (write one: see README)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_two_workers_migrating_at_once_do_not_collide(pg_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        engines = list(pool.map(lambda _: db.make_engine(pg_url), range(4)))
    for e in engines:
        e.dispose()


def test_upgrading_a_database_with_data_keeps_it(tmp_path: Path) -> None:
    """A database made by revision 0001 with rows in it upgrades to the newest schema without loss."""
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_engine(url)
    db.migrate(old, "0001")
    with old.begin() as c:
        c.execute(text("INSERT INTO services (id, name, kind, sector, region, updated_at) VALUES ('a', 'A', 'site', '', '', '2025-01-01')"))
        c.execute(text(
            "INSERT INTO audit_runs (id, label, rubric_id, rubric_version, rubric_sha256, status, started_at, n_targets, n_assessed, "
            "n_no_policy, n_not_assessed, n_reused, targets_file) VALUES (1, '2025', 'transparency', '1.0.0', '', 'completed', "
            "'2025-01-01', 1, 1, 0, 0, 0, 't.csv')"
        ))
        c.execute(text(
            "INSERT INTO snapshots (run_id, service_id, requested_url, fetched_at, size, outcome, elapsed_s, discovery_path) "
            "VALUES (1, 'a', 'https://a.example/p', '2025-01-01', 10, 'ok', 0.1, '[]')"
        ))
    old.dispose()
    engine = db.make_engine(url)
    with db.session_scope(engine) as s:
        [snap] = s.exec(select(tables.Snapshot)).all()
        assert snap.requested_url == "https://a.example/p" and snap.retries == 0 and snap.not_modified is False
        assert queries.get_run(s, "2025").n_assessed == 1
    engine.dispose()


def _rows(s, run_id: int) -> dict[str, int]:
    return {
        t.__name__: s.exec(select(func.count()).select_from(t).where(t.run_id == run_id)).one()
        for t in (tables.Snapshot, tables.Score, tables.CriterionRow)
    }


def test_batch_save_writes_the_rows_of_one_at_a_time_saves(engine) -> None:
    run_id = _run(engine)
    policy = PolicyText(text=TEXT, language="en")
    segs = [Segment(0, 0, 30, TEXT[:30]), Segment(1, 31, len(TEXT), TEXT[31:])]
    items = [
        save.ResultItem(_target("a"), _fetch("aa" * 32), _grade(40.0), policy, segs),
        save.ResultItem(_target("b"), _fetch("aa" * 32), _grade(40.0), policy, segs, previous_sha256="bb" * 32),
        save.ResultItem(_target("c"), _fetch(None, FetchOutcome.TIMEOUT), _grade(None, GradeStatus.NOT_ASSESSED)),
    ]
    with db.session_scope(engine) as s:
        for _ in range(2):  # the second batch replaces the first (a resumed or refreshed run)
            save.save_results(s, run_id, items)
        assert _rows(s, run_id) == {"Snapshot": 3, "Score": 3, "CriterionRow": 2}
        assert s.exec(select(func.count()).select_from(tables.Document)).one() == 1  # shared content stored once
        assert s.exec(select(func.count()).select_from(tables.SegmentRow)).one() == 2
        report = queries.load_report(s, "2026")
    by_id = {x.target.id: x for x in report.services}
    assert by_id["a"].criteria == _grade(40.0).criteria
    snap_b = by_id["b"].snapshot
    assert snap_b.sha256 == "aa" * 32
    with db.session_scope(engine) as s:
        changed = s.exec(select(tables.Snapshot.changed).where(tables.Snapshot.service_id == "b")).one()
        score_snap = s.exec(
            select(tables.Snapshot.service_id).join(tables.Score, tables.Score.snapshot_id == tables.Snapshot.id)
            .where(tables.Score.service_id == "c")
        ).one()
    assert changed is True and score_snap == "c"  # each score points at its own snapshot


def test_one_bad_service_in_a_batch_costs_only_itself(engine) -> None:
    run_id = _run(engine)
    unknown = Target(id="not-in-services", name="?", kind="site")  # violates the foreign key
    items = [
        save.ResultItem(_target("a"), _fetch("aa" * 32), _grade(40.0)),
        save.ResultItem(unknown, _fetch("cc" * 32), _grade(40.0)),
        save.ResultItem(_target("b"), _fetch("bb" * 32), _grade(60.0)),
    ]
    with db.session_scope(engine) as s:
        with pytest.raises(Exception):
            save.save_results(s, run_id, items)
        assert queries.completed_service_ids(s, run_id) == {"a", "b"}
        assert _rows(s, run_id) == {"Snapshot": 2, "Score": 2, "CriterionRow": 2}


def test_reusable_grades_match_the_one_at_a_time_lookup(engine) -> None:
    run_id = _run(engine)
    with db.session_scope(engine) as s:
        save.save_results(s, run_id, [
            save.ResultItem(_target("a"), _fetch("aa" * 32), _grade(40.0)),
            save.ResultItem(_target("b"), _fetch("bb" * 32), _grade(60.0)),
            save.ResultItem(_target("c"), _fetch("cc" * 32), _grade(None, GradeStatus.NOT_ASSESSED)),
        ])
        wanted = {"aa" * 32: None, "bb" * 32: "en@9", "cc" * 32: None, "dd" * 32: None}
        many = queries.reusable_grades(s, wanted, "transparency", "1.0.0")
        one = {sha: queries.reusable_grade(s, sha, "transparency", "1.0.0", mv) for sha, mv in wanted.items()}
    assert many == {sha: g for sha, g in one.items() if g is not None}
    assert set(many) == {"aa" * 32}  # wrong model version, not assessed and unknown content are not reused
    assert many["aa" * 32][0].criteria == _grade(40.0).criteria


def test_a_reused_grade_is_stored_by_copying_its_criterion_rows(engine) -> None:
    ev = [Evidence(segment_index=i, start=i, end=i + 9, quote=TEXT[i : i + 9], method="lexicon.v1", probability=0.5 + i / 10)
          for i in range(3)]
    crit = tuple(  # not in alphabetical order: the copy must keep the stored order
        CriterionResult(cid, Level.PARTIAL, 2.0, 4.0, "lexicon.v1", (ev[k],) if k else (), note=f"n{k}")
        for k, cid in enumerate(("zeta", "alpha", "mid"))
    )
    graded = Grade(status=GradeStatus.ASSESSED, rubric_id="transparency", rubric_version="1.0.0", score=50.0,
                   tier="low", criteria=crit, model_version="en@1")
    first = _run(engine, "2025")
    with db.session_scope(engine) as s:
        save.save_results(s, first, [save.ResultItem(_target("a"), _fetch("aa" * 32), graded)])
    second = _run(engine, "2026")
    with db.session_scope(engine) as s:
        found = queries.reusable_scores(s, {"aa" * 32: "en@1"}, "transparency", "1.0.0")["aa" * 32]
        assert (found.run_id, found.service_id, found.grade.criteria) == (first, "a", ())
        save.save_results(s, second, [  # the same content served by another service, beside a fresh grade
            save.ResultItem(_target("b"), _fetch("aa" * 32), found.grade, reused_from_run=first,
                             criteria_from=(found.run_id, found.service_id)),
            save.ResultItem(_target("c"), _fetch("cc" * 32), _grade(30.0)),
        ])
        report = {r.target.id: r for r in queries.load_report(s, "2026", with_text=False).services}
        assert queries.reusable_grades(s, {"aa" * 32: "en@1"}, "transparency", "1.0.0")["aa" * 32] == (graded, second)
    assert report["b"].criteria == crit and report["b"].score == 50.0
    assert report["c"].criteria == _grade(30.0).criteria
    with db.session_scope(engine) as s:  # a refreshed run reusing its own rows, which the save replaces
        save.save_results(s, second, [
            save.ResultItem(_target(x), _fetch("aa" * 32), found.grade, reused_from_run=second, criteria_from=(second, "b"))
            for x in ("b", "d")
        ])
        again = {r.target.id: r for r in queries.load_report(s, "2026", with_text=False).services}
        assert _rows(s, second) == {"Snapshot": 3, "Score": 3, "CriterionRow": 3 + 3 + 1}
    assert again["b"].criteria == again["d"].criteria == crit
