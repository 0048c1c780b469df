"""pipeline.fetch (client, finder, batch, discover) against real servers on 127.0.0.1 (pipeline.serve.localserver).

Every page here is text written for these tests. Loopback is refused by default, so the
settings allow private addresses, except in the refusal tests.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from pipeline.content.charset import decode_body
from pipeline.fetch.archive import Archive, ArchiveError
from pipeline.fetch.batch import fetch_all, fetch_targets
from pipeline.fetch.client import fetch_url, make_client
from pipeline.fetch.discover import find_policy_links, looks_like_policy
from pipeline.fetch.fetcher import Fetcher
from pipeline.fetch.finder import fetch_target
from pipeline.fetch.netguard import is_public_address
from pipeline.records import FetchOutcome, FetchResult, Target
from pipeline.serve.localserver import RequestLog, Route, serve
from pipeline.settings import Settings

T = TypeVar("T")

POLICY_ZH = (
    "<html><head><title>示例公司隐私政策</title></head><body><h1>隐私政策</h1>"
    + "<p>本隐私政策说明示例公司如何收集、使用和保护您的个人信息。我们尊重您的隐私。</p>" * 6
    + "<p>如需查询、更正或删除您的个人信息，请联系我们。</p></body></html>"
)
POLICY_EN = (
    "<html><head><title>Privacy Policy</title></head><body><h1>Privacy Policy</h1>"
    + "<p>This privacy policy explains how we collect and use your personal information.</p>" * 6
    + "</body></html>"
)
NAMES_PAGE = "<html><head><meta charset=\"gb2312\"><title>隐私政策</title></head><body><p>联系人：朱镕基、陶喆</p></body></html>"


def html(text: str, charset: str = "utf-8") -> Route:
    return Route(text.encode(charset), content_type=f"text/html; charset={charset}")


def redirect(location: str, status: int = 302) -> Route:
    return Route(b"", status=status, headers=(("Location", location),))


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "allow_private": True,
        "per_host_delay": 0.0,
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
        "total_timeout": 5.0,
        "retry_backoff": 0.01,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def run_with_client(settings: Settings, work: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with make_client(settings) as client:
            return await work(client)

    return asyncio.run(main())


def get(url: str, settings: Settings, archive: Archive) -> FetchResult:
    return run_with_client(settings, lambda c: fetch_url(c, url, settings, archive))


def get_target(target: Target, settings: Settings, archive: Archive) -> FetchResult:
    return run_with_client(settings, lambda c: fetch_target(c, target, settings, archive))


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    return Archive(tmp_path / "archive")


class Site:
    """One server on 127.0.0.1 for the whole module (starting and stopping one costs ~0.5 s);
    each test gives it fresh routes and its own request log."""

    def __init__(self, base: str, routes: dict[str, Route | Callable[[BaseHTTPRequestHandler], None]], log: RequestLog):
        self.base = base
        self._routes = routes
        self._log = log

    @contextmanager
    def serve(
        self, routes: Mapping[str, Route | Callable[[BaseHTTPRequestHandler], None]], log: RequestLog | None = None
    ) -> Iterator[str]:
        self._routes.clear()
        self._routes.update(routes)
        self._log.entries = (log or RequestLog()).entries
        yield self.base


@pytest.fixture(scope="module")
def _module_server() -> Iterator[tuple[str, dict[str, Route | Callable[[BaseHTTPRequestHandler], None]], RequestLog]]:
    routes: dict[str, Route | Callable[[BaseHTTPRequestHandler], None]] = {}
    log = RequestLog()
    with serve(routes, log=log) as base:
        yield base, routes, log


@pytest.fixture
def site(_module_server: tuple[str, dict[str, Route | Callable[[BaseHTTPRequestHandler], None]], RequestLog]) -> Site:
    return Site(*_module_server)


def _quiet(write: Callable[[], None]) -> None:
    try:
        write()
    except (BrokenPipeError, ConnectionResetError):
        pass


# ---------------------------------------------------------------- one URL


def test_fetch_ok_archives_body_by_sha256(site: Site, tmp_path: Path, archive: Archive) -> None:
    with site.serve({"/privacy": html(POLICY_EN)}) as base:
        result = get(base + "/privacy", settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.OK, result.error
    assert result.error is None
    assert result.status_code == 200
    assert result.final_url == base + "/privacy"
    assert result.body == POLICY_EN.encode()
    assert result.size == len(POLICY_EN.encode())
    assert result.sha256 is not None and archive.get(result.sha256) == POLICY_EN.encode()
    assert (archive.get_headers(result.sha256) or {}).get("content-type") == "text/html; charset=utf-8"
    assert result.encoding == "utf-8"


def test_fetch_gbk_page_declared_in_meta_only(site: Site, tmp_path: Path, archive: Archive) -> None:
    with site.serve({"/p": Route(NAMES_PAGE.encode("gbk"), content_type="text/html")}) as base:
        result = get(base + "/p", settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.OK
    assert result.encoding == "gb18030"
    text, _ = decode_body(result.body or b"", result.content_type)
    assert "朱镕基" in text and "陶喆" in text


def test_fetch_gbk_bytes_with_lying_utf8_header_decode_right(site: Site, tmp_path: Path, archive: Archive) -> None:
    page = POLICY_ZH.replace("<h1>", "<p>朱镕基、陶喆</p><h1>")
    with site.serve({"/p": Route(page.encode("gbk"), content_type="text/html; charset=utf-8")}) as base:
        result = get(base + "/p", settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.OK
    assert result.encoding == "gb18030"
    text, _ = decode_body(result.body or b"", result.content_type)
    assert "朱镕基、陶喆" in text


@pytest.mark.parametrize("status", [404, 410, 500, 403])
def test_fetch_http_error_is_recorded_with_status(site: Site, tmp_path: Path, archive: Archive, status: int) -> None:
    with site.serve({"/p": Route(b"nope", status=status)}) as base:
        result = get(base + "/p", settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.HTTP_ERROR
    assert result.status_code == status
    assert str(status) in (result.error or "")
    assert result.sha256 is None and not archive.root.exists()


def test_fetch_follows_redirect_chain_and_sets_final_url(site: Site, tmp_path: Path, archive: Archive) -> None:
    routes = {"/a": redirect("/b", 301), "/b": redirect("/c", 307), "/c": redirect("/privacy", 308),
              "/privacy": html(POLICY_EN)}
    with site.serve(routes) as base:
        result = get(base + "/a", settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.OK
    assert result.requested_url == base + "/a"
    assert result.final_url == base + "/privacy"


def test_fetch_redirect_loop_is_too_many_redirects(site: Site, tmp_path: Path, archive: Archive) -> None:
    with site.serve({"/a": redirect("/b"), "/b": redirect("/a")}) as base:
        result = get(base + "/a", settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.TOO_MANY_REDIRECTS
    assert "loop" in (result.error or "")


def test_fetch_redirect_chain_over_limit_is_too_many_redirects(site: Site, tmp_path: Path, archive: Archive) -> None:
    routes: dict[str, Route] = {f"/r{i}": redirect(f"/r{i + 1}") for i in range(6)}
    routes["/r6"] = html(POLICY_EN)
    log = RequestLog()
    with site.serve(routes, log=log) as base:
        over = get(base + "/r0", settings_for(tmp_path, max_redirects=5, obey_robots=False), archive)
        within = get(base + "/r0", settings_for(tmp_path, max_redirects=6, obey_robots=False), archive)
    assert over.outcome is FetchOutcome.TOO_MANY_REDIRECTS
    assert "/r6" not in log.paths()[:6]
    assert within.outcome is FetchOutcome.OK


def test_fetch_redirect_to_file_scheme_is_invalid_url(site: Site, tmp_path: Path, archive: Archive) -> None:
    with site.serve({"/a": redirect("file:///etc/passwd")}) as base:
        result = get(base + "/a", settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.INVALID_URL
    assert "scheme" in (result.error or "")


def test_fetch_declared_body_over_cap_is_too_large_and_not_archived(site: Site, tmp_path: Path, archive: Archive) -> None:
    with site.serve({"/big": html("x" * 5000)}) as base:
        result = get(base + "/big", settings_for(tmp_path, max_bytes=1000), archive)
    assert result.outcome is FetchOutcome.TOO_LARGE
    assert result.sha256 is None and result.body is None
    assert not archive.root.exists()


def test_fetch_streamed_body_over_cap_without_length_is_cut_off(site: Site, tmp_path: Path, archive: Archive) -> None:
    def endless(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Connection", "close")
        h.end_headers()

        def write() -> None:
            for _ in range(200):
                h.wfile.write(b"<p>" + b"y" * 1000 + b"</p>")
        _quiet(write)
        h.close_connection = True

    with site.serve({"/stream": endless}) as base:
        result = get(base + "/stream", settings_for(tmp_path, max_bytes=20_000), archive)
    assert result.outcome is FetchOutcome.TOO_LARGE
    assert "20000" in (result.error or "")
    assert not archive.root.exists()


def test_fetch_slow_server_is_timeout(site: Site, tmp_path: Path, archive: Archive) -> None:
    with site.serve({"/slow": Route(b"late", delay_s=1.5)}) as base:
        started = time.monotonic()
        result = get(base + "/slow", settings_for(tmp_path, read_timeout=0.3, obey_robots=False), archive)
    assert result.outcome is FetchOutcome.TIMEOUT
    assert result.error
    assert time.monotonic() - started < 1.4


def test_fetch_trickling_server_hits_total_timeout(site: Site, tmp_path: Path, archive: Archive) -> None:
    def trickle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.send_header("Content-Length", "100")
        h.end_headers()

        def write() -> None:
            for _ in range(100):
                h.wfile.write(b"x")
                h.wfile.flush()
                time.sleep(0.05)
        _quiet(write)

    with site.serve({"/t": trickle}) as base:
        result = get(base + "/t", settings_for(tmp_path, read_timeout=1.0, total_timeout=0.6, obey_robots=False), archive)
    assert result.outcome is FetchOutcome.TIMEOUT
    assert "total" in (result.error or "")


def test_fetch_connection_refused_is_network_error(tmp_path: Path, archive: Archive) -> None:
    with serve({}) as base:
        pass  # server closed: its port now refuses connections
    result = get(base + "/p", settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.NETWORK_ERROR
    assert result.error


def test_fetch_obeys_robots_txt_and_never_requests_page(site: Site, tmp_path: Path, archive: Archive) -> None:
    log = RequestLog()
    routes = {"/robots.txt": Route(b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"),
              "/private/policy": html(POLICY_EN)}
    with site.serve(routes, log=log) as base:
        result = get(base + "/private/policy", settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.ROBOTS_DISALLOWED
    assert "robots.txt" in (result.error or "")
    assert log.paths() == ["/robots.txt"]


def test_fetch_robots_rule_for_our_user_agent_applies(site: Site, tmp_path: Path, archive: Archive) -> None:
    robots = b"User-agent: policyaudit\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
    with site.serve({"/robots.txt": Route(robots, content_type="text/plain"), "/p": html(POLICY_EN)}) as base:
        result = get(base + "/p", settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.ROBOTS_DISALLOWED


def test_fetch_missing_robots_txt_allows_all(site: Site, tmp_path: Path, archive: Archive) -> None:
    log = RequestLog()
    with site.serve({"/p": html(POLICY_EN)}, log=log) as base:
        result = get(base + "/p", settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.OK
    assert log.paths() == ["/robots.txt", "/p"]


def test_fetch_robots_txt_5xx_disallows_site(site: Site, tmp_path: Path, archive: Archive) -> None:
    log = RequestLog()
    with site.serve({"/robots.txt": Route(b"down", status=503), "/p": html(POLICY_EN)}, log=log) as base:
        result = get(base + "/p", settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.ROBOTS_DISALLOWED
    assert "/p" not in log.paths()


def test_fetch_without_obey_robots_does_not_ask_for_robots_txt(site: Site, tmp_path: Path, archive: Archive) -> None:
    log = RequestLog()
    with site.serve({"/p": html(POLICY_EN)}, log=log) as base:
        get(base + "/p", settings_for(tmp_path, obey_robots=False), archive)
    assert log.paths() == ["/p"]


def test_user_agent_sent_names_the_project(site: Site, tmp_path: Path, archive: Archive) -> None:
    log = RequestLog()
    with site.serve({"/p": html(POLICY_EN)}, log=log) as base:
        get(base + "/p", settings_for(tmp_path), archive)
    agents = {headers.get("User-Agent", "") for _, _, headers in log.entries}
    assert len(agents) == 1
    (agent,) = agents
    assert "policyaudit" in agent and "http" in agent


@pytest.mark.parametrize(
    ("body", "ctype"),
    [(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "image/png"), (b"\x00\x01\x02\x03binary", "application/octet-stream")],
)
def test_binary_body_is_unsupported_content(site: Site, tmp_path: Path, archive: Archive, body: bytes, ctype: str) -> None:
    with site.serve({"/b": Route(body, content_type=ctype)}) as base:
        result = get(base + "/b", settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.UNSUPPORTED_CONTENT
    assert result.error and result.sha256 is None


def test_pdf_body_is_archived_without_encoding(site: Site, tmp_path: Path, archive: Archive) -> None:
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    with site.serve({"/policy.pdf": Route(pdf, content_type="application/pdf")}) as base:
        result = get(base + "/policy.pdf", settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.OK
    assert result.encoding is None
    assert result.sha256 and archive.get(result.sha256) == pdf


def test_loopback_is_refused_by_default_and_server_sees_no_request(site: Site, tmp_path: Path, archive: Archive) -> None:
    log = RequestLog()
    with site.serve({"/p": html(POLICY_EN)}, log=log) as base:
        result = get(base + "/p", settings_for(tmp_path, allow_private=False), archive)
        named = get(base.replace("127.0.0.1", "localhost") + "/p", settings_for(tmp_path, allow_private=False), archive)
    assert result.outcome is FetchOutcome.REFUSED_ADDRESS
    assert "127.0.0.1" in (result.error or "")
    assert named.outcome is FetchOutcome.REFUSED_ADDRESS
    assert log.entries == []


def test_redirect_targets_are_judged_by_address_check() -> None:
    # what a hop check decides for typical redirect targets; nothing is contacted
    assert is_public_address("93.184.216.34")
    assert not is_public_address("169.254.169.254")
    assert not is_public_address("::ffff:192.168.0.1")


# ---------------------------------------------------------------- discovery


HOME = """<html><head><title>示例商城</title></head><body>
<nav><a href="/shop">商城</a> <a href="/news">新闻</a> <a href="/about">关于我们</a></nav>
<main><p>欢迎光临。</p></main>
<footer><a href="/legal/">法律声明</a> | <a href="/help">帮助中心</a> | <span>© 2026 示例</span></footer>
</body></html>"""
LEGAL = """<html><body><h1>法律声明</h1><ul>
<li><a href="terms.html">用户服务协议</a></li><li><a href="docs/">规则中心</a></li></ul></body></html>"""
DOCS = """<html><body><div class="list"><a href="/legal/docs/privacy-v3.html">隐私权政策（2026年版）</a></div></body></html>"""


def discovery_routes() -> dict[str, Route]:
    return {
        "/": html(HOME), "/legal/": html(LEGAL), "/legal/terms.html": html("<html><body>服务协议条款</body></html>"),
        "/legal/docs/": html(DOCS), "/legal/docs/privacy-v3.html": html(POLICY_ZH),
        "/help": html("<html><body>帮助</body></html>"), "/about": html("<html><body>关于</body></html>"),
    }


def test_discovery_finds_footer_policy_three_clicks_deep_and_records_path(site: Site, tmp_path: Path, archive: Archive) -> None:
    with site.serve(discovery_routes()) as base:
        target = Target(id="shop", name="示例商城", kind="site", homepage=base + "/")
        result = get_target(target, settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.OK, result.error
    assert result.requested_url == base + "/"
    assert result.final_url == base + "/legal/docs/privacy-v3.html"
    assert result.discovery_path == (base + "/", base + "/legal/", base + "/legal/docs/", base + "/legal/docs/privacy-v3.html")
    assert result.sha256 and archive.get(result.sha256) == POLICY_ZH.encode()


def test_discovery_two_clicks_via_redirecting_link(site: Site, tmp_path: Path, archive: Archive) -> None:
    home = '<html><body><div id="footer"><a href="/privacy">Privacy</a></div></body></html>'
    routes = {"/": html(home), "/privacy": redirect("/legal/privacy-policy"), "/legal/privacy-policy": html(POLICY_EN)}
    with site.serve(routes) as base:
        result = get_target(Target(id="e", name="E", kind="site", homepage=base + "/"), settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.OK
    assert result.discovery_path == (base + "/", base + "/legal/privacy-policy")


def test_discovery_homepage_without_policy_link_is_no_policy_found(site: Site, tmp_path: Path, archive: Archive) -> None:
    home = '<html><body><a href="/shop">商城</a><footer><a href="/about">关于我们</a></footer></body></html>'
    routes = {"/": html(home), "/about": html("<html><body>我们是一家公司。</body></html>")}
    with site.serve(routes) as base:
        result = get_target(Target(id="n", name="N", kind="site", homepage=base + "/"), settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.NO_POLICY_FOUND
    assert result.error == "searched 2 pages from homepage, no privacy policy link"
    assert result.requested_url == base + "/"


def test_discovery_visits_at_most_max_discovery_pages(site: Site, tmp_path: Path, archive: Archive) -> None:
    links = "".join(f'<a href="/help{i}">帮助{i}</a>' for i in range(10))
    routes: dict[str, Route] = {"/": html(f"<html><body><footer>{links}</footer></body></html>")}
    routes.update({f"/help{i}": html("<html><body>帮助</body></html>") for i in range(10)})
    log = RequestLog()
    with site.serve(routes, log=log) as base:
        result = get_target(Target(id="m", name="M", kind="site", homepage=base + "/"),
                            settings_for(tmp_path, max_discovery_pages=3), archive)
    assert result.outcome is FetchOutcome.NO_POLICY_FOUND
    assert len([p for p in log.paths() if p.startswith("/help")]) == 3


def test_discovery_homepage_failure_keeps_its_outcome(site: Site, tmp_path: Path, archive: Archive) -> None:
    with site.serve({"/": Route(b"err", status=503)}) as base:
        result = get_target(Target(id="f", name="F", kind="site", homepage=base + "/"), settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.HTTP_ERROR
    assert result.status_code == 503
    assert "homepage" in (result.error or "")


def test_policy_url_404_without_homepage_is_no_policy_found(site: Site, tmp_path: Path, archive: Archive) -> None:
    with site.serve({}) as base:
        result = get_target(Target(id="g", name="G", kind="site", policy_url=base + "/gone"), settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.NO_POLICY_FOUND
    assert result.status_code == 404
    assert "policy URL returned 404" in (result.error or "")


def test_policy_url_404_falls_back_to_homepage_discovery(site: Site, tmp_path: Path, archive: Archive) -> None:
    with site.serve(discovery_routes()) as base:
        target = Target(id="h", name="H", kind="site", policy_url=base + "/old-privacy", homepage=base + "/")
        result = get_target(target, settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.OK
    assert result.requested_url == base + "/old-privacy"
    assert result.final_url == base + "/legal/docs/privacy-v3.html"
    assert result.discovery_path[0] == base + "/"


def test_target_policy_url_fetched_directly_without_discovery(site: Site, tmp_path: Path, archive: Archive) -> None:
    log = RequestLog()
    routes = discovery_routes()
    routes["/privacy"] = html(POLICY_EN)
    with site.serve(routes, log=log) as base:
        target = Target(id="d", name="D", kind="site", policy_url=base + "/privacy", homepage=base + "/")
        result = get_target(target, settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.OK and result.discovery_path == ()
    assert log.paths() == ["/robots.txt", "/privacy"]


def test_target_without_urls_is_invalid_url(tmp_path: Path, archive: Archive) -> None:
    result = get_target(Target(id="x", name="X", kind="app", source="t.csv:3"), settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.INVALID_URL
    assert "t.csv:3" in (result.error or "")


def test_find_policy_links_ranks_footer_privacy_link_first() -> None:
    page = """<html><body>
    <a href="/news/privacy-day">新闻：数据安全日</a>
    <a href="javascript:void(0)">隐私政策弹窗</a>
    <a href="mailto:privacy@example.cn">写信</a>
    <a href="/terms">服务条款</a>
    <footer><a href="/p/yinsi.html#top">隐私政策</a> <a href="/legal">法律声明</a></footer>
    </body></html>"""
    links = find_policy_links(page, "https://www.example.cn/index.html")
    urls = [u for u, _, _ in links]
    assert urls[0] == "https://www.example.cn/p/yinsi.html"
    assert links[0][1] == "隐私政策"
    assert urls.index("https://www.example.cn/legal") < urls.index("https://www.example.cn/terms")
    assert not any(u.startswith(("javascript:", "mailto:")) for u in urls)
    assert all(score > 0 for _, _, score in links)


@pytest.mark.parametrize(
    "anchor", ["隐私权政策", "个人信息保护政策", "隐私条款", "隐私声明", "Privacy Policy", "privacy notice", "Privacy Statement"]
)
def test_find_policy_links_recognises_policy_anchor_texts(anchor: str) -> None:
    page = f'<html><body><a href="/x">{anchor}</a><a href="/legal">法律声明</a><a href="/about">About</a></body></html>'
    links = find_policy_links(page, "https://example.com/")
    assert links[0][0] == "https://example.com/x"


def test_find_policy_links_uses_base_href_and_image_alt() -> None:
    page = ('<html><head><base href="https://cdn.example.com/site/"></head>'
            '<body><a href="pp.html"><img alt="隐私政策"></a></body></html>')
    assert find_policy_links(page, "https://example.com/")[0][:2] == ("https://cdn.example.com/site/pp.html", "隐私政策")


def test_looks_like_policy_separates_policy_from_homepage() -> None:
    assert looks_like_policy(POLICY_ZH)
    assert looks_like_policy(POLICY_EN)
    assert not looks_like_policy(HOME)
    assert not looks_like_policy('<html><body>' + "商品 " * 500 + '<a href="/p">隐私政策</a></body></html>')


# ---------------------------------------------------------------- many targets


class _InFlight:
    """Counts requests in flight on a server; records the most seen at once and start times."""

    def __init__(self, delay: float, body: bytes) -> None:
        self.delay = delay
        self.body = body
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.starts: list[float] = []

    def __call__(self, h: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.starts.append(time.monotonic())
        time.sleep(self.delay)
        with self.lock:
            self.now -= 1
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("Content-Length", str(len(self.body)))
        h.end_headers()
        _quiet(lambda: h.wfile.write(self.body))


@pytest.fixture
def counting_server(site: Site) -> Iterator[tuple[str, _InFlight]]:
    counter = _InFlight(0.1, POLICY_EN.encode())
    with site.serve({f"/p{i}": counter for i in range(8)}) as base:
        yield base, counter


def _targets(base: str, n: int) -> list[Target]:
    return [Target(id=f"t{i}", name=f"T{i}", kind="site", policy_url=f"{base}/p{i}") for i in range(n)]


def test_fetch_all_respects_per_host_concurrency(
    tmp_path: Path, archive: Archive, counting_server: tuple[str, _InFlight]
) -> None:
    base, counter = counting_server
    results = fetch_targets(_targets(base, 8), settings_for(tmp_path, per_host_concurrency=2, obey_robots=False), archive)
    assert [r.outcome for r in results] == [FetchOutcome.OK] * 8
    assert counter.most == 2


def test_fetch_all_spaces_requests_to_one_host_by_delay(
    tmp_path: Path, archive: Archive, counting_server: tuple[str, _InFlight]
) -> None:
    base, counter = counting_server
    settings = settings_for(tmp_path, per_host_concurrency=4, per_host_delay=0.15, obey_robots=False)
    fetch_targets(_targets(base, 4), settings, archive)
    starts = sorted(counter.starts)
    assert len(starts) == 4
    assert starts[-1] - starts[0] >= 3 * 0.15 * 0.85  # without the delay all 4 start at once


def test_fetcher_keeps_the_per_host_limits_across_overlapping_batches(
    tmp_path: Path, archive: Archive, counting_server: tuple[str, _InFlight]
) -> None:
    base, counter = counting_server
    settings = settings_for(tmp_path, per_host_concurrency=2, per_host_delay=0.05, obey_robots=False)
    targets = _targets(base, 8)
    with Fetcher(settings, archive) as fetcher:
        futures = [fetcher.submit(targets[i : i + 2]) for i in range(0, 8, 2)]  # four batches at once
        results = [r for f in futures for r in f.result()]
        assert fetcher.busy_seconds > 0
    assert [r.outcome for r in results] == [FetchOutcome.OK] * 8
    assert [r.requested_url for r in results] == [t.policy_url for t in targets]
    assert counter.most == 2  # not 2 per batch
    starts = sorted(counter.starts)
    # the delay holds between batches too; arrivals are seen at the server, where a loaded machine can
    # delay one request in transit and bunch it with the next, so each gap gets slack and the sum none
    assert all(b - a >= 0.05 * 0.5 for a, b in zip(starts, starts[1:]))
    assert starts[-1] - starts[0] >= 7 * 0.05 * 0.9


def test_fetcher_reads_robots_txt_once_for_all_batches(site: Site, tmp_path: Path, archive: Archive) -> None:
    routes = {"/robots.txt": Route(b"User-agent: *\nDisallow: /private\n", content_type="text/plain")}
    routes.update({f"/p{i}": html(POLICY_EN) for i in range(4)})
    routes["/private"] = html(POLICY_EN)
    log = RequestLog()
    with site.serve(routes, log=log) as base:
        with Fetcher(settings_for(tmp_path, obey_robots=True), archive) as fetcher:
            first = fetcher.fetch(_targets(base, 2))
            second = fetcher.fetch([*_targets(base, 4)[2:], Target(id="x", name="X", kind="site", policy_url=base + "/private")])
    assert [r.outcome for r in first + second] == [FetchOutcome.OK] * 4 + [FetchOutcome.ROBOTS_DISALLOWED]
    assert log.paths().count("/robots.txt") == 1
    assert "/private" not in log.paths()


def test_fetcher_must_be_started() -> None:
    with pytest.raises(RuntimeError, match="context manager"):
        Fetcher(Settings(), Archive(Path("unused"))).submit([])


def test_queueing_for_a_host_does_not_count_against_total_timeout(
    tmp_path: Path, archive: Archive, counting_server: tuple[str, _InFlight]
) -> None:
    base, _ = counting_server
    settings = settings_for(tmp_path, per_host_concurrency=1, total_timeout=0.5, obey_robots=False)
    results = fetch_targets(_targets(base, 8), settings, archive)  # 8 x 0.1 s in a row > 0.5 s
    assert [r.outcome for r in results] == [FetchOutcome.OK] * 8


def test_fetch_all_with_broken_targets_returns_every_result_in_order(tmp_path: Path, archive: Archive) -> None:
    with serve({}) as dead:
        pass
    seen: list[str] = []
    with serve({"/a": html(POLICY_EN), "/b": html(POLICY_ZH)}) as base:
        targets = [
            Target(id="a", name="A", kind="site", policy_url=base + "/a"),
            Target(id="dead", name="Dead", kind="site", policy_url=dead + "/x"),
            Target(id="bad", name="Bad", kind="site", policy_url="not a url"),
            Target(id="b", name="B", kind="site", policy_url=base + "/b"),
        ]

        async def main() -> list[FetchResult]:
            return await fetch_all(targets, settings_for(tmp_path), archive, on_result=lambda t, r: seen.append(t.id))

        results = asyncio.run(main())
    assert [r.outcome for r in results] == [
        FetchOutcome.OK, FetchOutcome.NETWORK_ERROR, FetchOutcome.INVALID_URL, FetchOutcome.OK,
    ]
    assert [r.requested_url for r in results] == [t.policy_url for t in targets]
    assert all(r.error for r in results if r.outcome is not FetchOutcome.OK)
    assert sorted(seen) == ["a", "b", "bad", "dead"]


def test_fetch_all_records_an_unexpected_exception_as_network_error(site: Site, tmp_path: Path, archive: Archive) -> None:
    with site.serve({"/a": html(POLICY_EN)}) as base:
        real = httpx.AsyncHTTPTransport()

        async def handler(request: httpx.Request) -> httpx.Response:
            if request.url.path == "/boom":
                raise RuntimeError("kaboom in transport")
            response = await real.handle_async_request(request)
            await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=response.content)

        targets = [Target(id="a", name="A", kind="site", policy_url=base + "/a"),
                   Target(id="boom", name="Boom", kind="site", policy_url=base + "/boom")]
        settings = settings_for(tmp_path, obey_robots=False)

        async def main() -> list[FetchResult]:
            async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
                return await fetch_all(targets, settings, archive, client=client)

        results = asyncio.run(main())
    assert results[0].outcome is FetchOutcome.OK
    assert results[1].outcome is FetchOutcome.NETWORK_ERROR
    assert "kaboom in transport" in (results[1].error or "")


def test_robots_txt_is_fetched_once_per_origin_in_a_run(site: Site, tmp_path: Path, archive: Archive) -> None:
    log = RequestLog()
    routes = {"/robots.txt": Route(b"User-agent: *\nDisallow: /x\n", content_type="text/plain")}
    routes.update({f"/p{i}": html(POLICY_EN) for i in range(4)})
    with site.serve(routes, log=log) as base:
        results = fetch_targets(_targets(base, 4), settings_for(tmp_path), archive)
    assert [r.outcome for r in results] == [FetchOutcome.OK] * 4
    assert log.paths().count("/robots.txt") == 1


def test_client_refuses_loopback_at_connect_time_even_without_hop_check(site: Site, tmp_path: Path) -> None:
    log = RequestLog()
    settings = settings_for(tmp_path, allow_private=False)
    with site.serve({"/p": html(POLICY_EN)}, log=log) as base:
        with pytest.raises(httpx.ConnectError, match="refused address"):
            run_with_client(settings, lambda c: c.get(base + "/p"))
    assert log.entries == []


def test_unwritable_archive_stops_the_batch_with_archive_error(site: Site, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the archive directory should be")
    with site.serve({"/p0": html(POLICY_EN)}) as base:
        with pytest.raises(ArchiveError, match="not-a-dir"):
            fetch_targets(_targets(base, 1), settings_for(tmp_path), Archive(blocker))


def test_fetch_targets_works_when_called_from_inside_an_event_loop(site: Site, tmp_path: Path, archive: Archive) -> None:
    with site.serve({"/p0": html(POLICY_EN)}) as base:

        async def inside() -> list[FetchResult]:
            return fetch_targets(_targets(base, 1), settings_for(tmp_path), archive)

        results = asyncio.run(inside())
    assert results[0].outcome is FetchOutcome.OK


# ---------------------------------------------------------------- retries (429/5xx, Retry-After)


class _Script:
    """A handler answering from a script of (status, headers, body) steps; the last step repeats."""

    def __init__(self, *steps: tuple[int, dict[str, str], bytes]) -> None:
        self.steps = list(steps)
        self.seen: list[dict[str, str]] = []
        self.times: list[float] = []

    def __call__(self, h: BaseHTTPRequestHandler) -> None:
        self.seen.append(dict(h.headers.items()))
        self.times.append(time.monotonic())
        status, headers, body = self.steps[min(len(self.seen), len(self.steps)) - 1]
        h.send_response(status)
        headers = {"Content-Type": "text/html; charset=utf-8", **headers}
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        _quiet(lambda: h.wfile.write(body))


def test_429_with_retry_after_is_retried_after_the_wait(site: Site, tmp_path: Path, archive: Archive) -> None:
    script = _Script((429, {"Retry-After": "1"}, b"slow down"), (200, {}, POLICY_EN.encode()))
    with site.serve({"/p": script}) as base:
        result = get(base + "/p", settings_for(tmp_path, obey_robots=False), archive)
    assert result.outcome is FetchOutcome.OK, result.error
    assert result.retries == 1
    assert len(script.times) == 2 and script.times[1] - script.times[0] >= 0.95


def test_503_every_time_is_http_error_after_bounded_retries(site: Site, tmp_path: Path, archive: Archive) -> None:
    script = _Script((503, {}, b"down"))
    with site.serve({"/p": script}) as base:
        result = get(base + "/p", settings_for(tmp_path, obey_robots=False, http_retries=2), archive)
    assert result.outcome is FetchOutcome.HTTP_ERROR
    assert result.status_code == 503 and result.retries == 2
    assert len(script.seen) == 3
    assert "after 2 retries" in (result.error or "")


def test_backoff_doubles_between_retries(site: Site, tmp_path: Path, archive: Archive) -> None:
    script = _Script((500, {}, b"oops"))
    with site.serve({"/p": script}) as base:
        get(base + "/p", settings_for(tmp_path, obey_robots=False, http_retries=2, retry_backoff=0.2), archive)
    gaps = [b - a for a, b in zip(script.times, script.times[1:], strict=False)]
    assert len(gaps) == 2
    assert gaps[0] >= 0.19 and gaps[1] >= 0.39


def test_429_every_time_is_rate_limited(site: Site, tmp_path: Path, archive: Archive) -> None:
    script = _Script((429, {}, b"no"))
    with site.serve({"/p": script}) as base:
        result = get(base + "/p", settings_for(tmp_path, obey_robots=False, http_retries=1), archive)
    assert result.outcome is FetchOutcome.RATE_LIMITED
    assert result.status_code == 429 and len(script.seen) == 2


def test_retry_after_over_the_cap_is_rate_limited_at_once_with_the_wait_stated(
    site: Site, tmp_path: Path, archive: Archive
) -> None:
    script = _Script((429, {"Retry-After": "3600"}, b"come back in an hour"))
    with site.serve({"/p": script}) as base:
        started = time.monotonic()
        result = get(base + "/p", settings_for(tmp_path, obey_robots=False, max_retry_after=30), archive)
    assert result.outcome is FetchOutcome.RATE_LIMITED
    assert "3600 s" in (result.error or "") and "max_retry_after=30" in (result.error or "")
    assert len(script.seen) == 1 and time.monotonic() - started < 1.0


def test_retry_wait_does_not_count_against_total_timeout(site: Site, tmp_path: Path, archive: Archive) -> None:
    script = _Script((503, {"Retry-After": "1"}, b"busy"), (200, {}, POLICY_EN.encode()))
    with site.serve({"/p": script}) as base:
        result = get(base + "/p", settings_for(tmp_path, obey_robots=False, total_timeout=0.8), archive)
    assert result.outcome is FetchOutcome.OK, result.error


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 120.0), ("0", 0.0), ("Wed, 21 Oct 2026 07:28:00 GMT", 60.0), ("Wed, 21 Oct 2026 07:26:00 GMT", 0.0),
     ("soon", None), ("", None), (None, None)],
)
def test_retry_after_seconds_reads_delay_and_http_date(value: str | None, expected: float | None) -> None:
    from datetime import UTC, datetime

    from pipeline.fetch.client import retry_after_seconds

    now = datetime(2026, 10, 21, 7, 27, 0, tzinfo=UTC)
    assert retry_after_seconds(value, now=now) == expected


# ---------------------------------------------------------------- re-audits: conditional requests


class _Validating:
    """A policy page with an ETag and Last-Modified that answers 304 to a matching If-None-Match."""

    def __init__(self, body: bytes, etag: str = '"v1"') -> None:
        self.body = body
        self.etag = etag
        self.seen: list[dict[str, str]] = []

    def __call__(self, h: BaseHTTPRequestHandler) -> None:
        self.seen.append(dict(h.headers.items()))
        if h.headers.get("If-None-Match") == self.etag:
            h.send_response(304)
            h.send_header("ETag", self.etag)
            h.end_headers()
            return
        h.send_response(200)
        h.send_header("Content-Type", "text/html; charset=utf-8")
        h.send_header("ETag", self.etag)
        h.send_header("Last-Modified", "Tue, 01 Sep 2026 08:00:00 GMT")
        h.send_header("Content-Length", str(len(self.body)))
        h.end_headers()
        _quiet(lambda: h.wfile.write(self.body))


def _target_fetch(target: Target, settings: Settings, archive: Archive, previous: object = None) -> FetchResult:
    return run_with_client(settings, lambda c: fetch_target(c, target, settings, archive, previous=previous))  # type: ignore[arg-type]


def test_reaudit_sends_validators_and_304_reuses_previous_body(site: Site, tmp_path: Path, archive: Archive) -> None:
    from pipeline.fetch.client import validators_of

    page = _Validating(POLICY_EN.encode())
    settings = settings_for(tmp_path, obey_robots=False)
    with site.serve({"/privacy": page}) as base:
        target = Target(id="v", name="V", kind="site", policy_url=base + "/privacy")
        first = _target_fetch(target, settings, archive)
        again = _target_fetch(target, settings, archive, previous=validators_of(first))
    assert first.etag == '"v1"' and first.last_modified == "Tue, 01 Sep 2026 08:00:00 GMT" and not first.not_modified
    assert "If-None-Match" not in page.seen[0]
    assert page.seen[1]["If-None-Match"] == '"v1"'
    assert page.seen[1]["If-Modified-Since"] == "Tue, 01 Sep 2026 08:00:00 GMT"
    assert again.outcome is FetchOutcome.OK and again.not_modified
    assert again.status_code == 304
    assert again.sha256 == first.sha256 and again.body == POLICY_EN.encode()
    assert again.content_type == "text/html; charset=utf-8" and again.encoding == "utf-8"


def test_changed_policy_answers_200_with_new_sha(site: Site, tmp_path: Path, archive: Archive) -> None:
    from pipeline.fetch.client import validators_of

    settings = settings_for(tmp_path, obey_robots=False)
    old, new = _Validating(POLICY_EN.encode(), '"v1"'), _Validating(POLICY_ZH.encode(), '"v2"')
    with site.serve({"/privacy": old}) as base:
        target = Target(id="v", name="V", kind="site", policy_url=base + "/privacy")
        first = _target_fetch(target, settings, archive)
    with site.serve({"/privacy": new}) as base:
        again = _target_fetch(target, settings, archive, previous=validators_of(first))
    assert again.outcome is FetchOutcome.OK and not again.not_modified
    assert again.sha256 != first.sha256 and again.etag == '"v2"'


def test_validators_from_archive_read_the_archived_headers(site: Site, tmp_path: Path, archive: Archive) -> None:
    from pipeline.fetch.client import validators_from_archive

    with site.serve({"/privacy": _Validating(POLICY_EN.encode())}) as base:
        first = get(base + "/privacy", settings_for(tmp_path, obey_robots=False), archive)
    found = validators_from_archive(archive, first.final_url, first.sha256)
    assert found is not None
    assert (found.url, found.sha256, found.etag) == (base + "/privacy", first.sha256, '"v1"')
    assert validators_from_archive(archive, first.final_url, "0" * 64) is None
    assert validators_from_archive(archive, None, first.sha256) is None


def test_304_with_body_missing_from_archive_refetches_unconditionally(site: Site, tmp_path: Path, archive: Archive) -> None:
    from pipeline.records import Validators

    page = _Validating(POLICY_EN.encode())
    with site.serve({"/privacy": page}) as base:
        stale = Validators(url=base + "/privacy", sha256="ab" * 32, etag='"v1"')
        result = run_with_client(
            settings_for(tmp_path, obey_robots=False),
            lambda c: fetch_url(c, base + "/privacy", settings_for(tmp_path, obey_robots=False), archive, validators=stale),
        )
    assert result.outcome is FetchOutcome.OK and not result.not_modified
    assert result.body == POLICY_EN.encode() and result.retries == 0
    assert [("If-None-Match" in h) for h in page.seen] == [True, False]


def test_validators_are_only_sent_to_the_previous_policy_url(site: Site, tmp_path: Path, archive: Archive) -> None:
    from pipeline.records import Validators

    log = RequestLog()
    with site.serve(discovery_routes(), log=log) as base:
        previous = Validators(url=base + "/legal/docs/privacy-v3.html", sha256="ab" * 32, etag='"x"')
        target = Target(id="shop", name="示例商城", kind="site", homepage=base + "/")
        result = _target_fetch(target, settings_for(tmp_path), archive, previous=previous)
    assert result.outcome is FetchOutcome.OK
    conditional = [p for _, p, h in log.entries if "If-None-Match" in h]
    assert conditional == ["/legal/docs/privacy-v3.html"]


# ---------------------------------------------------------------- content: PDF, plain text, JavaScript shells


def make_pdf(lines: list[str]) -> bytes:
    """A small one-page PDF with a Helvetica text layer (ASCII lines), xref offsets computed."""
    text = " ".join("(" + line.replace("(", r"\(").replace(")", r"\)") + ") '" for line in lines)
    content = f"BT /F1 11 Tf 14 TL 72 760 Td {text} ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


PDF_LINES = [
    "Privacy Policy of the Example Reading App",
    "This privacy policy explains which personal information we collect and why.",
    "We collect your email address to create your account and keep it for two years.",
    "We share personal information with payment processors only to take payments.",
    "You may ask us to delete your personal information at any time; privacy contact below.",
]


@pytest.mark.parametrize("ctype", ["application/pdf", "application/octet-stream", "text/html; charset=utf-8"])
def test_pdf_policy_is_ok_and_readable_whatever_its_content_type(
    site: Site, tmp_path: Path, archive: Archive, ctype: str
) -> None:
    from pipeline.read.extract import extract_pdf

    pdf = make_pdf(PDF_LINES)
    with site.serve({"/privacy.pdf": Route(pdf, content_type=ctype)}) as base:
        result = get_target(Target(id="pdf", name="PDF", kind="app", policy_url=base + "/privacy.pdf"),
                            settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.OK, result.error
    assert result.encoding is None and result.body == pdf
    assert "delete your personal information" in extract_pdf(result.body or b"").text


def test_discovery_takes_a_pdf_policy_linked_from_the_footer(site: Site, tmp_path: Path, archive: Archive) -> None:
    home = '<html><body><p>Welcome.</p><footer><a href="/docs/pp.pdf">Privacy Policy (PDF)</a></footer></body></html>'
    routes = {"/": html(home), "/docs/pp.pdf": Route(make_pdf(PDF_LINES), content_type="application/octet-stream")}
    with site.serve(routes) as base:
        result = get_target(Target(id="p", name="P", kind="site", homepage=base + "/"), settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.OK
    assert result.discovery_path == (base + "/", base + "/docs/pp.pdf") and result.click_depth == 1


def test_plain_text_policy_is_ok_with_its_charset(site: Site, tmp_path: Path, archive: Archive) -> None:
    text = "隐私政策\n\n本政策说明我们如何收集、使用、共享和保存您的个人信息，以及您如何删除个人信息。\n".encode("gb18030")
    with site.serve({"/privacy.txt": Route(text, content_type="text/plain; charset=gbk")}) as base:
        result = get_target(Target(id="t", name="T", kind="site", policy_url=base + "/privacy.txt"),
                            settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.OK
    assert result.encoding == "gb18030"
    assert decode_body(result.body or b"", result.content_type)[0].startswith("隐私政策")


SHELL_ROOT = ('<!doctype html><html><head><title>Privacy</title><script defer src="/static/app.js"></script></head>'
              '<body><div id="root"></div></body></html>')
SHELL_NOSCRIPT = ('<html><head><script src="/bundle.js"></script></head><body>'
                  '<noscript>您需要启用 JavaScript 才能运行此应用。</noscript><div id="app-container"></div></body></html>')


@pytest.mark.parametrize(("page", "why"), [(SHELL_ROOT, 'id="root"'), (SHELL_NOSCRIPT, "<noscript>")])
def test_policy_page_needing_javascript_is_recorded_as_such_and_archived(
    site: Site, tmp_path: Path, archive: Archive, page: str, why: str
) -> None:
    with site.serve({"/privacy": html(page)}) as base:
        result = get_target(Target(id="js", name="JS", kind="site", policy_url=base + "/privacy"),
                            settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.NEEDS_JAVASCRIPT
    assert why in (result.error or "") and "render_javascript is off" in (result.error or "")
    assert result.sha256 and archive.get(result.sha256) == page.encode()


def test_page_with_scripts_and_real_text_is_not_a_javascript_shell(site: Site, tmp_path: Path, archive: Archive) -> None:
    page = POLICY_EN.replace("</body>", '<div id="root"></div><script src="/a.js"></script></body>')
    with site.serve({"/privacy": html(page)}) as base:
        result = get_target(Target(id="js", name="JS", kind="site", policy_url=base + "/privacy"),
                            settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.OK


def test_discovery_homepage_needing_javascript_is_recorded(site: Site, tmp_path: Path, archive: Archive) -> None:
    with site.serve({"/": html(SHELL_ROOT)}) as base:
        result = get_target(Target(id="spa", name="SPA", kind="site", homepage=base + "/"), settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.NEEDS_JAVASCRIPT
    assert "no links to follow" in (result.error or "")


APP_JS = (b"document.getElementById('root').innerHTML = '<h1>Privacy Policy</h1>' + "
          b"'<p>This privacy policy explains how we collect, use and share your personal information.</p>'.repeat(4);")


@pytest.mark.slow
def test_renderer_fills_a_javascript_shell_with_system_chromium(site: Site, tmp_path: Path, archive: Archive) -> None:
    from pipeline.fetch.render import chromium_available

    settings = settings_for(tmp_path, render_javascript=True, total_timeout=30.0)
    if not chromium_available(settings):
        pytest.skip(f"no Chromium at {settings.chromium_path}")
    routes = {"/privacy": html(SHELL_ROOT), "/static/app.js": Route(APP_JS, content_type="text/javascript")}
    with site.serve(routes) as base:
        result = get_target(Target(id="js", name="JS", kind="site", policy_url=base + "/privacy"), settings, archive)
    assert result.outcome is FetchOutcome.OK, result.error
    assert b"collect, use and share your personal information" in (result.body or b"")
    assert any("rendered with Chromium" in w for w in result.warnings)
    assert result.sha256 and (archive.get_headers(result.sha256) or {}).get("x-policyaudit-renderer")


# ---------------------------------------------------------------- click depth, user agreements


def _chain(depth: int) -> dict[str, Route]:
    """A site whose policy is ``depth`` clicks from the homepage, through hub pages."""
    routes: dict[str, Route] = {}
    for i in range(depth):
        nxt = f"/hub{i + 1}/" if i + 1 < depth else "/legal/privacy.html"
        label = "隐私政策" if i + 1 == depth else "法律声明"
        routes[f"/hub{i}/" if i else "/"] = html(
            f'<html><body><p>第{i}层</p><footer><a href="{nxt}">{label}</a></footer></body></html>'
        )
    routes["/legal/privacy.html"] = html(POLICY_ZH)
    return routes


def test_discovery_records_click_depth_without_warning_within_four_clicks(site: Site, tmp_path: Path, archive: Archive) -> None:
    with site.serve(discovery_routes()) as base:
        result = get_target(Target(id="shop", name="S", kind="site", homepage=base + "/"), settings_for(tmp_path), archive)
    assert result.click_depth == 3 and result.warnings == ()


def test_policy_more_than_four_clicks_away_is_flagged_not_public(site: Site, tmp_path: Path, archive: Archive) -> None:
    with site.serve(_chain(5)) as base:
        result = get_target(Target(id="deep", name="D", kind="site", homepage=base + "/"), settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.OK, result.error
    assert result.click_depth == 5 and len(result.discovery_path) == 6
    assert len(result.warnings) == 1 and "5 clicks" in result.warnings[0] and "not public" in result.warnings[0]


def test_discovery_stops_at_max_discovery_depth(site: Site, tmp_path: Path, archive: Archive) -> None:
    with site.serve(_chain(5)) as base:
        result = get_target(Target(id="deep", name="D", kind="site", homepage=base + "/"),
                            settings_for(tmp_path, max_discovery_depth=4), archive)
    assert result.outcome is FetchOutcome.NO_POLICY_FOUND


USER_AGREEMENT = (
    "<html><head><title>用户服务协议</title></head><body><h1>用户服务协议</h1>"
    "<p>一、服务内容：示例平台向用户提供在线阅读服务。</p><p>二、账号注册：用户应当提供真实的注册资料。</p>"
    "<p>三、用户行为规范：用户不得发布违法信息。</p><p>四、知识产权：平台内容的知识产权归示例公司所有。</p>"
    "<p>五、个人信息：我们将按照《隐私政策》处理您的个人信息，保护您的隐私。</p>"
    "<p>六、免责声明与法律适用：本协议适用中华人民共和国法律。</p>{links}</body></html>"
)


def test_policy_url_pointing_at_a_bare_user_agreement_is_no_standalone_policy(site: Site, tmp_path: Path, archive: Archive) -> None:
    """The study counted a service without a privacy policy as scoring 0; a link that leads only to a
    user agreement (no privacy rules, no link onward) is that case, not a failure to assess."""
    with site.serve({"/agreement": html(USER_AGREEMENT.format(links=""))}) as base:
        result = get_target(Target(id="ua", name="UA", kind="app", policy_url=base + "/agreement"),
                            settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.NO_POLICY_FOUND
    assert "user agreement" in (result.error or "") and "no standalone privacy policy" in (result.error or "")
    assert result.sha256  # what the page said is archived


def test_user_agreement_linking_to_the_policy_leads_to_it(site: Site, tmp_path: Path, archive: Archive) -> None:
    agreement = USER_AGREEMENT.format(links='<p>详见<a href="/privacy">《隐私政策》</a></p>')
    with site.serve({"/agreement": html(agreement), "/privacy": html(POLICY_ZH)}) as base:
        result = get_target(Target(id="ua", name="UA", kind="app", policy_url=base + "/agreement"),
                            settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.OK
    assert result.discovery_path == (base + "/agreement", base + "/privacy") and result.click_depth == 1


def test_discovery_does_not_take_a_user_agreement_for_the_policy(site: Site, tmp_path: Path, archive: Archive) -> None:
    home = '<html><body><footer><a href="/terms">用户协议与隐私</a> <a href="/about">关于我们</a></footer></body></html>'
    routes = {"/": html(home), "/terms": html(USER_AGREEMENT.format(links="")), "/about": html("<html><body>关于</body></html>")}
    with site.serve(routes) as base:
        result = get_target(Target(id="ua", name="UA", kind="site", homepage=base + "/"), settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.NO_POLICY_FOUND
    assert "user agreement" in (result.error or "") and base + "/terms" in (result.error or "")


def test_classify_page_tells_agreement_policy_and_shell_apart() -> None:
    from pipeline.fetch.discover import classify_page

    assert classify_page(USER_AGREEMENT.format(links="")) == "agreement"
    assert classify_page(POLICY_ZH) == "policy" and classify_page(POLICY_EN) == "policy"
    assert classify_page(SHELL_ROOT) == "js_shell"
    with_chapter = USER_AGREEMENT.format(links=(
        "<h2>第七章 隐私保护</h2><p>我们收集您的个人信息用于提供服务；我们不会向第三方共享或转让您的个人信息。</p>"
        "<p>您的个人信息保存期限为账号存续期间；您可以查阅、更正、删除您的个人信息或注销账号。</p>"
        "<p>我们采取加密等安全措施保护您的隐私。</p>"
    ))
    assert classify_page(with_chapter) == "policy"
    assert classify_page(HOME) == "other"
