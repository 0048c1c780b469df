"""Honest states: "no policy" only when discovery completed and found nothing (issue 14, item 3).

A homepage's footer links to ``/privacy-policy``; when that link cannot be fetched (500, read
timeout, reset, too large, disallowed by robots.txt) the service is not assessed with that
failure, never published as "no privacy policy" with score 0. A short real policy behind
such a link is a policy. All servers are on 127.0.0.1; the private-address refusal is
checked by calling the address check directly.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pipeline.fetch import netguard
from pipeline.fetch.archive import Archive
from pipeline.fetch.client import make_client
from pipeline.fetch.finder import fetch_target
from pipeline.grade.grader import grade_missing
from pipeline.grade.rubric import load_rubric
from pipeline.records import FetchOutcome, FetchResult, GradeStatus, Target
from pipeline.serve.localserver import Handler, Route, serve
from pipeline.settings import Settings

from .hangs import bounded, hang, reset

MAX_BYTES = 40_000


def _home(name: str) -> bytes:
    return (
        f"<html><head><title>{name}</title></head><body><main><h1>{name}</h1><p>Notes for everyone.</p></main>"
        f'<footer><a href="/{name}/about">About</a> <a href="/{name}/privacy-policy">Privacy Policy</a></footer>'
        "</body></html>"
    ).encode()


SHORT_POLICY = (
    b"<html><head><title>Privacy Policy</title></head><body><h1>Privacy Policy</h1>"
    b"<p>We collect your email address to send receipts and delete it 30 days after you close your account.</p>"
    b"</body></html>"
)
ABOUT = b"<html><head><title>About</title></head><body><p>We make notebooks.</p></body></html>"

# case -> (handler of /<case>/privacy-policy, expected outcome, text expected in the error)
CASES: dict[str, tuple[Route | Handler, FetchOutcome, str]] = {
    "http500": (Route(b"oops", status=500), FetchOutcome.HTTP_ERROR, "HTTP 500"),
    "timeout": (hang(6.0), FetchOutcome.TIMEOUT, "timeout"),
    "reset": (reset, FetchOutcome.NETWORK_ERROR, "privacy policy link"),
    "too-large": (Route(b"<p>" + b"x" * (MAX_BYTES * 2) + b"</p>"), FetchOutcome.TOO_LARGE, "max_bytes"),
    "robots": (Route(SHORT_POLICY), FetchOutcome.ROBOTS_DISALLOWED, "robots.txt"),
    "short-policy": (Route(SHORT_POLICY), FetchOutcome.OK, ""),
}


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path, allow_private=True, per_host_delay=0.0, connect_timeout=2.0, read_timeout=1.0,
        total_timeout=3.0, retry_backoff=0.01, http_retries=0, max_bytes=MAX_BYTES, use_classifier=False,
    )


@pytest.fixture(scope="module")
def base() -> object:
    routes: dict[str, Route | Handler] = {
        "/robots.txt": Route(b"User-agent: *\nDisallow: /robots/privacy-policy\n", content_type="text/plain"),
        "/nothing/": Route(b"<html><body><p>Just a homepage, no links at all.</p></body></html>"),
    }
    for case, (route, _, _) in CASES.items():
        routes[f"/{case}/"] = Route(_home(case))
        routes[f"/{case}/about"] = Route(ABOUT)
        routes[f"/{case}/privacy-policy"] = route
    with serve(routes) as url:
        yield url


def _find(base: str, case: str, tmp_path: Path) -> FetchResult:
    settings = _settings(tmp_path)
    target = Target(id=case, name=case, kind="site", homepage=f"{base}/{case}/")

    async def main() -> FetchResult:
        async with make_client(settings) as client:
            return await fetch_target(client, target, settings, Archive(tmp_path / "archive"))

    return bounded(60, lambda: asyncio.run(main()))


@pytest.mark.parametrize("case", [c for c in CASES if c != "short-policy"])
def test_failed_fetch_of_the_footer_policy_link_is_not_assessed_with_that_failure(
    base: str, case: str, tmp_path: Path
) -> None:
    _, outcome, text = CASES[case]
    result = _find(base, case, tmp_path)
    assert result.outcome is outcome, result.error
    assert text.lower() in (result.error or "").lower()
    assert f"/{case}/privacy-policy" in (result.error or "")
    grade = grade_missing(load_rubric(Settings().rubric), result.outcome, result.error or "")
    assert grade.status is GradeStatus.NOT_ASSESSED and grade.score is None


def test_short_real_policy_linked_from_the_footer_is_a_policy(base: str, tmp_path: Path) -> None:
    result = _find(base, "short-policy", tmp_path)
    assert result.outcome is FetchOutcome.OK, result.error
    assert (result.final_url or "").endswith("/short-policy/privacy-policy")
    assert result.click_depth == 1


def test_homepage_without_any_policy_link_is_no_policy(base: str, tmp_path: Path) -> None:
    result = _find(base, "nothing", tmp_path)
    assert result.outcome is FetchOutcome.NO_POLICY_FOUND
    assert "no privacy policy link" in (result.error or "")


def test_policy_link_to_a_private_address_is_refused_by_the_address_check() -> None:
    # never contacted: the check refuses it before any connection
    refusal = asyncio.run(netguard.check_url("http://10.20.30.40/privacy-policy", allow_private=False))
    assert refusal is not None and "not public" in refusal
