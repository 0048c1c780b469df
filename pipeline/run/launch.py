"""Starting an audit from the command line: directly, through the Prefect flow, or on a Dask cluster.

    prepared = prepare_audit(Path("targets.csv"), {"workers": 2})   # every input checked, nothing started
    summary = launch_audit(Path("targets.csv"), "2026", {"workers": 2}, refresh=False, use_prefect=True,
                           on_status=print)
    problem = nothing_assessed(summary, prepared.settings)          # reason + hint when no service was assessed

Inputs are checked before any Prefect machinery starts (:func:`prepare_audit`: the targets file,
the settings, ``--shard`` and the rubric; then ``PREFECT_API_URL`` when set, then the database), so a
mistake is reported at once and nothing is written. Then
Prefect gets offline-safe defaults (:func:`configure_prefect`) and an API: ``PREFECT_API_URL``
(checked), a server already running on 127.0.0.1:4200, or a temporary server started in the
background while the flow is imported (:mod:`pipeline.run.prefect_server`). ``on_status`` hears,
in a sentence, what the user is waiting for. Light to import: the audit, the flow and Prefect are
imported only when used.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import PolicyAuditError
from pipeline.records import Rubric, Target
from pipeline.settings import Settings

Status = Callable[[str], None]


def configure_prefect() -> None:
    """Offline-safe Prefect defaults (see STACK.md); the user's own environment wins."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")


def check_prefect_api() -> None:
    """Fail with a clear message when PREFECT_API_URL is set but nothing answers there."""
    if os.environ.get("PREFECT_API_URL"):
        from pipeline.run.prefect_server import choose_api

        choose_api()


def make_settings(overrides: dict[str, Any]) -> Settings:
    """Settings from the environment and ``overrides``; a bad value is a PolicyAuditError naming it."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])} (POLICYAUDIT_{str(e['loc'][0]).upper()}): {e['msg']}"
            for e in exc.errors()
        )
        raise PolicyAuditError(f"invalid setting: {problems}") from None


@dataclass(frozen=True)
class PreparedAudit:
    """An audit whose inputs were all checked: what it will audit, with what."""

    targets: list[Target]
    settings: Settings
    rubric: Rubric


def prepare_audit(targets_file: Path, overrides: dict[str, Any], shard: str | None = None) -> PreparedAudit:
    """Check what an audit reads before anything starts or is written: the targets file (every
    problem at once), the settings, ``shard`` and the rubric."""
    from pipeline.grade.rubric import load_rubric
    from pipeline.run.targets import load_targets

    targets = load_targets(targets_file)
    settings = make_settings(overrides)
    from pipeline.run.audit import parse_shard

    parse_shard(shard)
    rubric = load_rubric(settings.rubric)
    return PreparedAudit(targets, settings, rubric)


def check_database(settings: Settings) -> None:
    """The database opens (created and migrated when new); a StoreError naming it otherwise."""
    from pipeline.store import db

    db.make_engine(settings.db_url).dispose()


def _say(on_status: Status | None, text: str) -> None:
    if on_status is not None:
        on_status(text)


def launch_audit(
    targets: Path, label: str, overrides: dict[str, Any], refresh: bool, use_prefect: bool, dask: str | None = None,
    shard: str | None = None, on_status: Status | None = None,
) -> dict[str, Any]:
    """Check the inputs, then run an audit and return its summary: directly (``use_prefect=False``),
    as the Prefect flow, or spread over a Dask cluster at ``dask``."""
    prepared = prepare_audit(targets, overrides, shard)
    n = len(prepared.targets)
    if not use_prefect:
        check_database(prepared.settings)
        from pipeline.run.audit import run_audit
        from pipeline.store.queries import run_summary

        _say(on_status, f"auditing {n} services from {targets.name} (stages run directly, no Prefect)")
        return run_summary(run_audit(targets, label, prepared.settings, refresh=refresh, shard=shard))
    configure_prefect()
    from pipeline.run.prefect_server import TemporaryServer, choose_api

    with ExitStack() as stack:
        api = choose_api()  # an unreachable PREFECT_API_URL is reported before anything is written
        check_database(prepared.settings)
        server = None
        if api is None:
            server = stack.enter_context(TemporaryServer())
            _say(on_status, f"auditing {n} services from {targets.name}; waiting for a temporary Prefect server "
                 "(10-25 s; `prefect server start` with PREFECT_API_URL set, or --no-prefect, skips this)")
        else:
            _say(on_status, f"auditing {n} services from {targets.name} on the Prefect server at {api}")
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from pipeline.run.flows import audit  # imported while the server starts

        if server is not None:
            api = server.wait()
            _say(on_status, f"temporary Prefect server ready after {server.ready_after:.1f} s")
        stack.enter_context(temporary_settings(updates={PREFECT_API_URL: api}))
        if dask:
            from prefect_dask import DaskTaskRunner

            runner = DaskTaskRunner(address=dask)
            return audit.with_options(task_runner=runner)(str(targets), label, overrides, refresh, distributed=True, shard=shard)
        return audit(str(targets), label, overrides, refresh, shard=shard)


def nothing_assessed(summary: dict[str, Any], settings: Settings) -> str | None:
    """Why no service of a finished audit could be assessed, with what to do; None when some were
    (a service with no policy found counts as assessed: it was looked for and ranked)."""
    if summary.get("n_assessed", 0) or summary.get("n_no_policy", 0) or not summary.get("n_targets", 0):
        return None
    from collections import Counter

    from sqlmodel import select

    from pipeline.store import db, tables

    engine = db.make_engine(settings.db_url)
    with db.session_scope(engine) as session:
        reasons = session.exec(
            select(tables.Score.reason).where(tables.Score.run_id == summary["id"], tables.Score.status == "not_assessed")
        ).all()
    engine.dispose()
    if not reasons:
        return None
    common = Counter(r or "unknown" for r in reasons).most_common(3)
    text = "no service could be assessed; most common reasons: " + "; ".join(f"{r} ({k}×)" for r, k in common)
    joined = " ".join(r or "" for r in reasons)
    if not settings.allow_private and any(w in joined for w in ("not public", "loopback", "private", "link-local")):
        text += ". Hint: these addresses are private or loopback; pass --allow-private for your own local test servers"
    elif "robots" in joined:
        text += ". Hint: robots.txt disallows these pages; --ignore-robots is only for your own servers"
    return text
