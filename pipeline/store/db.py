"""The database: engine, sessions and migrations.

    engine = make_engine("sqlite:///audit-data/audit.db")   # migrated to the latest schema
    with session_scope(engine) as session:
        ...
    engine = make_engine(url, read_only=True)   # report, show, export...: never writes

SQLite file by default (``sqlite:///audit-data/audit.db``), PostgreSQL when the
database URL says so. Alembic migrations (``pipeline/store/migrations/``) run when an engine
is first made, so every command that writes sees the current schema. A read-only engine opens a
SQLite file with ``mode=ro`` (``immutable=1`` in a read-only directory, where SQLite cannot make
its shared-memory file), creates nothing, migrates nothing and refuses an older schema with a
message saying how to upgrade it. A file that is not a SQLite database, or is damaged, is a
StoreError naming it (one line), wherever it is first noticed.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError
from sqlmodel import Session, create_engine

from pipeline.errors import StoreError

# ----------------------------------------------------------------- engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_MIGRATE_LOCK = threading.Lock()
_MIGRATED: set[str] = set()


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to the newest Alembic revision (creates the tables on an empty database).

    On PostgreSQL an advisory lock makes workers that start together migrate one at a time.
    """
    from alembic import command

    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # batch migrations rebuild tables: foreign keys must be off (outside a transaction)
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(721000115)")
            command.upgrade(_alembic_config(conn), revision)
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()


def _sqlite_read_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA busy_timeout=30000")


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL (None for other databases and in-memory ones)."""
    if url.startswith("sqlite:///") and not url.startswith(("sqlite:///:memory:", "sqlite:///file:")):
        return Path(url.removeprefix("sqlite:///"))
    return None


def _read_only_dir(folder: Path) -> bool:
    try:
        return not os.access(folder, os.W_OK) or bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return True


def read_only_url(url: str) -> str | URL:
    """``url`` opened read-only: ``sqlite:///file:PATH?mode=ro&uri=true`` for a SQLite file (plus
    ``immutable=1`` when its folder cannot be written, so SQLite needs no ``-shm`` file there and
    nobody can be writing it); other URLs unchanged."""
    path = sqlite_file(url)
    if path is None:
        return url
    path = path.resolve()
    query = {"mode": "ro", "uri": "true"}
    wal = path.with_name(path.name + "-wal")
    if _read_only_dir(path.parent) and not (wal.is_file() and wal.stat().st_size):
        query["immutable"] = "1"
    return URL.create("sqlite", database="file:" + quote(str(path)), query=query)


def damaged(exc: BaseException, where: object) -> StoreError | None:
    """A StoreError naming the file when ``exc`` says the database is not SQLite or is damaged, else None."""
    orig = getattr(exc, "orig", exc)
    if not isinstance(orig, sqlite3.DatabaseError) or isinstance(orig, sqlite3.IntegrityError | sqlite3.ProgrammingError):
        return None
    name = getattr(orig, "sqlite_errorname", "")
    text = str(orig)
    if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or "malformed" in text or "not a database" in text:
        return StoreError(
            f"the database {where} is damaged or not a SQLite database ({text}): restore it from a backup, "
            "or move it away to start a new one"
        )
    return None


def _where(url: str) -> str:
    path = sqlite_file(url)
    return str(path) if path is not None else repr(url)


def engine_where(engine: Engine) -> str:
    """The database of ``engine`` as messages name it: the SQLite file, else the URL without its password."""
    if engine.dialect.name == "sqlite" and engine.url.database:
        db = engine.url.database
        return unquote(db.removeprefix("file:")) if db.startswith("file:") else db
    return repr(engine.url.render_as_string(hide_password=True))


def _check_schema(engine: Engine, where: str) -> None:
    """Refuse (StoreError) a database whose schema is not this version's newest: nothing is migrated."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(_alembic_config(None)).get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current == heads:
        return
    if not current:
        raise StoreError(f"the database {where} holds no audits (no schema); run `policyaudit audit` first")
    known = {s.revision for s in ScriptDirectory.from_config(_alembic_config(None)).walk_revisions()}
    if not current <= known:
        raise StoreError(
            f"the database {where} was written by a newer policyaudit (schema {', '.join(sorted(current))}); "
            "upgrade policyaudit to read it"
        )
    raise StoreError(
        f"the database {where} has an older schema ({', '.join(sorted(current))}, this version needs "
        f"{', '.join(sorted(heads))}) and read-only commands do not upgrade it: run `policyaudit migrate` "
        "(or resume an audit) with write access to it once"
    )


def make_engine(url: str, retries: int = 3, retry_delay: float = 1.0, read_only: bool = False) -> Engine:
    """Engine for ``url`` with the schema migrated (``read_only``: opened read-only, schema checked, never
    migrated or created). Retries a locked/unreachable database, then raises StoreError."""
    where = _where(url)
    try:
        if read_only:
            engine = create_engine(read_only_url(url), pool_pre_ping=True)
        else:
            if (path := sqlite_file(url)) is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, pool_pre_ping=True)
    except (OSError, ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"cannot use the database URL {url!r}: {type(exc).__name__}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_read_pragmas if read_only else _sqlite_pragmas)
    last: Exception | None = None
    for attempt in range(retries):
        try:
            if read_only:
                _check_schema(engine, where)
                return engine
            with _MIGRATE_LOCK:  # Alembic's command API is not thread-safe; once per process and URL
                fresh_file = url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists()
                if url not in _MIGRATED or fresh_file:
                    migrate(engine)
                    _MIGRATED.add(url)
            return engine
        except OperationalError as exc:
            if (bad := damaged(exc, where)) is not None:
                engine.dispose()
                raise bad from None
            last = exc
            time.sleep(retry_delay * (attempt + 1))
        except DatabaseError as exc:
            engine.dispose()
            raise (damaged(exc, where) or StoreError(f"cannot use the database {where}: {exc.orig}")) from None
    engine.dispose()
    raise StoreError(f"cannot use the database {where} after {retries} attempts: {getattr(last, 'orig', last)}")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session; a database that stays locked, goes away or is damaged becomes a StoreError naming it."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
        except DatabaseError as exc:
            where = engine_where(engine)
            bad = damaged(exc, where)
            if bad is None and not isinstance(exc, OperationalError):
                raise
            try:
                session.rollback()
            except DatabaseError:
                pass
            raise (bad or StoreError(f"cannot use the database {where}: {exc.orig}")) from exc
