"""Content-addressed archive of fetched bodies.

Every body is stored once, under its sha256, with the response headers beside it::

    archive = Archive(Path("audit-data/archive"))
    sha = archive.put(b"<html>...</html>", {"content-type": "text/html"})
    archive.path(sha)          # audit-data/archive/3a/7bd3...   (first two hex digits, then the rest)
    archive.headers_path(sha)  # audit-data/archive/3a/7bd3....headers.json
    archive.get(sha)           # the bytes again

Writes are atomic (temporary file in the same directory, fsync, ``os.replace``): a crash or
a full disk never leaves a partial body under a sha256 name. Putting the same body twice
is a no-op for the body (the headers file is replaced with the latest headers).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from pipeline.errors import PolicyAuditError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT} if hasattr(errno, "EDQUOT") else {errno.ENOSPC}


class ArchiveError(PolicyAuditError):
    """The archive cannot be written or read (disk full, permissions, unknown sha256)."""


class Archive:
    """Bodies stored by sha256 under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Archive({str(self.root)!r})"

    def path(self, sha256: str) -> Path:
        """Where the body with this sha256 is (or would be) stored."""
        if not isinstance(sha256, str) or not _SHA256.match(sha256):
            raise ArchiveError(f"not a sha256 hex digest: {sha256!r} (archive {self.root})")
        return self.root / sha256[:2] / sha256[2:]

    def headers_path(self, sha256: str) -> Path:
        """Where the response headers of this body are stored (JSON object)."""
        body = self.path(sha256)
        return body.with_name(body.name + ".headers.json")

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put(self, body: bytes, headers: Mapping[str, str] | None = None) -> str:
        """Store ``body`` (and ``headers`` if given); return its sha256 hex digest."""
        data = bytes(body)
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if not target.is_file():
            _atomic_write(target, data)
        if headers is not None:
            text = json.dumps({str(k): str(v) for k, v in headers.items()}, ensure_ascii=False, indent=1, sort_keys=True)
            _atomic_write(self.headers_path(sha), text.encode("utf-8"))
        return sha

    def get(self, sha256: str) -> bytes:
        """The stored body; :class:`ArchiveError` if there is none."""
        target = self.path(sha256)
        try:
            return target.read_bytes()
        except FileNotFoundError:
            raise ArchiveError(f"no archived body {sha256} at {target}") from None
        except OSError as exc:
            raise ArchiveError(f"cannot read archived body {target}: {exc}") from exc

    def get_headers(self, sha256: str) -> dict[str, str] | None:
        """The stored headers of a body, or None if none were stored."""
        target = self.headers_path(sha256)
        try:
            return json.loads(target.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ArchiveError(f"cannot read headers file {target}: {exc}") from exc


def _atomic_write(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` via a temporary file, fsync and rename; clean up on failure."""
    tmp_name: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp_name, target)
        tmp_name = None
    except OSError as exc:
        if exc.errno in _DISK_FULL:
            raise ArchiveError(f"disk full while writing {target}: {exc.strerror or exc}; nothing was stored") from exc
        raise ArchiveError(f"cannot write {target}: {exc}") from exc
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
