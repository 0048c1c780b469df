"""Faults: a process killed mid-way, a locked or unreachable database, a full disk, no Prefect API.

The kills run ``policyaudit audit ... --no-prefect`` in a subprocess against a server on
127.0.0.1 in this process, watch the server, the archive and the database to SIGKILL it at
the right moment, then re-run the same label: it must resume with no duplicate rows, every
service graded exactly once, and every archived snapshot intact (sha256 of each file = its name).
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser
from sqlalchemy import create_engine, func, text
from sqlmodel import Session, select
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.serve.localserver import Handler, Route, serve
from pipeline.store import db as store_db
from pipeline.store import tables

from . import bodies as b

POLICYAUDIT = Path(sys.executable).with_name("policyaudit")
HTML = "text/html; charset=utf-8"
WAIT_S = 90.0  # longest wait for a state we are watching for (loaded CI)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        COLUMNS="400", POLICYAUDIT_PER_HOST_DELAY="0", POLICYAUDIT_RETRY_BACKOFF="0.05", PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def _cmd(targets: Path, label: str, data: Path, *extra: str) -> list[str]:
    return [
        str(POLICYAUDIT), "audit", str(targets), "--label", label, "--no-prefect", "--data-dir", str(data),
        "--allow-private", "--no-classifier", *extra,
    ]


def _run(cmd: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=_env(**env), capture_output=True, text=True, timeout=300, check=False)


def _wait_for(what: str, check: Callable[[], bool], proc: subprocess.Popen[str] | None = None, step: float = 0.005) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process ended ({proc.returncode}) before {what}: {proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _kill(proc: subprocess.Popen[str]) -> list[int]:
    """SIGKILL the audit; returns the processes it had started (grading workers)."""
    children = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return children


@dataclass
class Site:
    """Policies for services s0..sN, one of which can be held (its request waits until released)."""

    bodies: dict[str, bytes]
    held: str | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def routes(self) -> dict[str, Route | Handler]:
        out: dict[str, Route | Handler] = {"/robots.txt": Route(b"User-agent: *\nAllow: /\n", content_type="text/plain")}
        for sid, body in self.bodies.items():
            out[f"/{sid}"] = self._handler(sid, body)
        return out

    def _handler(self, sid: str, body: bytes) -> Handler:
        def handle(h: BaseHTTPRequestHandler) -> None:
            if sid == self.held and not self.release.is_set():
                self.arrived.set()
                self.release.wait(WAIT_S)
            h.send_response(200)
            h.send_header("Content-Type", HTML)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            try:
                h.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client was killed
                pass

        return handle

    def targets(self, base: str, dest: Path) -> Path:
        rows = ["id,name,kind,policy_url", *(f"{sid},Service {sid},site,{base}/{sid}" for sid in self.bodies)]
        dest.write_text("\n".join(rows) + "\n", encoding="utf-8")
        return dest


def _policies(n: int) -> dict[str, bytes]:
    return {f"s{i}": b.english_policy(f"Service Number {i}").encode() for i in range(n)}


def _db(data: Path) -> Session:
    return Session(create_engine(f"sqlite:///{data / 'audit.db'}"))


def _scored(data: Path, label: str) -> set[str]:
    if not (data / "audit.db").exists():
        return set()
    try:
        with _db(data) as s:
            run = s.exec(select(tables.AuditRun).where(tables.AuditRun.label == label)).first()
            if run is None:
                return set()
            return set(s.exec(select(tables.Score.service_id).where(tables.Score.run_id == run.id)))
    except Exception:  # noqa: BLE001 - the database may be mid-creation while we poll
        return set()


def _assert_resumed_cleanly(data: Path, services: set[str], labels: list[str]) -> None:
    """Every service once per run (score, snapshot, criteria), every snapshot archived intact."""
    with _db(data) as s:
        runs = {r.label: r for r in s.exec(select(tables.AuditRun))}
        assert set(runs) == set(labels)
        for label in labels:
            run = runs[label]
            assert run.status == "completed", (label, run.status, run.error)
            for table in (tables.Score, tables.Snapshot):
                rows = s.exec(
                    select(table.service_id, func.count()).where(table.run_id == run.id).group_by(table.service_id)  # type: ignore[attr-defined]
                ).all()
                assert sorted(rows) == sorted((sid, 1) for sid in services), (label, table.__name__)
            crit = s.exec(
                select(tables.CriterionRow.service_id, tables.CriterionRow.criterion_id, func.count())
                .where(tables.CriterionRow.run_id == run.id)
                .group_by(tables.CriterionRow.service_id, tables.CriterionRow.criterion_id)
            ).all()
            assert crit and all(n == 1 for _, _, n in crit), label
            statuses = set(s.exec(select(tables.Score.status).where(tables.Score.run_id == run.id)))
            assert statuses == {"assessed"}, (label, statuses)
        shas = set(s.exec(select(tables.Snapshot.sha256)))
    _assert_archive_intact(data / "archive", {x for x in shas if x})


def _assert_archive_intact(archive: Path, expected: set[str]) -> None:
    found: set[str] = set()
    for path in archive.rglob("*"):
        if not path.is_file() or path.name.endswith(".headers.json") or path.name.startswith(".tmp-"):
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest == path.parent.name + path.name, f"archived file {path} does not match its name"
        found.add(digest)
    assert expected <= found, f"snapshots missing from the archive: {expected - found}"


@pytest.fixture
def site() -> Iterator[tuple[Site, str]]:
    s = Site(_policies(6))
    with serve(s.routes()) as base:
        yield s, base
        s.release.set()


@pytest.mark.slow
def test_kill_while_fetching_then_rerun_resumes_without_duplicates_or_lost_snapshots(tmp_path: Path, site: tuple[Site, str]) -> None:
    s, base = site
    data = tmp_path / "data"
    targets = s.targets(base, tmp_path / "targets.csv")
    done = _run(_cmd(targets, "2025", data), POLICYAUDIT_BATCH_SIZE="2")
    assert done.returncode == 0, done.stderr
    # bodies only: a headers file holds the latest response headers of its body, by design
    before = {p: p.read_bytes() for p in (data / "archive").rglob("*") if p.is_file() and not p.name.endswith(".json")}

    s.held = "s3"  # batch 1 = s0, s1 (stored); batch 2 = s2, s3 (s3 never answers until released)
    proc = subprocess.Popen(_cmd(targets, "2026", data), env=_env(POLICYAUDIT_BATCH_SIZE="2"), stderr=subprocess.PIPE, text=True)
    try:
        _wait_for("the request for s3", s.arrived.is_set, proc)
        # batch 1 is graded in the background while batch 2 is fetched: wait until it is stored
        _wait_for("batch 1 stored", lambda: _scored(data, "2026") == {"s0", "s1"}, proc)
        assert s.arrived.is_set() and not s.release.is_set()  # killed in the middle of fetching batch 2
        _kill(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    s.release.set()

    again = _run(_cmd(targets, "2026", data), POLICYAUDIT_BATCH_SIZE="2")
    assert again.returncode == 0, again.stderr
    _assert_resumed_cleanly(data, set(s.bodies), ["2025", "2026"])
    for path, content in before.items():  # last year's snapshots untouched
        assert path.read_bytes() == content


@pytest.mark.slow
def test_kill_while_grading_then_rerun_grades_every_service_exactly_once(tmp_path: Path) -> None:
    bodies = _policies(3)
    bodies["s1"] = b.one_line_policy(1_000_000, "Heavy")  # about 8 s to segment and grade
    big_sha = hashlib.sha256(bodies["s1"]).hexdigest()
    big_file = tmp_path / "data" / "archive" / big_sha[:2] / big_sha[2:]
    s = Site(bodies)
    data = tmp_path / "data"
    with serve(s.routes()) as base:
        targets = s.targets(base, tmp_path / "targets.csv")
        proc = subprocess.Popen(_cmd(targets, "2026", data), env=_env(POLICYAUDIT_BATCH_SIZE="1"), stderr=subprocess.PIPE, text=True)
        try:
            _wait_for("the heavy policy to be archived", big_file.exists, proc)
            # batches are graded in worker processes beside the fetching: wait for the light s0 to be stored,
            # while the heavy s1 (about 8 s) is still being segmented and graded
            _wait_for("s0 to be stored", lambda: "s0" in _scored(data, "2026"), proc)
            assert "s1" not in _scored(data, "2026")
            workers = _kill(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert workers, "the audit had no grading worker processes"
        _wait_for("the orphaned grading workers to exit", lambda: not any(_alive(w) for w in workers))
        scored = _scored(data, "2026")
        assert "s0" in scored and "s1" not in scored, "the kill came after s1 was stored; grading was not interrupted"
        with _db(data) as db:
            assert db.get(tables.Document, big_sha) is None
        again = _run(_cmd(targets, "2026", data), POLICYAUDIT_BATCH_SIZE="1")
        assert again.returncode == 0, again.stderr
    _assert_resumed_cleanly(data, set(bodies), ["2026"])


@pytest.mark.slow
def test_kill_while_writing_the_report_then_rerun_writes_it_whole(tmp_path: Path) -> None:
    bodies = _policies(30)
    bodies["s29"] = b.one_line_policy(400_000, "Longpage")  # a long highlighted page keeps the writer busy
    s = Site(bodies)
    data, out = tmp_path / "data", tmp_path / "report"
    with serve(s.routes()) as base:
        targets = s.targets(base, tmp_path / "targets.csv")
        proc = subprocess.Popen(_cmd(targets, "2026", data, "--report", str(out)), env=_env(), stderr=subprocess.PIPE, text=True)
        try:
            _wait_for("the report to start", (out / "index.html").exists, proc, step=0.002)
            _kill(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
        pages = set((out / "services").glob("*.html"))
        assert len(pages) < len(bodies), "the report was already complete when killed"
        again = _run(_cmd(targets, "2026", data, "--report", str(out)))
        assert again.returncode == 0, again.stderr
    _assert_resumed_cleanly(data, set(bodies), ["2026"])
    index = LexborHTMLParser((out / "index.html").read_text(encoding="utf-8"))
    links = {a.attributes.get("href") for a in index.css("a") if (a.attributes.get("href") or "").startswith("services/")}
    assert len(links) == len(bodies)
    for link in links:
        page = (out / str(link)).read_text(encoding="utf-8")
        assert page.rstrip().endswith("</html>"), link
    assert len((out / "scores.csv").read_text(encoding="utf-8").splitlines()) == len(bodies) + 1
    for snap in (out / "snapshots").glob("*.txt"):
        assert hashlib.sha256(snap.read_bytes()).hexdigest() == snap.stem


# ---------------------------------------------------------------- database


def _targets_file(tmp_path: Path) -> Path:
    path = tmp_path / "targets.csv"
    path.write_text("id,name,kind,policy_url\na,A,site,http://127.0.0.1:9/a\n", encoding="utf-8")
    return path


def _cli(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, args, env=env)
    return result.exit_code, result.output


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_unreachable_database_fails_clearly_after_retries(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://audit@127.0.0.1:{_closed_port()}/audit"
    start = time.monotonic()
    code, out = _cli(["audit", str(_targets_file(tmp_path)), "--label", "x", "--no-prefect", "--data-dir", str(tmp_path / "d"), "--db-url", url])
    assert code == 2 and "Traceback" not in out, out
    assert "cannot use the database" in out and "after 3 attempts" in out
    assert time.monotonic() - start >= 3.0, "no retry before giving up"
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("kind", ["sqlite-under-a-file", "unknown-scheme", "driver-not-installed"])
def test_unusable_database_url_is_a_clear_error(tmp_path: Path, kind: str) -> None:
    (tmp_path / "afile").write_text("not a folder")
    url = {
        "sqlite-under-a-file": f"sqlite:///{tmp_path / 'afile' / 'audit.db'}",
        "unknown-scheme": "nosuchdb://127.0.0.1/audit",
        "driver-not-installed": f"mysql://audit@127.0.0.1:{_closed_port()}/audit",
    }[kind]
    code, out = _cli(["audit", str(_targets_file(tmp_path)), "--label", "x", "--no-prefect", "--data-dir", str(tmp_path / "d"), "--db-url", url])
    assert code == 2, out
    assert "database" in out and "Traceback" not in out


def _hold_lock(db: Path, wal: bool) -> sqlite3.Connection:
    if wal:
        store_db.make_engine(f"sqlite:///{db}").dispose()  # a database of an earlier audit (WAL mode)
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    if not wal:
        conn.execute("CREATE TABLE IF NOT EXISTS other (x)")
    conn.execute("BEGIN EXCLUSIVE")
    return conn


@pytest.mark.slow
def test_database_locked_before_first_use_fails_clearly_after_retries(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    conn = _hold_lock(data / "audit.db", wal=False)
    try:
        code, out = _cli(["audit", str(_targets_file(tmp_path)), "--label", "x", "--no-prefect", "--data-dir", str(data)])
    finally:
        conn.close()
    assert code == 2 and "Traceback" not in out, out
    assert "database is locked" in out and "after 3 attempts" in out


@pytest.mark.slow
def test_database_locked_by_another_writer_fails_clearly(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    conn = _hold_lock(data / "audit.db", wal=True)
    try:
        code, out = _cli(["audit", str(_targets_file(tmp_path)), "--label", "x", "--no-prefect", "--data-dir", str(data)])
    finally:
        conn.close()
    assert code == 2, out
    assert "database is locked" in out and "Traceback" not in out


# ---------------------------------------------------------------- disk full


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs (root and mount(8) needed; skipped otherwise)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or done.returncode}); needs root")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _disk_full_audit(small_disk: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path, Path, Path]:
    bodies = _policies(2)
    bodies["s2"] = b.one_line_policy(2_000_000, "Toolarge")  # under max_bytes, over the free space
    bodies["s3"] = b.english_policy("After The Full One").encode()
    s = Site(bodies)
    data = small_disk / "data"
    db = tmp_path / "audit.db"  # outside the full disk, so the run's record can still be read
    with serve(s.routes()) as base:
        targets = s.targets(base, tmp_path / "targets.csv")
        done = _run(_cmd(targets, "2026", data, "--db-url", f"sqlite:///{db}"), POLICYAUDIT_BATCH_SIZE="1")
    return done, data, db, targets


@pytest.mark.slow
def test_disk_full_while_archiving_stops_the_run_cleanly_and_says_so(small_disk: Path, tmp_path: Path) -> None:
    done, data, db, _ = _disk_full_audit(small_disk, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "disk full" in done.stderr and "nothing was stored" in done.stderr
    assert not [p for p in (data / "archive").rglob(".tmp-*")], "a partial body was left behind"
    with Session(create_engine(f"sqlite:///{db}")) as s:
        scored = set(s.exec(select(tables.Score.service_id)))
        shas = {x for x in s.exec(select(tables.Snapshot.sha256)) if x}
    assert scored == {"s0", "s1"}  # stopped at s2: nothing after it was attempted
    _assert_archive_intact(data / "archive", shas)


@pytest.mark.slow
def test_disk_full_run_is_recorded_as_failed_with_the_reason(small_disk: Path, tmp_path: Path) -> None:
    done, _, db, _ = _disk_full_audit(small_disk, tmp_path)
    assert done.returncode == 2
    with Session(create_engine(f"sqlite:///{db}")) as s:
        run = s.exec(select(tables.AuditRun)).one()
    assert run.status == "failed" and "disk full" in (run.error or "")


# ---------------------------------------------------------------- Prefect


def test_unreachable_prefect_api_is_a_clear_message(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api"
    code, out = _cli(
        ["audit", str(_targets_file(tmp_path)), "--label", "x", "--data-dir", str(tmp_path / "d")],
        env={"PREFECT_API_URL": url},
    )
    assert code == 2 and "Traceback" not in out, out
    assert "Prefect API" in out and url in out.replace("\n", "") and "--no-prefect" in out
    assert not (tmp_path / "d").exists()


def test_sqlite_lock_probe_really_blocks_writers(tmp_path: Path) -> None:
    """The lock used above is real: a second writer gets 'database is locked'."""
    conn = _hold_lock(tmp_path / "x.db", wal=True)
    try:
        other = create_engine(f"sqlite:///{tmp_path / 'x.db'}", connect_args={"timeout": 0.1})
        with pytest.raises(Exception, match="locked"), other.begin() as c:
            c.execute(text("INSERT INTO audit_runs (label) VALUES ('y')"))
    finally:
        conn.close()
