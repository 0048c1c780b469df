"""Per-target budgets (issue 14, items 3 and 9): whatever a target does, it ends, and the others go on.

Servers on 127.0.0.1 only. The bounds on each test keep a regression from stalling the suite;
they are generous and measure nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

from pipeline.fetch.archive import Archive
from pipeline.fetch.batch import fetch_all
from pipeline.fetch.client import _now
from pipeline.grade.rubric import load_rubric
from pipeline.records import FetchOutcome, FetchResult, GradeStatus, Target
from pipeline.run.parallel import GradingPool
from pipeline.serve.localserver import Handler, Route, serve
from pipeline.settings import Settings

from . import bodies as b
from .hangs import bounded, drip

DRIP_LINKS = 10


def _settings(tmp_path: Path, **extra: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path, "allow_private": True, "per_host_delay": 0.0, "per_host_concurrency": 8,
        "concurrency": 16, "connect_timeout": 2.0, "read_timeout": 5.0, "total_timeout": 30.0,
        "retry_backoff": 0.01, "http_retries": 0, "use_classifier": False,
    }
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


def _links_home(prefix: str, n: int) -> bytes:
    links = "".join(f'<a href="/{prefix}/privacy-{i}">Privacy notice {i}</a> ' for i in range(n))
    return f"<html><body><h1>Home</h1><footer>{links}</footer></body></html>".encode()


def _fetch(tmp_path: Path, settings: Settings, targets: list[Target]) -> list[FetchResult]:
    return bounded(90, lambda: asyncio.run(fetch_all(targets, settings, Archive(tmp_path / "archive"))))


def test_discovery_of_dripping_links_ends_at_the_target_budget_and_others_go_on(tmp_path: Path) -> None:
    routes: dict[str, Route | Handler] = {"/drip/": Route(_links_home("drip", DRIP_LINKS)), "/good/privacy": Route(b.english_policy().encode())}
    routes.update({f"/drip/privacy-{i}": drip(10_000, per_second=1.0) for i in range(DRIP_LINKS)})
    with serve(routes) as base:
        settings = _settings(tmp_path, target_fetch_budget=4.0)
        targets = [
            Target(id="drip", name="drip", kind="site", homepage=f"{base}/drip/"),
            Target(id="good", name="good", kind="site", policy_url=f"{base}/good/privacy"),
        ]
        started = time.monotonic()
        drip_result, good = _fetch(tmp_path, settings, targets)
        elapsed = time.monotonic() - started
    assert drip_result.outcome is FetchOutcome.BUDGET_EXCEEDED
    assert (drip_result.error or "").startswith("budget exceeded: fetch")
    assert good.outcome is FetchOutcome.OK
    assert elapsed < 60  # not 10 links x 10,000 s


def test_bytes_over_the_target_budget_end_discovery(tmp_path: Path) -> None:
    page = b"<html><body><p>" + b"filler text " * 4000 + b"</p></body></html>"  # ~48 KB, no policy
    routes: dict[str, Route | Handler] = {"/big/": Route(_links_home("big", 6))}
    routes.update({f"/big/privacy-{i}": Route(page) for i in range(6)})
    with serve(routes) as base:
        settings = _settings(tmp_path, target_max_bytes=120_000)
        (result,) = _fetch(tmp_path, settings, [Target(id="big", name="big", kind="site", homepage=f"{base}/big/")])
    assert result.outcome is FetchOutcome.BUDGET_EXCEEDED, result.error
    assert "budget exceeded: bytes" in (result.error or "")


def _ok(url: str, body: bytes) -> FetchResult:
    return FetchResult(
        requested_url=url, outcome=FetchOutcome.OK, fetched_at=_now(), final_url=url, status_code=200,
        content_type="text/html; charset=utf-8", sha256=hashlib.sha256(body).hexdigest(), size=len(body), body=body,
    )


def test_grading_worker_past_its_budget_is_killed_and_replaced(tmp_path: Path) -> None:
    settings = _settings(tmp_path, target_read_budget=0.01, workers=1)
    rubric = load_rubric(settings.rubric)
    good = (Target(id="a", name="a", kind="site"), _ok("http://127.0.0.1/a", b.english_policy("Alpha").encode()))
    with GradingPool(settings, workers=1) as pool:
        pool.slack = 0.0  # a budget no worker can meet (starting one takes longer): every run is killed
        assessed, _ = bounded(120, lambda: pool.grade([good], {}))
        assert pool.replaced >= 2  # the batch, then the target alone
        # the replacement works: with a budget it can meet, the same policy is graded
        pool._budget, pool.slack = 60.0, 60.0
        graded, _ = bounded(180, lambda: pool.grade([good], {}))
    (over,) = assessed
    assert over.grade.status is GradeStatus.NOT_ASSESSED
    assert over.grade.reason.startswith("budget exceeded: read+grade")
    assert over.grade.rubric_id == rubric.id
    assert graded[0].grade.status is GradeStatus.ASSESSED
