"""A newsroom's day with the command line: errors before any waiting, one story after review
(show, compare, exports, Datasette queries), exit codes a script can trust, progress, the demo
leaving the user ready. Real HTTP on 127.0.0.1, real SQLite files, the real CLI."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.demo import demo_server, write_targets
from pipeline.report.exports import REVIEWED_CRITERIA_SQL, REVIEWED_SCORES_SQL, datasette_metadata
from pipeline.run.audit import run_audit
from pipeline.run.progress import ProgressState, reporting
from pipeline.settings import Settings
from pipeline.store import db
from pipeline.terminal import AuditDisplay

POLICYAUDIT = Path(sys.executable).parent / "policyaudit"
REVIEWED = ("vaguecorp", "retention_period")  # the vague policy: none by the machine, full by the reviewer


def _cli(*args: str) -> tuple[int, str]:
    from pipeline import terminal

    width = terminal.console.width
    terminal.console.width = terminal.err.width = 400  # tables on one line each
    try:
        result = CliRunner().invoke(app, list(args), terminal_width=400)
    finally:
        terminal.console.width = terminal.err.width = width
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def audits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Two audits of the demo sites (y1, y2) in one data dir; y1 and y2 each carry one review."""
    data = tmp_path_factory.mktemp("newsroom")
    settings = Settings(data_dir=data, allow_private=True, use_classifier=False)
    with demo_server() as base:
        targets = write_targets(base, data / "targets.csv")
        for label in ("y1", "y2"):
            run_audit(targets, label, settings)
    for label in ("y1", "y2"):
        code, out = _cli("review", *REVIEWED, "--label", label, "--set", "full", "--note", "period found in the FAQ",
                         "--reviewer", "lin", "--data-dir", str(data))
        assert code == 0, out
    yield data


def _machine_and_reviewed(data: Path, label: str) -> tuple[float, float]:
    with sqlite3.connect(data / "audit.db") as conn:
        row = [r for r in conn.execute(REVIEWED_SCORES_SQL, {"label": label}) if r[1] == REVIEWED[0]][0]
    return row[4], row[5]


def test_show_gives_the_reviewed_level_and_says_a_review_changed_it(audits: Path) -> None:
    machine, reviewed = _machine_and_reviewed(audits, "y1")
    assert reviewed > machine
    code, out = _cli("show", REVIEWED[0], "--label", "y1", "--data-dir", str(audits))
    assert code == 0, out
    assert f"score {reviewed:.1f}" in out and f"machine score {machine:.1f}" in out
    assert "full (reviewed; machine: none)" in out and "review by lin: period found in the FAQ" in out


def test_compare_shows_reviewed_scores_on_both_sides_and_after_a_regrade(audits: Path) -> None:
    machine, reviewed = _machine_and_reviewed(audits, "y1")
    code, out = _cli("compare", "y1", "y2", "--regrade", "--no-classifier", "--data-dir", str(audits),
                     "--out", str(audits / "compare"))
    assert code == 0, out
    head = next(line for line in out.splitlines() if line.startswith("┃ service"))
    row = next(line for line in out.splitlines() if line.startswith("│ vaguecorp"))
    cell = dict(zip([c.strip() for c in head.strip("┃").split("┃")], [c.strip() for c in row.strip("│").split("│")], strict=True))
    assert cell["score A"] == cell["score B"] == f"{reviewed:g}*"  # reviewed on both sides
    assert cell["A re-graded (transparency 2.0.0)"] == f"{reviewed:g}*"  # the review applied on top of the re-grade
    assert "* reviewed" in out
    page = (audits / "compare" / "compare.html").read_text(encoding="utf-8")
    assert "Changed by review" in page and 'class="reviewed"' in page


def test_compare_names_tiers_in_both_languages(audits: Path) -> None:
    code, out = _cli("compare", "y1", "y2", "--data-dir", str(audits))
    assert code == 0, out
    assert "高 High → 高 High" in out or "较高 Relatively high → 较高 Relatively high" in out
    assert "relatively_high→" not in out


def test_exports_give_the_reviewed_level(audits: Path) -> None:
    _, reviewed = _machine_and_reviewed(audits, "y1")
    assert _cli("export", "--label", "y1", "--format", "json", "--out", str(audits / "y1.json"), "--data-dir", str(audits))[0] == 0
    data = json.loads((audits / "y1.json").read_text(encoding="utf-8"))
    svc = next(s for s in data["services"] if s["service_id"] == REVIEWED[0])
    crit = next(c for c in svc["criteria"] if c["criterion_id"] == REVIEWED[1])
    assert svc["score"] == reviewed and (crit["level"], crit["machine_level"]) == ("full", "none")
    assert crit["review"]["reviewer"] == "lin"
    assert {s["language"] for s in data["services"] if s["status"] != "not_assessed" and s["status"] != "no_policy"} == {"en", "zh"}
    assert _cli("export", "--label", "y1", "--format", "csv", "--out", str(audits / "y1.csv"), "--data-dir", str(audits))[0] == 0
    rows = list(csv.DictReader((audits / "y1.csv").read_text(encoding="utf-8-sig").splitlines()))
    row = next(r for r in rows if (r["service_id"], r["criterion_id"]) == REVIEWED)
    assert (row["level"], row["machine_level"], row["reviewed_level"]) == ("full", "none", "full")


def test_datasette_queries_give_the_reviewed_level(audits: Path) -> None:
    engine = db.make_engine(Settings(data_dir=audits).db_url)
    queries = next(iter(datasette_metadata(engine)["databases"].values()))["queries"]
    engine.dispose()
    assert {"reviewed_scores", "reviewed_criteria"} <= set(queries)
    with sqlite3.connect(audits / "audit.db") as conn:
        rows = [r for r in conn.execute(REVIEWED_CRITERIA_SQL, {"label": "y2"}) if r[5]]
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in rows] == [(*REVIEWED, "full", "none", "changed by review")]


def test_scores_model_version_reads_like_the_audit_run(audits: Path) -> None:
    with sqlite3.connect(audits / "audit.db") as conn:
        versions = {v for (v,) in conn.execute("select distinct model_version from scores where model_version is not null")}
        runs = {v for (v,) in conn.execute("select model_version from audit_runs where model_version is not null")}
    for v in versions:  # 'zh@1.0.0' is one part of the run's 'en@1.0.0+zh@1.0.0'
        assert any(v in r.split("+") for r in runs), (v, runs)


# ----------------------------------------------------------------- errors before waiting


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("POLICYAUDIT_", "PREFECT_API_URL"))}
    return subprocess.run([str(POLICYAUDIT), *args], cwd=cwd, env={**base, **(env or {})}, capture_output=True,
                          text=True, timeout=120)


def test_a_bad_targets_file_is_reported_before_prefect_starts(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("id,name,kind,policy_url\na,A,bogus,http://x.example\nb,B,app,notaurl\n", encoding="utf-8")
    done = _run("audit", "bad.csv", "--label", "x", cwd=tmp_path)
    assert done.returncode == 2
    assert "2 problem(s) in targets file bad.csv" in done.stderr and "bad.csv:3 [policy_url]" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout and "Prefect" not in done.stderr
    assert not (tmp_path / "audit-data").exists()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {"POLICYAUDIT_WORKERS": "many"}, "invalid setting: workers (POLICYAUDIT_WORKERS)"),
        (("--db-url", "nosuchdb://x/y"), {}, "cannot use the database URL"),
        (("--rubric", "missing.yaml"), {}, "missing.yaml"),
    ],
)
def test_bad_settings_rubric_or_database_fail_cleanly_before_prefect(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    (tmp_path / "ok.csv").write_text("id,name,kind,policy_url\na,A,app,http://a.example/p\n", encoding="utf-8")
    done = _run("audit", "ok.csv", "--label", "x", *args, cwd=tmp_path, env=env)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr and "Prefect" not in done.stderr


@pytest.mark.parametrize(
    "command",
    [["runs"], ["show", "acme"], ["report", "--label", "x", "--out", "r"], ["export", "--label", "x", "--format", "csv", "--out", "x.csv"],
     ["compare", "a", "b"], ["review", "acme", "retention_period", "--label", "x", "--set", "full", "--note", "n"],
     ["export-warc", "--label", "x", "--out", "x.warc.gz"], ["datasette-metadata"]],
)
def test_read_only_commands_never_create_a_database(tmp_path: Path, command: list[str]) -> None:
    code, out = _cli(*command, "--data-dir", str(tmp_path / "nothing-here"))
    assert code == 2 and "no audit database in" in out and "policyaudit demo" in out
    assert not (tmp_path / "nothing-here").exists()


def test_an_audit_where_nothing_could_be_assessed_exits_1_with_the_reason_and_hint(tmp_path: Path) -> None:
    with demo_server() as base:
        targets = write_targets(base, tmp_path / "targets.csv")
        code, out = _cli("audit", str(targets), "--label", "refused", "--no-prefect", "--no-classifier",
                         "--data-dir", str(tmp_path / "data"))
    assert code == 1, out
    assert "no service could be assessed" in out and "loopback" in out and "--allow-private" in out


# ----------------------------------------------------------------- progress and the demo


def test_progress_counts_every_service_and_logs_lines_when_not_a_terminal(tmp_path: Path) -> None:
    out = Console(file=(buf := __import__("io").StringIO()), force_terminal=False, width=400)
    seen: list[ProgressState] = []
    settings = Settings(data_dir=tmp_path, allow_private=True, use_classifier=False, batch_size=4, workers=1)
    with demo_server() as base, AuditDisplay(out, every=3) as display:
        targets = write_targets(base, tmp_path / "targets.csv")

        def listen(state: ProgressState) -> None:
            seen.append(state)
            display.update(state)

        with reporting(listen):
            run_audit(targets, "p", settings)
    last = seen[-1]
    assert (last.total, last.fetched, last.graded) == (9, 9, 9)
    assert (last.by_status["assessed"], last.by_status["no_policy"], last.failed) == (7, 1, 1)
    fetched = [s.fetched for s in seen]
    assert fetched == sorted(fetched) and len(set(fetched)) >= 3  # seen part by part, not all at the end
    lines = buf.getvalue().splitlines()
    assert len(lines) >= 3 and lines[-1].startswith("p: fetched 9/9") and "7 assessed, 1 no policy, 1 could not assess" in lines[-1]


def test_demo_leaves_runs_and_show_ready_in_the_same_data_dir(tmp_path: Path) -> None:
    done = _run("demo", "--no-prefect", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "policyaudit show chenguang --label demo" in done.stdout
    runs = _run("runs", cwd=tmp_path)
    assert runs.returncode == 0 and "demo" in runs.stdout
    show = _run("show", "chenguang", "--label", "demo", cwd=tmp_path)
    assert show.returncode == 0 and "晨光阅读" in show.stdout


@pytest.mark.slow
def test_audit_through_a_temporary_prefect_server_says_what_it_waits_for(tmp_path: Path) -> None:
    """No PREFECT_API_URL and no server on :4200: a temporary server starts beside the work; the
    user is told so at once, then sees progress, and the run is a real Prefect flow run."""
    with demo_server() as base:
        write_targets(base, tmp_path / "targets.csv")
        done = _run("audit", "targets.csv", "--label", "pf", "--allow-private", "--no-classifier", cwd=tmp_path,
                    env={"PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"})
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert "waiting for a temporary Prefect server" in lines[0]
    assert any("temporary Prefect server ready after" in ln for ln in lines)
    assert "pf: fetched 9/9" in lines[-1] and "7 assessed, 1 no policy, 1 could not assess" in lines[-1]
    assert "audit pf: completed · 9 services · 7 assessed" in done.stdout
    with sqlite3.connect(tmp_path / "prefect-home" / "prefect.db") as conn:  # the temporary server's database
        states = [s for (s,) in conn.execute("select state_type from flow_run")]
    assert states == ["COMPLETED"]
