"""The audit flow's batches on a local Dask cluster of several processes (prefect-dask's task runner)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.demo import demo_server, write_targets
from pipeline.settings import Settings
from pipeline.store import db, queries


@pytest.mark.slow
def test_flow_on_a_local_dask_cluster_grades_like_the_local_run(tmp_path: Path, prefect_harness: None) -> None:
    from dask.distributed import LocalCluster
    from prefect_dask import DaskTaskRunner

    from pipeline.run.flows import audit

    overrides = {"data_dir": str(tmp_path), "allow_private": True, "use_classifier": False, "batch_size": 3}
    with demo_server() as base, LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        targets = write_targets(base, tmp_path / "targets.csv")
        flow = audit.with_options(task_runner=DaskTaskRunner(address=cluster.scheduler_address))
        summary = flow(str(targets), "dask", overrides, distributed=True)
        local = audit(str(targets), "local", overrides)
    assert summary["status"] == "completed"
    assert (summary["n_assessed"], summary["n_no_policy"], summary["n_not_assessed"]) == (7, 1, 1)
    engine = db.make_engine(Settings(**overrides).db_url)
    with db.session_scope(engine) as s:
        a = {r.target.id: (r.status, r.score, r.tier) for r in queries.load_report(s, "dask").services}
        b = {r.target.id: (r.status, r.score, r.tier) for r in queries.load_report(s, "local").services}
    assert a == b and len(a) == 9
    assert local["n_reused"] == 7  # the second audit reused the unchanged content graded on the cluster
