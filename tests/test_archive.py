"""pipeline.fetch.archive: content-addressed, atomic storage of fetched bodies."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.errors import PolicyAuditError
from pipeline.fetch import archive as archive_mod
from pipeline.fetch.archive import Archive, ArchiveError

BODY = "<html><body>隐私政策 privacy policy</body></html>".encode()


def test_put_returns_sha256_and_stores_under_two_level_path(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    sha = archive.put(BODY)
    assert sha == hashlib.sha256(BODY).hexdigest()
    assert archive.path(sha) == tmp_path / sha[:2] / sha[2:]
    assert archive.path(sha).read_bytes() == BODY
    assert archive.get(sha) == BODY
    assert archive.has(sha)


def test_put_saves_headers_beside_the_body(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    sha = archive.put(BODY, {"Content-Type": "text/html; charset=utf-8", "X-Note": "隐私"})
    assert archive.headers_path(sha).parent == archive.path(sha).parent
    assert archive.headers_path(sha).name.endswith(".headers.json")
    assert archive.get_headers(sha) == {"Content-Type": "text/html; charset=utf-8", "X-Note": "隐私"}


def test_put_is_idempotent_and_leaves_no_temp_files(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    first = archive.put(BODY, {"a": "1"})
    mtime = archive.path(first).stat().st_mtime_ns
    second = archive.put(BODY, {"a": "1"})
    assert first == second
    assert archive.path(first).stat().st_mtime_ns == mtime
    names = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert names == sorted([first[2:], first[2:] + ".headers.json"])


def test_get_headers_is_none_when_not_stored(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    assert archive.get_headers(archive.put(b"x")) is None


def test_get_of_unknown_sha_raises_archive_error_naming_path(tmp_path: Path) -> None:
    sha = "a" * 64
    with pytest.raises(ArchiveError, match=str(tmp_path)):
        Archive(tmp_path).get(sha)
    assert not Archive(tmp_path).has(sha)


@pytest.mark.parametrize("bad", ["", "abc", "g" * 64, "A" * 64, "../" + "a" * 61])
def test_malformed_sha_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ArchiveError, match="not a sha256"):
        Archive(tmp_path).path(bad)


def test_archive_error_is_a_policyaudit_error() -> None:
    assert issubclass(ArchiveError, PolicyAuditError)


def test_enospc_during_write_raises_disk_full_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(archive_mod.os, "fsync", full)
    archive = Archive(tmp_path)
    with pytest.raises(ArchiveError, match="disk full") as info:
        archive.put(BODY)
    assert str(tmp_path) in str(info.value)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_real_full_disk_raises_disk_full_and_leaves_no_partial_file(tiny_tmpfs: Path) -> None:
    archive = Archive(tiny_tmpfs / "archive")
    small = archive.put(b"small body")
    with pytest.raises(ArchiveError, match="disk full"):
        archive.put(os.urandom(256 * 1024))
    files = sorted(p for p in tiny_tmpfs.rglob("*") if p.is_file())
    assert files == [archive.path(small)]
    assert archive.get(small) == b"small body"
