"""Several workers, one audit, one PostgreSQL database: exactly the rows one worker would write."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlmodel import select

from pipeline.demo import demo_server, write_targets
from pipeline.errors import PolicyAuditError
from pipeline.run.audit import in_shard, parse_shard, run_audit
from pipeline.settings import Settings
from pipeline.store import db, queries, tables


def _rows(url: str, label: str) -> dict[str, list[tuple]]:
    engine = db.make_engine(url)
    with db.session_scope(engine) as s:
        run = queries.get_run(s, label)
        out = {
            "scores": sorted((r.service_id, r.status, r.score, r.tier, r.reason.split(" from http")[0]) for r in s.exec(select(tables.Score).where(tables.Score.run_id == run.id))),
            "criteria": sorted((r.service_id, r.criterion_id, r.level, r.points, tuple(e["quote"] for e in r.evidence)) for r in s.exec(select(tables.CriterionRow).where(tables.CriterionRow.run_id == run.id))),
            "snapshots": sorted((r.service_id, r.sha256, r.outcome) for r in s.exec(select(tables.Snapshot).where(tables.Snapshot.run_id == run.id))),
            "documents": sorted((d.sha256, d.n_segments) for d in s.exec(select(tables.Document))),
            "run": [(run.n_targets, run.n_assessed, run.n_no_policy, run.n_not_assessed)],
        }
    engine.dispose()
    return out


def test_shards_split_a_list_disjointly_and_completely() -> None:
    ids = [f"svc-{i}" for i in range(200)]
    parts = [{i for i in ids if in_shard(i, (k, 3))} for k in (1, 2, 3)]
    assert set().union(*parts) == set(ids) and sum(map(len, parts)) == len(ids)
    assert all(len(p) > 30 for p in parts)
    with pytest.raises(PolicyAuditError, match="K/N"):
        parse_shard("half")
    with pytest.raises(PolicyAuditError, match="between 1 and N"):
        parse_shard("3/2")


@pytest.mark.slow
def test_two_workers_on_postgresql_write_what_one_worker_writes(tmp_path: Path, pg_url: str) -> None:
    from sqlalchemy import create_engine, text

    one_url = pg_url + "_one"
    admin = create_engine(pg_url.rsplit("/", 1)[0] + "/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{one_url.rsplit("/", 1)[1]}"'))
    try:
        with demo_server() as base:
            targets = write_targets(base, tmp_path / "targets.csv")
            common = {"allow_private": True, "use_classifier": False}
            single = Settings(data_dir=tmp_path / "one", database_url=one_url, **common)
            run_audit(targets, "2026", single)
            shared = Settings(data_dir=tmp_path / "two", database_url=pg_url, **common)
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda k: run_audit(targets, "2026", shared, shard=f"{k}/2"), (1, 2)))
        one, two = _rows(one_url, "2026"), _rows(pg_url, "2026")
        assert one["run"] == [(9, 7, 1, 1)]
        assert two == one
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{one_url.rsplit("/", 1)[1]}" WITH (FORCE)'))
        admin.dispose()


def test_a_shard_finishing_first_leaves_the_audit_incomplete(tmp_path: Path) -> None:
    with demo_server() as base:
        targets = write_targets(base, tmp_path / "targets.csv")
        settings = Settings(data_dir=tmp_path, allow_private=True, use_classifier=False)
        first = run_audit(targets, "2026", settings, shard="1/2")
        assert first.status == "incomplete" and 0 < first.n_assessed + first.n_no_policy + first.n_not_assessed < 9
        second = run_audit(targets, "2026", settings, shard="2/2")
    assert second.status == "completed" and second.n_assessed + second.n_no_policy + second.n_not_assessed == 9
