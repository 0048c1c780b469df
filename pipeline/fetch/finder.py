"""One target: finding its policy by URL, discovery from the homepage, or an app-store listing.

    result = await fetch_target(client, target, settings, archive, pdf_text=pdf_text)

Finding the policy (:func:`fetch_target`): the policy URL, else a breadth-first search from
the homepage (:mod:`pipeline.fetch.discover`), recording the path and click depth and warning when
the policy is more than ``max_policy_clicks`` clicks away; an app-store listing leads to the
developer's policy link (:mod:`pipeline.fetch.appstores`); a user agreement without privacy rules
is not taken for the policy (``not_a_policy`` when the policy URL points at one); an app shell
that needs JavaScript is ``needs_javascript`` unless ``render_javascript`` lets Chromium render
it (:mod:`pipeline.fetch.render`). With ``as_of`` every page comes from the Internet Archive capture
closest to that date (:mod:`pipeline.fetch.history`), or ``no_archived_copy``.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urljoin, urlsplit

import httpx

from pipeline.content.charset import decode_body, sniff_kind
from pipeline.fetch import appstores, history, netguard, render
from pipeline.fetch.archive import Archive
from pipeline.fetch.client import _now, fetch_url
from pipeline.fetch.discover import (
    STRONG,
    classify_page,
    find_policy_links,
    needs_javascript,
    script_sources,
    site_key,
)
from pipeline.fetch.politeness import FetchSession
from pipeline.records import FetchOutcome, FetchResult, Target, Validators
from pipeline.settings import Settings

GONE_CODES = {404, 410}


# reads a PDF's text layer; given by the caller (the read stage), so fetching imports no reading
PdfText = Callable[[bytes], str]


CDX_MAX_BYTES = 2_000_000


# ---------------------------------------------------------------- one target


@dataclass
class _Finder:
    """Finding one target's policy: live or from the Internet Archive, by URL, discovery or app listing."""

    client: httpx.AsyncClient
    settings: Settings
    archive: Archive
    session: FetchSession
    previous: Validators | None = None
    pdf_text: PdfText | None = None

    async def get(self, url: str) -> FetchResult:
        if self.settings.as_of is None:
            return await fetch_url(
                self.client, url, self.settings, self.archive, session=self.session, validators=self.previous
            )
        return await self._get_archived(url)

    async def _get_archived(self, url: str) -> FetchResult:
        """The capture of ``url`` closest to ``as_of``: index lookup, then the replay of the raw bytes."""
        as_of = self.settings.as_of
        assert as_of is not None
        problem = netguard.url_problem(url)
        if problem:
            return FetchResult(requested_url=url, outcome=FetchOutcome.INVALID_URL, fetched_at=_now(), error=problem)
        window = self.settings.as_of_window_days
        query = history.cdx_query_url(self.settings.wayback_url, url, as_of, window)
        cdx = await fetch_url(
            self.client, query, self.settings.model_copy(update={"max_bytes": CDX_MAX_BYTES}), self.archive,
            session=self.session, keep=False,
        )
        if cdx.outcome is not FetchOutcome.OK:
            return replace(cdx, requested_url=url, final_url=None, error=f"Internet Archive index lookup for {url}: {cdx.error}")
        try:
            captures = history.parse_cdx(cdx.body or b"")
        except ValueError as exc:
            return replace(
                cdx, requested_url=url, final_url=None, outcome=FetchOutcome.NETWORK_ERROR, body=None,
                error=f"Internet Archive index answer for {url} is not CDX JSON: {exc}",
            )
        capture = history.closest_capture(captures, as_of, window)
        if capture is None:
            return FetchResult(
                requested_url=url, outcome=FetchOutcome.NO_ARCHIVED_COPY, fetched_at=_now(),
                elapsed_s=cdx.elapsed_s, retries=cdx.retries,
                error=f"the Internet Archive has no capture of {url} within {window} days of {as_of.isoformat()}"
                + (f" ({len(captures)} captures outside it or not 2xx/3xx)" if captures else ""),
            )
        replay = history.replay_url(self.settings.wayback_url, capture)
        page = await fetch_url(self.client, replay, self.settings, self.archive, session=self.session)
        landed = page.final_url or replay
        split = history.split_replay_url(landed)
        stamp, original = split if split is not None else (capture.timestamp, capture.original)
        return replace(page, requested_url=url, final_url=original, archive_timestamp=stamp, archive_url=landed)

    # -------------------------------------------------------- judging a fetched page

    def _html(self, page: FetchResult) -> str | None:
        if page.body is None or sniff_kind(page.body, page.content_type) != "html":
            return None
        return decode_body(page.body, page.content_type)[0]

    def _kind(self, page: FetchResult, strong_link: bool = False) -> str:
        """classify_page of an OK page: policy / agreement / js_shell / other (PDF and text judged by their text).

        ``strong_link``: the page was reached by a link that names the policy (e.g. a footer's
        "Privacy Policy"), so a short page titled as a policy counts as one.
        """
        body = page.body or b""
        kind = sniff_kind(body, page.content_type)
        if kind == "html":
            return classify_page(decode_body(body, page.content_type)[0], strong_link=strong_link)
        if kind == "text":
            return classify_page(decode_body(body, page.content_type)[0], is_html=False, strong_link=strong_link)
        if kind == "pdf" and self.pdf_text is not None:
            text = self.pdf_text(body)
            return classify_page(text, is_html=False, strong_link=strong_link) if text.strip() else "other"
        return "other"

    async def judge(self, page: FetchResult, strong_link: bool = False) -> str:
        """:meth:`_kind` in a worker thread: parsing and classifying never run on the fetch loop."""
        return await asyncio.to_thread(self._kind, page, strong_link)

    async def javascript(self, page: FetchResult, html: str) -> FetchResult:
        """An app shell: rendered with Chromium when allowed (the result is re-judged), else NEEDS_JAVASCRIPT."""
        url = page.final_url or page.requested_url
        reason = needs_javascript(html) or "page needs JavaScript"
        if not self.settings.render_javascript or self.settings.as_of is not None:
            why = "render_javascript is off" if not self.settings.render_javascript else "archived copies are not rendered"
            return replace(page, outcome=FetchOutcome.NEEDS_JAVASCRIPT, error=f"{url} needs JavaScript: {reason} ({why})")
        script_hosts = [
            urlsplit(urljoin(url, src)).hostname or ""
            for src in script_sources(html)
        ]
        try:
            dom = await render.render_dom(url, self.settings, script_hosts)
        except render.RenderFailed as exc:
            return replace(page, outcome=FetchOutcome.NEEDS_JAVASCRIPT, error=f"{url} needs JavaScript: {reason}; {exc}")
        still = needs_javascript(dom.decode("utf-8", errors="replace"))
        if still:
            return replace(
                page, outcome=FetchOutcome.NEEDS_JAVASCRIPT,
                error=f"{url} needs JavaScript: {reason}; rendered with Chromium, but still {still}",
            )
        headers = {
            "content-type": "text/html; charset=utf-8",
            "x-policyaudit-renderer": "chromium --dump-dom",
            "x-policyaudit-rendered-from": page.sha256 or "",
        }
        sha = await asyncio.to_thread(self.archive.put, dom, headers)
        return replace(
            page, body=dom, sha256=sha, size=len(dom), content_type=headers["content-type"], encoding="utf-8",
            warnings=(*page.warnings, f"rendered with Chromium; the unrendered page is archived as {page.sha256}"),
        )

    def _found(self, page: FetchResult, path: tuple[str, ...]) -> FetchResult:
        final = page.final_url or page.requested_url
        full = (*path, final)
        clicks = len(full) - 1
        warnings = page.warnings
        if clicks > self.settings.max_policy_clicks:
            warnings = (
                *warnings,
                (
                    f"policy is {clicks} clicks from the start page; more than {self.settings.max_policy_clicks} "
                    "counts as not public (2019 认定方法: 需多于4次点击)"
                ),
            )
        return replace(page, outcome=FetchOutcome.OK, error=None, discovery_path=full, click_depth=clicks, warnings=warnings)

    # -------------------------------------------------------- the three ways to a policy

    async def settle(self, page: FetchResult) -> FetchResult:
        """A page fetched from the target's policy URL: follow an app listing, refuse a bare user agreement."""
        html = await asyncio.to_thread(self._html, page)
        if html is None:
            return page
        url = page.final_url or page.requested_url
        layout = appstores.detect_store(url, html)
        if layout is not None:
            return await self.from_listing(page, html, layout, ())
        verdict = await asyncio.to_thread(classify_page, html)
        if verdict == "js_shell":
            return await self.javascript(page, html)
        if verdict == "agreement":
            found = await self.search(page, (), max_depth=1)
            if found.outcome is FetchOutcome.OK:
                return found
            if found.outcome is FetchOutcome.NO_POLICY_FOUND:  # searched its links completely: no policy anywhere
                return replace(
                    page, outcome=FetchOutcome.NO_POLICY_FOUND,
                    error=f"{url} is a user agreement without privacy rules, and links to no privacy policy: "
                    "no standalone privacy policy",
                )
            return replace(
                page, outcome=FetchOutcome.NOT_A_POLICY,
                error=f"{url} is a user agreement without privacy rules; following its links failed: {found.error}",
            )
        return page

    async def discover(self, homepage: str) -> FetchResult:
        home = await self.get(homepage)
        if home.outcome is not FetchOutcome.OK:
            return replace(home, error=f"homepage: {home.error}")
        return await self.search(home, ())

    async def from_listing(
        self, listing: FetchResult, html: str, layout: appstores.StoreLayout, prefix: tuple[str, ...]
    ) -> FetchResult:
        """An app-store listing: the developer's policy link, then that page (or a search from it)."""
        listing_url = listing.final_url or listing.requested_url
        path = (*prefix, listing_url)
        link = appstores.find_app_policy_link(html, listing_url, layout)
        if link is None:
            return replace(
                listing, outcome=FetchOutcome.NO_POLICY_FOUND, discovery_path=path,
                error=f"the {layout.name} listing {listing_url} has no privacy policy link",
            )
        page = await self.get(link.url)
        if page.outcome is not FetchOutcome.OK:
            return replace(
                page, discovery_path=(*path, link.url),
                error=f"privacy policy link {link.text!r} on the {layout.name} listing: {page.error}",
            )
        verdict = await self.judge(page)
        if verdict == "js_shell":
            html_page = self._html(page) or ""
            page = await self.javascript(page, html_page)
            if page.outcome is not FetchOutcome.OK:
                return replace(page, discovery_path=(*path, page.final_url or link.url))
            verdict = await self.judge(page)
        if verdict == "policy" or (verdict == "other" and sniff_kind(page.body or b"", page.content_type) != "html"):
            return self._found(page, path)
        # the developer gave a homepage or a user agreement: look for the policy from there
        found = await self.search(page, path)
        if found.outcome is FetchOutcome.NO_POLICY_FOUND:
            return replace(found, error=f"{layout.name} privacy link {link.url}: {found.error}")
        return found

    async def search(self, start: FetchResult, prefix: tuple[str, ...], max_depth: int | None = None) -> FetchResult:
        """Breadth-first search from a fetched start page for a page that reads like a privacy policy.

        Level by level (depth <= ``max_discovery_depth``), best-scored links first within a level;
        weak "hub" links (legal, help, about) are followed only on the start page's own site.
        User agreements are not taken but their links are followed.
        """
        depth_limit = self.settings.max_discovery_depth if max_depth is None else max_depth
        start_url = start.final_url or start.requested_url
        start_html = await asyncio.to_thread(self._html, start)
        if start_html is not None:
            if not prefix and max_depth is None:
                layout = appstores.detect_store(start_url, start_html)
                if layout is not None:
                    return await self.from_listing(start, start_html, layout, prefix)
            if await asyncio.to_thread(needs_javascript, start_html):
                rendered = await self.javascript(start, start_html)
                if rendered.outcome is not FetchOutcome.OK:
                    return replace(rendered, discovery_path=(*prefix, start_url),
                                   error=f"start page {rendered.error}; no links to follow without it")
                start = rendered
        home_site = _site(start_url)
        visited = {start.requested_url, start_url}
        queued: set[str] = set()
        heap: list[tuple[int, int, int, str, tuple[str, ...]]] = []  # (depth, -score, seq, url, path)
        seq = 0
        agreements: list[str] = []
        shells: list[FetchResult] = []
        failures: list[FetchResult] = []  # strong candidate links that could not be fetched

        async def enqueue(result: FetchResult, depth: int, path: tuple[str, ...]) -> None:
            nonlocal seq
            if depth > depth_limit or result.body is None or sniff_kind(result.body, result.content_type) != "html":
                return
            links = await asyncio.to_thread(_links_of, result.body, result.content_type, result.final_url or path[-1])
            for link, _text, score in links:
                if link in visited or link in queued:
                    continue
                if score < STRONG and _site(link) != home_site:
                    continue
                queued.add(link)
                heapq.heappush(heap, (depth, -score, seq, link, path))
                seq += 1

        await enqueue(start, 1, (*prefix, start_url))
        visits = 0  # pages fetched after the start page
        while heap and visits < self.settings.max_discovery_pages:
            depth, neg_score, _, url, path = heapq.heappop(heap)
            if url in visited:
                continue
            visited.add(url)
            page = await self.get(url)
            visits += 1
            if page.outcome is not FetchOutcome.OK or page.body is None:
                if -neg_score >= STRONG:
                    failures.append(replace(
                        page, discovery_path=(*path, url), error=f"privacy policy link {url}: {page.error}",
                    ))
                continue
            final = page.final_url or url
            visited.add(final)
            kind = sniff_kind(page.body, page.content_type)
            verdict = await self.judge(page, strong_link=-neg_score >= STRONG)
            if kind == "pdf" and (verdict == "policy" or -neg_score >= STRONG):
                return self._found(page, path)
            if verdict == "js_shell" and -neg_score >= STRONG:
                rendered = await self.javascript(page, self._html(page) or "")
                if rendered.outcome is not FetchOutcome.OK:
                    shells.append(replace(rendered, discovery_path=(*path, final)))
                    continue
                page, verdict = rendered, await self.judge(rendered)
            if verdict == "policy":
                return self._found(page, path)
            if verdict == "agreement":
                agreements.append(final)
            await enqueue(page, depth + 1, (*path, final))
        if failures:  # discovery did not complete: the likeliest policy could not be fetched
            return failures[0]
        if shells:
            return shells[0]
        what = "homepage" if not prefix else "start page"
        error = f"searched {visits + 1} pages from {what}, no privacy policy link"
        if agreements:
            error += f"; only a user agreement without privacy rules ({agreements[0]})"
        return FetchResult(
            requested_url=start.requested_url, outcome=FetchOutcome.NO_POLICY_FOUND, fetched_at=start.fetched_at,
            final_url=start_url, status_code=start.status_code, error=error,
            discovery_path=(*prefix, start_url) if prefix else (),
            archive_timestamp=start.archive_timestamp, archive_url=start.archive_url,
        )


async def fetch_target(
    client: httpx.AsyncClient,
    target: Target,
    settings: Settings,
    archive: Archive,
    *,
    session: FetchSession | None = None,
    previous: Validators | None = None,
    pdf_text: PdfText | None = None,
) -> FetchResult:
    """Get one target's policy: its policy URL, else (or if that is gone) discovery from the homepage.

    A policy URL or homepage that is an app-store listing leads to the developer's policy link.
    ``previous`` (the last audit's validators) makes the request for that same URL conditional.
    ``pdf_text`` reads a PDF's text so a PDF page can be judged like any other (the audit passes
    :func:`pipeline.read.reader.pdf_text`); without it a PDF found while searching is taken only
    when its link is strong.
    """
    session = session or FetchSession(settings)
    finder = _Finder(client, settings, archive, session, previous, pdf_text)
    requested = target.policy_url or target.homepage
    started = time.monotonic()
    if not requested:
        return FetchResult(
            requested_url="", outcome=FetchOutcome.INVALID_URL, fetched_at=_now(),
            error=f"target {target.id!r} has neither policy_url nor homepage ({target.source or 'no source'})",
        )
    if target.policy_url:
        result = await finder.get(target.policy_url)
        gone = result.outcome is FetchOutcome.HTTP_ERROR and result.status_code in GONE_CODES
        if not gone:
            if result.outcome is FetchOutcome.OK:
                result = await finder.settle(result)
            return replace(result, requested_url=requested, elapsed_s=time.monotonic() - started)
        if not target.homepage:
            return replace(
                result, outcome=FetchOutcome.NO_POLICY_FOUND,
                error=f"policy URL returned {result.status_code}: {target.policy_url}",
            )
        found = await finder.discover(target.homepage)
        prefix = f"policy URL returned {result.status_code}; "
        return replace(
            found, requested_url=requested, elapsed_s=time.monotonic() - started,
            error=None if found.outcome is FetchOutcome.OK else prefix + (found.error or ""),
        )
    assert target.homepage is not None
    found = await finder.discover(target.homepage)
    return replace(found, requested_url=requested, elapsed_s=time.monotonic() - started)


def _links_of(body: bytes, content_type: str | None, url: str) -> list[tuple[str, str, int]]:
    """The policy links of an HTML body (decoded and parsed in the calling worker thread)."""
    return find_policy_links(decode_body(body, content_type)[0], url)


def _site(url: str) -> str:
    return site_key(urlsplit(url).hostname or "")
