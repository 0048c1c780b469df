"""The database: engine, sessions and migrations.

    engine = make_engine("sqlite:///audit-data/audit.db")   # migrated to the latest schema
    with session_scope(engine) as session:
        ...

SQLite file by default (``sqlite:///audit-data/audit.db``), PostgreSQL when the
database URL says so. Alembic migrations (``pipeline/store/migrations/``) run when an engine
is first made, so every command sees the current schema.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
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


def make_engine(url: str, retries: int = 3, retry_delay: float = 1.0) -> Engine:
    """Engine for ``url`` with the schema migrated. Retries a locked/unreachable database, then raises StoreError."""
    try:
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_pre_ping=True)
    except (OSError, ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"cannot use the database URL {url!r}: {type(exc).__name__}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    last: Exception | None = None
    for attempt in range(retries):
        try:
            with _MIGRATE_LOCK:  # Alembic's command API is not thread-safe; once per process and URL
                fresh_file = url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists()
                if url not in _MIGRATED or fresh_file:
                    migrate(engine)
                    _MIGRATED.add(url)
            return engine
        except OperationalError as exc:
            last = exc
            time.sleep(retry_delay * (attempt + 1))
    raise StoreError(f"cannot use the database {engine.url!r} after {retries} attempts: {last}")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session; a database that stays locked or goes away becomes a StoreError naming it."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
        except OperationalError as exc:
            session.rollback()
            raise StoreError(f"cannot use the database {engine.url!r}: {exc.orig}") from exc
