"""App-store listings: the developer's policy link on Google Play, Apple App Store and Xiaomi pages.

The listing pages are small imitations written for these tests (layout only, own words),
served on 127.0.0.1; each declares the store's canonical URL, as the real pages do, which is
how a listing is recognised away from the store's own host.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.fetch.appstores import LAYOUTS, detect_store, find_app_policy_link
from pipeline.fetch.archive import Archive
from pipeline.records import FetchOutcome, Target
from pipeline.serve.localserver import RequestLog, serve
from tests.test_fetch import POLICY_EN, POLICY_ZH, Site, get_target, html, settings_for

PLAY_ID = "com.example.reader"

from tests.fetch_support import _server, archive, site  # noqa: F401 - fixtures


def play_listing(dev_link: str | None, text: str = "Privacy Policy") -> str:
    support = f'<a href="{dev_link}"><i class="material-icons">shield</i><div>{text}</div></a>' if dev_link else ""
    return f"""<!doctype html><html lang="en"><head><title>Example Reader - Apps on Google Play</title>
<link rel="canonical" href="https://play.google.com/store/apps/details?id={PLAY_ID}&hl=en_US"></head><body>
<header role="banner"><a href="https://play.google.com/store/games">Games</a>
  <a href="https://policies.google.com/privacy">Privacy</a></header>
<main>
 <h1>Example Reader</h1><div><a href="https://play.google.com/store/apps/dev?id=42">Example Labs</a></div>
 <section><header><h2>About this app</h2></header><div>Read books on the train. Sync your shelf.</div></section>
 <section><header><h2>Data safety</h2></header>
  <div>Safety starts with understanding how developers collect and share your data.
   <a href="https://support.google.com/googleplay/answer/11416267">Learn more about how Play shows privacy labels</a></div>
 </section>
 <section><header><h2>App support</h2></header><div>
   <a href="https://reader.example.com/"><div>Website</div></a>
   <a href="mailto:help@example.com"><div>Email</div><div>help@example.com</div></a>
   {support}
 </div></section>
</main>
<footer><a href="https://policies.google.com/privacy">Privacy</a>
  <a href="https://play.google.com/about/play-terms/">Terms of Service</a></footer>
</body></html>"""


def apple_listing(dev_link: str | None, text: str = "Privacy Policy") -> str:
    privacy = (f'<p>The developer, Example Labs, told us how the app handles data. For details, see the '
               f'<a href="{dev_link}">developer\u2019s privacy policy</a>.</p>') if dev_link else "<p>No details provided.</p>"
    info = f'<li><a class="link icon icon-after icon-external" href="{dev_link}">{text}</a></li>' if dev_link else ""
    return f"""<html><head><title>Example Reader on the App Store</title>
<link rel="canonical" href="https://apps.apple.com/us/app/example-reader/id1234567890"></head><body>
<nav id="globalnav"><a href="https://www.apple.com/">Apple</a> <a href="https://www.apple.com/privacy/">Privacy</a></nav>
<main>
 <section class="app-header"><h1>Example Reader</h1><h2><a href="https://apps.apple.com/us/developer/id99">Example Labs</a></h2></section>
 <section class="app-privacy"><h2>App Privacy</h2>{privacy}
   <a href="https://apps.apple.com/story/id1538632801">Learn More</a></section>
 <section class="information"><h2>Information</h2><dl><dt>Seller</dt><dd>Example Labs Ltd.</dd></dl>
   <ul><li><a href="https://reader.example.com/">Developer Website</a></li>
   <li><a href="https://reader.example.com/help">App Support</a></li>{info}</ul></section>
</main>
<footer id="ac-globalfooter"><a href="https://www.apple.com/legal/privacy/">Privacy Policy</a>
  <a href="https://www.apple.com/legal/internet-services/terms/site.html">Terms of Use</a></footer>
</body></html>"""


def xiaomi_listing(dev_link: str | None, text: str = "隐私政策") -> str:
    privacy = f'<li>隐私协议：</li><li><a href="{dev_link}" target="_blank">{text}</a></li>' if dev_link else ""
    return f"""<html><head><meta charset="utf-8"><title>示例阅读-小米应用商店</title>
<meta property="og:url" content="https://app.mi.com/details?id={PLAY_ID}"></head><body>
<div class="header"><a href="https://app.mi.com/">应用商店首页</a> <a href="https://privacy.mi.com/all/zh_CN/">隐私政策</a></div>
<div class="main"><div class="app-info"><div class="intro-titles"><h3>示例阅读</h3><p>示例科技有限公司</p></div></div>
 <div class="app-text"><h3>应用介绍</h3><p>随时随地读书，书架云同步。</p></div>
 <div class="details preventDefault"><h3>详细信息</h3><ul class="cf">
  <li>软件大小：</li><li>12.5 M</li><li>版本号：</li><li>3.2.1</li><li>更新时间：</li><li>2026-09-01</li>
  <li>包名：</li><li>{PLAY_ID}</li>{privacy}<li>权限详情：</li><li><a href="/permission?id={PLAY_ID}">查看权限</a></li></ul></div>
</div>
<div class="footer"><a href="https://privacy.mi.com/all/zh_CN/">小米隐私政策</a> <a href="https://www.mi.com/about/">关于小米</a></div>
</body></html>"""


STORES = {
    "Google Play": ("/store/apps/details", play_listing),
    "Apple App Store": ("/us/app/example-reader/id1234567890", apple_listing),
    "Xiaomi GetApps": ("/details", xiaomi_listing),
}


@pytest.mark.parametrize("store", list(STORES))
def test_app_listing_leads_to_the_developer_policy_not_the_store_policy(
    site: Site, tmp_path: Path, archive: Archive, store: str
) -> None:
    path, layout = STORES[store]
    log = RequestLog()
    with site.serve({path: html(layout("/dev/privacy")), "/dev/privacy": html(POLICY_EN)}, log=log) as base:
        target = Target(id="app", name="Example Reader", kind="app", homepage=f"{base}{path}?id={PLAY_ID}")
        result = get_target(target, settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.OK, result.error
    assert result.final_url == base + "/dev/privacy"
    assert result.discovery_path == (f"{base}{path}?id={PLAY_ID}", base + "/dev/privacy")
    assert result.click_depth == 1
    assert result.sha256 and archive.get(result.sha256) == POLICY_EN.encode()


@pytest.mark.parametrize(("store", "text"), [("Google Play", "隐私权政策"), ("Apple App Store", "隐私政策"),
                                             ("Xiaomi GetApps", "个人信息保护政策")])
def test_app_listing_in_chinese_is_read_too(site: Site, tmp_path: Path, archive: Archive, store: str, text: str) -> None:
    path, layout = STORES[store]
    with site.serve({path: html(layout("/dev/yinsi", text)), "/dev/yinsi": html(POLICY_ZH)}) as base:
        target = Target(id="app", name="示例阅读", kind="app", policy_url=f"{base}{path}?id={PLAY_ID}")
        result = get_target(target, settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.OK, result.error
    assert result.final_url == base + "/dev/yinsi"


@pytest.mark.parametrize("store", list(STORES))
def test_app_listing_without_developer_policy_link_is_no_policy_found(
    site: Site, tmp_path: Path, archive: Archive, store: str
) -> None:
    path, layout = STORES[store]
    log = RequestLog()
    with site.serve({path: html(layout(None))}, log=log) as base:
        target = Target(id="app", name="Example Reader", kind="app", homepage=f"{base}{path}?id={PLAY_ID}")
        result = get_target(target, settings_for(tmp_path, obey_robots=False), archive)
    assert result.outcome is FetchOutcome.NO_POLICY_FOUND
    assert store in (result.error or "") and "no privacy policy link" in (result.error or "")
    assert log.paths() == [f"{path}?id={PLAY_ID}"]  # the store's own policy was not fetched
    assert result.sha256  # the listing as it was is archived


def test_developer_link_to_a_homepage_is_searched_from_there(site: Site, tmp_path: Path, archive: Archive) -> None:
    home = '<html><body><p>Example Labs makes reading apps.</p><footer><a href="/legal/privacy">Privacy Policy</a></footer></body></html>'
    routes = {"/store/apps/details": html(play_listing("/dev/")), "/dev/": html(home), "/legal/privacy": html(POLICY_EN)}
    with site.serve(routes) as base:
        listing = f"{base}/store/apps/details?id={PLAY_ID}"
        result = get_target(Target(id="app", name="R", kind="app", homepage=listing), settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.OK, result.error
    assert result.discovery_path == (listing, base + "/dev/", base + "/legal/privacy")
    assert result.click_depth == 2


def test_developer_policy_link_that_fails_keeps_its_outcome(site: Site, tmp_path: Path, archive: Archive) -> None:
    with site.serve({"/details": html(xiaomi_listing("/dev/gone"))}) as base:
        result = get_target(Target(id="app", name="R", kind="app", homepage=f"{base}/details?id={PLAY_ID}"),
                            settings_for(tmp_path), archive)
    assert result.outcome is FetchOutcome.HTTP_ERROR and result.status_code == 404
    assert "Xiaomi GetApps" in (result.error or "")


@pytest.mark.parametrize(
    ("url", "store"),
    [
        (f"https://play.google.com/store/apps/details?id={PLAY_ID}", "Google Play"),
        (f"https://play.google.com/store/apps/details?hl=zh_CN&id={PLAY_ID}", "Google Play"),
        ("https://apps.apple.com/cn/app/%E7%A4%BA%E4%BE%8B/id1234567890", "Apple App Store"),
        ("https://apps.apple.com/app/id1234567890", "Apple App Store"),
        (f"https://app.mi.com/details?id={PLAY_ID}", "Xiaomi GetApps"),
        ("https://play.google.com/store/search?q=reader", None),
        ("https://apps.apple.com/us/developer/id99", None),
        ("https://example.com/store/apps/details?id=com.x", None),
    ],
)
def test_detect_store_by_listing_url(url: str, store: str | None) -> None:
    layout = detect_store(url)
    assert (layout.name if layout else None) == store


def test_detect_store_by_canonical_url_of_a_copy() -> None:
    layout = detect_store("http://mirror.example/saved.html", play_listing("/p"))
    assert layout is not None and layout.name == "Google Play"
    assert detect_store("http://mirror.example/saved.html", POLICY_EN) is None


def test_operator_policy_is_taken_only_when_the_developer_is_the_operator() -> None:
    play = next(layout for layout in LAYOUTS if layout.name == "Google Play")
    own_app = play_listing(None).replace(
        "</div></section>\n</main>", '<a href="https://policies.google.com/privacy?hl=en">Privacy Policy</a></div></section>\n</main>'
    )
    link = find_app_policy_link(own_app, f"https://play.google.com/store/apps/details?id={PLAY_ID}", play)
    assert link is not None and link.url == "https://policies.google.com/privacy?hl=en"
    with_dev = play_listing("https://reader.example.com/privacy")
    link = find_app_policy_link(with_dev, f"https://play.google.com/store/apps/details?id={PLAY_ID}", play)
    assert link is not None and link.url == "https://reader.example.com/privacy" and link.text == "shield Privacy Policy"
