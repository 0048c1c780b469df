"""Report and export files are written whole or not at all.

    write_text_atomic(out / "index.html", html)           # temp file in the same folder, then os.replace
    write_bytes_atomic(out / "static" / "report.css", data)
    make_dirs(out / "services")

Each file is written to a hidden temporary file beside it (``.<name>.<random>.tmp``, created with the
usual permissions) and renamed over the target, so a reader never sees half a file and a failed
write leaves the previous file as it was. A full disk, a read-only folder or any other ``OSError``
becomes one :class:`~pipeline.errors.OutputError` naming the file, and the temporary file is removed.
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

from pipeline.errors import OutputError

_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def output_error(exc: OSError, path: Path, what: str = "write") -> OutputError:
    """One line naming ``path`` and what went wrong (disk full, read-only folder, permission denied...)."""
    reason = exc.strerror or str(exc)
    if exc.errno in _DISK_FULL:
        return OutputError(f"disk full: cannot {what} {path} ({reason}); nothing partial was left, free some space and run again")
    return OutputError(f"cannot {what} {path}: {reason}")


def make_dirs(path: Path) -> Path:
    """``mkdir -p path``; an OSError becomes an OutputError naming the folder."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(exc, path, "create the folder") from None
    return path


def _write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    make_dirs(path.parent)
    tmp: Path | None = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        raise output_error(exc, path) from None
    try:
        try:
            _write_fd(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise output_error(exc, path) from None
    finally:
        if tmp is not None:
            try:
                tmp.unlink()
            except OSError:
                pass
    return path


def write_text_atomic(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """``write_bytes_atomic`` of ``text`` encoded (newlines written as given)."""
    return write_bytes_atomic(path, text.encode(encoding))


def copy_atomic(source: Path, dest: Path) -> Path:
    """Copy a file shipped with the package (e.g. static CSS) whole or not at all."""
    return write_bytes_atomic(dest, Path(source).read_bytes())
