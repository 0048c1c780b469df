"""Read-only data directories, damaged databases, full disks and unwritable output folders.

Read-only commands open the database read-only (SQLite ``mode=ro``), create and migrate nothing,
and work when the data directory is read-only. A database that is not SQLite or is damaged, an
older schema, a full disk or an unwritable output folder is one line naming the file (exit 2),
never a traceback, and no partial file is left.

Tests run as root here, and root ignores file permissions: a read-only folder is made with a
read-only bind mount (``mount --bind`` + ``remount,ro``), a full disk with a small tmpfs; as
another user ``chmod -w`` is used instead, and the tmpfs tests are skipped (the ENOSPC tests that
patch the write call still run everywhere).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import OutputError
from pipeline.report import files
from pipeline.store import db
from tests.test_compare import DEFAULT_RUBRIC, Y1, Y2, rubric, save_audit

ROOT = os.geteuid() == 0
RUBRIC = ["--rubric", str(DEFAULT_RUBRIC)]
TARGETS = "id,name,kind,policy_url\na,A,site,http://127.0.0.1:9/a\n"


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _one_error_line(out: str) -> str:
    """The output's single ``error:`` line (no traceback, nothing else said about the error)."""
    assert "Traceback" not in out, out
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out
    return errors[0]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".latest")]


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)


@contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """``folder`` seen read-only: a read-only bind mount as root, ``chmod -w`` otherwise."""
    if not ROOT:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for p in modes:
            p.chmod(modes[p] & ~0o222)
        try:
            yield folder
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    mnt = Path(tempfile.mkdtemp(prefix=f"{folder.name}-ro-", dir=folder.parent))
    bound = _run(["mount", "--bind", str(folder), str(mnt)])
    if bound.returncode != 0:
        pytest.skip(f"running as root and cannot bind-mount read-only here ({bound.stderr.strip()}): root ignores chmod")
    try:
        ro = _run(["mount", "-o", "remount,ro,bind", str(mnt)])
        if ro.returncode != 0:
            pytest.skip(f"cannot remount read-only here ({ro.stderr.strip()}): root ignores chmod")
        with pytest.raises(OSError):
            (mnt / ".probe").write_text("x")
        yield mnt
    finally:
        _run(["umount", "-l", str(mnt)])


@contextmanager
def small_disk(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (root and mount(8) needed; skipped otherwise)."""
    mnt = where / f"disk-{size}"
    mnt.mkdir()
    done = _run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)])
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or done.returncode}); needs root")
    try:
        yield mnt
    finally:
        _run(["umount", "-l", str(mnt)])


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding two audits (y1, y2), the engine disposed (no -wal file left)."""
    folder = tmp_path_factory.mktemp("ro") / "data"
    engine = db.make_engine(f"sqlite:///{folder / 'audit.db'}")
    rub = rubric()
    save_audit(engine, "y1", Y1, rub)
    save_audit(engine, "y2", Y2, rub)
    engine.dispose()
    return folder


READ_COMMANDS: dict[str, list[str]] = {
    "runs": ["runs"],
    "show": ["show", "tinkerbox", "--label", "y1", *RUBRIC],
    "report": ["report", "--label", "y1", "--out", "{out}/report", *RUBRIC],
    "export-csv": ["export", "--label", "y1", "--format", "csv", "--out", "{out}/y1.csv"],
    "export-json": ["export", "--label", "y1", "--format", "json", "--out", "{out}/y1.json"],
    "compare": ["compare", "y1", "y2", "--out", "{out}/compare", *RUBRIC],
    "datasette-metadata": ["datasette-metadata", "--out", "{out}/metadata.json"],
    "export-warc": ["export-warc", "--label", "y1", "--out", "{out}/y1.warc.gz"],
}


def _args(command: str, data_dir: Path, out: Path) -> list[str]:
    return [a.replace("{out}", str(out)) for a in READ_COMMANDS[command]] + ["--data-dir", str(data_dir)]


# ---------------------------------------------------------------- read-only data directory


@pytest.mark.parametrize("command", sorted(READ_COMMANDS))
def test_read_only_commands_work_on_a_read_only_data_directory(command: str, data: Path, tmp_path: Path) -> None:
    before = sorted(p.name for p in data.iterdir())
    with read_only(data) as ro:
        code, out = _cli(*_args(command, ro, tmp_path))
    assert code == 0 and "Traceback" not in out, out
    assert sorted(p.name for p in data.iterdir()) == before
    if command != "runs" and command != "show":
        assert any(tmp_path.iterdir()), "nothing was written"


def test_read_only_url_is_sqlite_uri_mode_ro_and_immutable_only_in_a_read_only_folder(data: Path) -> None:
    url = f"sqlite:///{data / 'audit.db'}"
    writable = db.read_only_url(url)
    assert str(writable) == f"sqlite:///file:{data / 'audit.db'}?mode=ro&uri=true"
    with read_only(data) as ro:
        assert "immutable=1" in str(db.read_only_url(f"sqlite:///{ro / 'audit.db'}"))


def test_read_only_commands_never_change_the_database(data: Path, tmp_path: Path) -> None:
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    before = _sha(copy / "audit.db")
    for command in READ_COMMANDS:
        code, out = _cli(*_args(command, copy, tmp_path / "out"))
        assert code == 0, (command, out)
    assert _sha(copy / "audit.db") == before
    engine = db.make_engine(f"sqlite:///{copy / 'audit.db'}", read_only=True)
    try:
        with pytest.raises(Exception, match="readonly"), engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM audit_runs")
    finally:
        engine.dispose()


def _older_schema(folder: Path) -> Path:
    folder.mkdir()
    engine = create_engine(f"sqlite:///{folder / 'audit.db'}")
    db.migrate(engine, "0002")
    engine.dispose()
    return folder / "audit.db"


def _schema_version(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def test_an_older_schema_is_refused_by_read_only_commands_and_upgraded_by_migrate(tmp_path: Path) -> None:
    path = _older_schema(tmp_path / "data")
    for command in ("runs", "export-csv", "report"):
        code, out = _cli(*_args(command, path.parent, tmp_path / "out"))
        line = _one_error_line(out)
        assert code == 2 and "older schema" in line and "policyaudit migrate" in line and str(path) in line, out
    assert _schema_version(path) == "0002", "a read-only command migrated the database"
    code, out = _cli("migrate", "--data-dir", str(path.parent))
    assert code == 0 and "schema up to date" in out, out
    assert _schema_version(path) != "0002"
    code, out = _cli("runs", "--data-dir", str(path.parent))
    assert code == 0, out


def test_an_older_schema_in_a_read_only_folder_says_so(tmp_path: Path) -> None:
    path = _older_schema(tmp_path / "data")
    with read_only(path.parent) as ro:
        code, out = _cli("runs", "--data-dir", str(ro))
    assert code == 2 and "older schema" in _one_error_line(out), out


def test_an_empty_database_file_is_one_line_and_stays_empty(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "audit.db").write_bytes(b"")
    code, out = _cli("runs", "--data-dir", str(tmp_path / "data"))
    assert code == 2 and "holds no audits" in _one_error_line(out), out
    assert (tmp_path / "data" / "audit.db").stat().st_size == 0


# ---------------------------------------------------------------- damaged database


ALL_COMMANDS = {
    **READ_COMMANDS,
    "review": ["review", "tinkerbox", "purposes", "--label", "y1", "--set", "full", "--note", "checked"],
    "migrate": ["migrate"],
    "audit": ["audit", "{out}/targets.csv", "--label", "z", "--no-prefect", "--no-classifier"],
}


def _damaged(kind: str, data: Path, folder: Path) -> Path:
    folder.mkdir()
    path = folder / "audit.db"
    if kind == "random-bytes":
        path.write_bytes(hashlib.sha256(b"seed").digest() * 4096)
    else:  # a real database cut to a third
        good = (data / "audit.db").read_bytes()
        path.write_bytes(good[: len(good) // 3])
    return path


@pytest.mark.parametrize("kind", ["random-bytes", "truncated"])
@pytest.mark.parametrize("command", sorted(ALL_COMMANDS))
def test_a_damaged_database_is_one_line_naming_it_for_every_command(kind: str, command: str, data: Path, tmp_path: Path) -> None:
    path = _damaged(kind, data, tmp_path / "data")
    before = _sha(path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "targets.csv").write_text(TARGETS, encoding="utf-8")
    args = [a.replace("{out}", str(out_dir)) for a in ALL_COMMANDS[command]] + ["--data-dir", str(path.parent)]
    code, out = _cli(*args)
    line = _one_error_line(out)
    assert code == 2, out
    assert "damaged or not a SQLite database" in line and str(path) in line, line
    assert _sha(path) == before, "the damaged file was changed"
    assert sorted(p.name for p in out_dir.iterdir()) == ["targets.csv"], "something was written"


# ---------------------------------------------------------------- full disk and unwritable output


def _fail_half_way(fd: int, data: bytes) -> None:
    os.write(fd, data[: len(data) // 2])
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("command", ["report", "export-csv", "export-json", "compare", "datasette-metadata"])
def test_disk_full_while_writing_is_one_line_and_leaves_no_partial_file(
    command: str, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC from the write call itself (the disk cannot be filled safely here): half a temp file
    was written when it came."""
    out = tmp_path / "out"
    monkeypatch.setattr(files, "_write_fd", _fail_half_way)
    code, text = _cli(*_args(command, data, out))
    line = _one_error_line(text)
    assert code == 2 and line.startswith("error: disk full") and str(out) in line, text
    assert not _leftovers(tmp_path)
    assert not [p for p in out.rglob("*") if p.is_file()], "a partial file was left"


def test_disk_full_keeps_the_previous_export_as_it_was(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "y1.csv"
    out.write_text("last week's export\n", encoding="utf-8")
    monkeypatch.setattr(files, "_write_fd", _fail_half_way)
    code, text = _cli("export", "--label", "y1", "--format", "csv", "--out", str(out), "--data-dir", str(data))
    assert code == 2 and "disk full" in _one_error_line(text)
    assert out.read_text(encoding="utf-8") == "last week's export\n"
    assert not _leftovers(tmp_path)


def test_a_really_full_disk_stops_the_report_with_whole_files_only(data: Path, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    code, text = _cli(*_args("report", data, reference))
    assert code == 0, text
    with small_disk(tmp_path, "64k") as disk:
        code, text = _cli(*_args("report", data, disk))
        line = _one_error_line(text)
        assert code == 2 and "disk full" in line, text
        written = [p for p in (disk / "report").rglob("*") if p.is_file()]
        assert written, "the disk was not filled part of the way"
        assert not _leftovers(disk)
        for p in written:
            assert p.read_bytes() == (reference / "report" / p.relative_to(disk / "report")).read_bytes(), p


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_really_full_disk_leaves_no_export_file(fmt: str, data: Path, tmp_path: Path) -> None:
    with small_disk(tmp_path, "16k") as disk:
        (disk / "filler").write_bytes(b"x" * (16 * 1024 - 4096))
        out = disk / f"y1.{fmt}"
        code, text = _cli("export", "--label", "y1", "--format", fmt, "--out", str(out), "--data-dir", str(data))
        assert code == 2 and "disk full" in _one_error_line(text), text
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]


@pytest.mark.parametrize("command", ["report", "export-csv", "compare", "datasette-metadata", "export-warc"])
def test_an_unwritable_output_folder_is_one_line(command: str, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with read_only(out) as ro:
        code, text = _cli(*_args(command, data, ro))
        line = _one_error_line(text)
        assert code == 2 and str(ro) in line, text
        assert not any(ro.iterdir())


def test_a_failed_copy_to_latest_keeps_the_previous_latest(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.report import publish
    from pipeline.settings import Settings

    settings = Settings(data_dir=data, rubric=DEFAULT_RUBRIC)
    publish.publish_scheduled(settings, "y1", tmp_path)
    before = {p.relative_to(tmp_path / "latest"): p.read_bytes() for p in (tmp_path / "latest").rglob("*") if p.is_file()}

    def copy_half(src: Path, dst: Path) -> None:
        Path(dst).mkdir()
        (Path(dst) / "index.html").write_text("half")
        raise shutil.Error([(str(src), str(dst), "[Errno 28] No space left on device")])

    monkeypatch.setattr(publish.shutil, "copytree", copy_half)
    with pytest.raises(OutputError, match="disk full"):
        publish.publish_scheduled(settings, "y2", tmp_path)
    after = {p.relative_to(tmp_path / "latest"): p.read_bytes() for p in (tmp_path / "latest").rglob("*") if p.is_file()}
    assert after == before
    assert not _leftovers(tmp_path)
