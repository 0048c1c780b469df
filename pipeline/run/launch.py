"""Starting an audit from the command line: directly, through the Prefect flow, or on a Dask cluster.

    summary = launch_audit(Path("targets.csv"), "2026", {"workers": 2}, refresh=False, use_prefect=True)

Prefect gets offline-safe defaults (:func:`configure_prefect`) and a clear error when
``PREFECT_API_URL`` points at nothing (:func:`check_prefect_api`). Light to import: the audit,
the flow and Prefect are imported only when used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pipeline.errors import PolicyAuditError
from pipeline.settings import Settings


def configure_prefect() -> None:
    """Offline-safe Prefect defaults (see STACK.md); the user's own environment wins."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")


def check_prefect_api() -> None:
    """Fail with a clear message when PREFECT_API_URL is set but nothing answers there."""
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        return
    import httpx

    try:
        httpx.get(url.rstrip("/") + "/health", timeout=5.0, trust_env=False).raise_for_status()
    except httpx.HTTPError as exc:
        raise PolicyAuditError(
            f"the Prefect API at PREFECT_API_URL={url} is unreachable ({type(exc).__name__}: {exc}). "
            "Start it with `prefect server start`, unset PREFECT_API_URL to use a temporary local server, "
            "or run with --no-prefect."
        ) from None


def launch_audit(
    targets: Path, label: str, overrides: dict[str, Any], refresh: bool, use_prefect: bool, dask: str | None = None,
    shard: str | None = None,
) -> dict[str, Any]:
    """Run an audit and return its summary: directly (``use_prefect=False``), as the Prefect flow,
    or spread over a Dask cluster at ``dask``."""
    if not use_prefect:
        from pipeline.run.audit import run_audit
        from pipeline.store.queries import run_summary

        return run_summary(run_audit(targets, label, Settings(**overrides), refresh=refresh, shard=shard))
    configure_prefect()
    check_prefect_api()
    from pipeline.run.flows import audit

    if dask:
        from prefect_dask import DaskTaskRunner

        runner = DaskTaskRunner(address=dask)
        return audit.with_options(task_runner=runner)(str(targets), label, overrides, refresh, distributed=True, shard=shard)
    return audit(str(targets), label, overrides, refresh, shard=shard)
