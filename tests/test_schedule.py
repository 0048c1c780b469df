"""A real Prefect server and a served deployment: the schedule fires, each run is its own audit."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from pipeline.demo import demo_server, write_targets
from pipeline.run.flows import scheduled_label
from pipeline.settings import Settings
from pipeline.store import db, queries, tables

from .conftest import REPO


def test_scheduled_label_is_prefix_and_start_time() -> None:
    from datetime import UTC, datetime

    assert scheduled_label("weekly-", datetime(2026, 11, 23, 3, 0, tzinfo=UTC)) == "weekly-2026-11-23T030000"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1.0)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.mark.slow
def test_schedule_fires_twice_with_distinct_labels(tmp_path: Path) -> None:
    """Each run is its own audit, writes its report (one folder per run plus latest/) and logs one
    line; SIGTERM stops the schedule without Prefect's 'coroutine was never awaited' warning."""
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": api,
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_UI_ENABLED": "false",
    }
    server_env = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
    prefect = Path(sys.executable).parent / "prefect"
    server = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    served = None
    try:
        def healthy() -> bool:
            try:
                return httpx.get(api + "/health", timeout=2, trust_env=False).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(healthy, 120, "the Prefect server")
        data_dir = tmp_path / "data"
        with demo_server() as base:
            targets = write_targets(base, tmp_path / "targets.csv")
            policyaudit = Path(sys.executable).parent / "policyaudit"
            log = (tmp_path / "schedule.log").open("w")
            served = subprocess.Popen(
                [str(policyaudit), "schedule", str(targets), "--interval", "15", "--label-prefix", "test-",
                 "--data-dir", str(data_dir), "--allow-private", "--report-dir", str(tmp_path / "reports")],
                env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            )
            db_url = Settings(data_dir=data_dir).db_url

            def completed_runs() -> list[str]:
                if not (data_dir / "audit.db").exists():
                    return []
                engine = db.make_engine(db_url)
                with db.session_scope(engine) as s:
                    rows = s.exec(select(tables.AuditRun).where(tables.AuditRun.status == "completed")).all()
                engine.dispose()
                return [r.label for r in rows]

            _wait(lambda: len(completed_runs()) >= 2, 240, "two scheduled runs to complete")
            _wait(lambda: (tmp_path / "schedule.log").read_text().count("report: ") >= 2, 60, "two run lines")
        served.terminate()  # SIGTERM
        served.wait(timeout=30)
        output = (tmp_path / "schedule.log").read_text()
        assert "never awaited" not in output and "Traceback" not in output, output
        labels = completed_runs()
        assert len(set(labels)) == len(labels) >= 2
        for lbl in labels:
            assert (tmp_path / "reports" / lbl / "index.html").is_file()
            line = next(ln for ln in output.splitlines() if f"run {lbl}: completed" in ln)
            assert "9 services · 7 assessed · 1 no policy · 1 could not assess" in line
            assert f"report: {tmp_path / 'reports' / lbl / 'index.html'}" in line
        latest = (tmp_path / "reports" / "latest" / "index.html").read_text(encoding="utf-8")
        assert any(lbl in latest for lbl in labels)
        assert all(lbl.startswith("test-") for lbl in labels)
        engine = db.make_engine(db_url)
        with db.session_scope(engine) as s:
            for lbl in labels[:2]:
                run = queries.get_run(s, lbl)
                assert (run.n_targets, run.n_assessed, run.n_no_policy, run.n_not_assessed) == (9, 7, 1, 1)
        engine.dispose()
    finally:
        for proc in (served, server):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
