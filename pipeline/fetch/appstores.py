"""Find the developer's privacy-policy link on an app-store listing page.

Layouts are data (like :mod:`pipeline.fetch.discover`'s patterns). A listing is recognised by its
URL, or by the canonical URL / ``og:url`` the page declares (so a saved or replayed copy is
recognised too)::

    layout = detect_store("https://play.google.com/store/apps/details?id=com.example.app", html)
    link = find_app_policy_link(html, url, layout)
    # AppPolicyLink(store="Google Play", url="https://example.com/privacy", text="Privacy Policy")

Every store page also carries the store operator's own privacy link (Google's, Apple's,
Xiaomi's) in its header or footer. Links in ``<header>``, ``<nav>``, ``<footer>`` and
footer-like blocks are never taken; links to the operator's own policy pages are taken only
when nothing else is there (the developer may be the operator, e.g. Gmail).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from pipeline.fetch.discover import TEXT_PATTERNS


@dataclass(frozen=True)
class StoreLayout:
    """One app store's listing pages."""

    name: str
    host: re.Pattern[str]  # host of a listing page
    listing: re.Pattern[str]  # path (and query) of a listing page
    operator: re.Pattern[str]  # hosts of the store operator's own pages (its own privacy policy)
    where: str = ""  # where the developer's link sits on the page (documentation)


LAYOUTS: tuple[StoreLayout, ...] = (
    StoreLayout(
        name="Google Play",
        host=re.compile(r"^play\.google\.com$", re.I),
        listing=re.compile(r"^/store/apps/details\b.*[?&]id=[\w.]+", re.I),
        operator=re.compile(r"(^|\.)(google\.com|google\.cn|youtube\.com|gstatic\.com)$", re.I),
        where="'App support' (Website / Email / Privacy Policy) and the end of 'Data safety'",
    ),
    StoreLayout(
        name="Apple App Store",
        host=re.compile(r"^apps\.apple\.com$", re.I),
        listing=re.compile(r"^/([a-z]{2}/)?app/([^/]+/)?id\d+", re.I),
        operator=re.compile(r"(^|\.)(apple\.com|apple\.com\.cn|icloud\.com)$", re.I),
        where="'App Privacy' (see the developer's privacy policy) and 'Information' (Privacy Policy)",
    ),
    StoreLayout(
        name="Xiaomi GetApps",
        host=re.compile(r"^(app\.mi\.com|app\.xiaomi\.com)$", re.I),
        listing=re.compile(r"^/details\b.*[?&]id=[\w.]+", re.I),
        operator=re.compile(r"(^|\.)(mi\.com|xiaomi\.com|miui\.com|xiaomi\.cn)$", re.I),
        where="the 详细信息 block: 开发者 / 版本号 / 更新时间 / 隐私政策 / 权限详情",
    ),
)

_CANONICAL = ("link[rel='canonical'][href]", "meta[property='og:url'][content]", "meta[name='twitter:url'][content]")
_CHROME_TAGS = ("header", "nav", "footer")
_CHROME_HINT = re.compile(r"(^|[\s_-])(foot|footer|header|globalnav|globalfooter|nav|navbar|site-?info|copyright)($|[\s_-])", re.I)
MIN_TEXT_SCORE = 75  # the anchor must say "privacy" / 隐私 (see pipeline.fetch.discover.TEXT_PATTERNS)
OPERATOR_MIN_TEXT_SCORE = 95  # a link to the operator's own pages must say "privacy policy" outright


@dataclass(frozen=True)
class AppPolicyLink:
    store: str
    url: str
    text: str


def _layout_for_url(url: str) -> StoreLayout | None:
    parts = urlsplit(url)
    where = parts.path + ("?" + parts.query if parts.query else "")
    for layout in LAYOUTS:
        if layout.host.match(parts.hostname or "") and layout.listing.match(where):
            return layout
    return None


def detect_store(url: str, html: str | None = None) -> StoreLayout | None:
    """The store whose listing page this is (by its URL, else its declared canonical URL), or None."""
    layout = _layout_for_url(url)
    if layout is not None or not html:
        return layout
    tree = LexborHTMLParser(html[:200_000])
    for selector in _CANONICAL:
        node = tree.css_first(selector)
        if node is None:
            continue
        declared = node.attributes.get("href") or node.attributes.get("content") or ""
        layout = _layout_for_url(urljoin(url, declared.strip()))
        if layout is not None:
            return layout
    return None


def _in_page_chrome(node: LexborNode) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.tag in _CHROME_TAGS:
            return True
        attrs = parent.attributes
        hint = f"{attrs.get('id') or ''} {attrs.get('class') or ''}"
        if _CHROME_HINT.search(hint) or attrs.get("role") in ("banner", "navigation", "contentinfo"):
            return True
        parent = parent.parent
    return False


def _text_of(node: LexborNode) -> str:
    text = node.text(deep=True, separator=" ", strip=True) or ""
    if not text:
        text = node.attributes.get("aria-label") or node.attributes.get("title") or ""
    return " ".join(text.split())


def _text_score(text: str) -> int:
    return max((score for pattern, score in TEXT_PATTERNS if pattern.search(text)), default=0)


def find_app_policy_link(html: str, url: str, layout: StoreLayout) -> AppPolicyLink | None:
    """The developer's privacy-policy link on a listing page of ``layout``, or None if it has none."""
    tree = LexborHTMLParser(html)
    best: tuple[int, int, AppPolicyLink] | None = None
    for order, node in enumerate(tree.css("a[href]")):
        href = (node.attributes.get("href") or "").strip()
        if not href or href.startswith("#") or href.lower().startswith(("javascript:", "mailto:", "tel:")):
            continue
        link = urldefrag(urljoin(url, href))[0]
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            continue
        text = _text_of(node)
        score = _text_score(text)
        if score < MIN_TEXT_SCORE or _in_page_chrome(node):
            continue
        if layout.host.match(parts.hostname):
            continue  # another store page (e.g. the store's own help on privacy)
        if layout.operator.search(parts.hostname):
            if score < OPERATOR_MIN_TEXT_SCORE:
                continue  # "learn more about privacy labels" and the like
            score -= 100  # the operator's own policy: only if nothing else is there
        candidate = (score, -order, AppPolicyLink(store=layout.name, url=link, text=text))
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return best[2] if best is not None else None
