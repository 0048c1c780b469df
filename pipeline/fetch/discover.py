"""Find the privacy-policy link on a homepage, and tell whether a page is a policy.

Patterns are data, grouped here (like trafilatura's ``xpaths.py``). A link scores by its
anchor text, its URL, and where it sits (footer links score more: that is where Chinese and
English sites put their 隐私政策 / privacy policy links)::

    find_policy_links(html, "https://example.cn/")
    # [("https://example.cn/legal/privacy.html", "隐私政策", 115), ("https://example.cn/legal", "法律声明", 55), ...]

Strong links (score >= STRONG) very likely lead to the policy itself; weaker "hub" links
(法律声明, legal, 帮助中心, about) are followed only to look for strong links on the next page.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urldefrag, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from pipeline.content.markup import limit_nesting

STRONG = 80  # a link this good is probably the policy itself

# (pattern on the anchor text, score); the best matching pattern counts
TEXT_PATTERNS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"(隐私权?|个人信息)(保护)?(政策|条款|声明|指引|协议)"), 100),
    (re.compile(r"个人信息(保护|处理)?(规则|政策)"), 100),
    (re.compile(r"隱私(權)?(政策|條款|聲明)"), 100),
    (re.compile(r"\bprivacy\s+(and\s+cookies?\s+)?(policy|notice|statement|center|centre)\b", re.I), 100),
    (re.compile(r"\b(data\s+(protection|privacy)|personal\s+information)\s+(policy|notice|statement)\b", re.I), 95),
    (re.compile(r"隐私|隱私"), 75),
    (re.compile(r"\bprivacy\b", re.I), 75),
    (re.compile(r"个人信息"), 65),
    (re.compile(r"法律(声明|條款|条款|信息)|legal\s+(notice|information|terms|center|centre)", re.I), 45),
    (re.compile(r"\blegal\b", re.I), 40),
    (re.compile(r"用户协议|服务(协议|条款)|使用条款|\bterms\b", re.I), 25),
    (re.compile(r"帮助(中心)?|客服|\bhelp\b|\bsupport\b", re.I), 12),
    (re.compile(r"关于(我们)?|\babout\b", re.I), 12),
)

# (pattern on the URL path and query, score added)
URL_PATTERNS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"privacy[-_]?(policy|notice|statement)|privacypolicy|yinsi(zhengce)?|ysxy|ystk|personal[-_]?info", re.I), 30),
    (re.compile(r"privacy|/pp\b|/priv\b", re.I), 25),
    (re.compile(r"/legal|/law\b|falv|/policies|/policy", re.I), 12),
    (re.compile(r"/terms|/agreement|/protocol|xieyi", re.I), 6),
    (re.compile(r"/help|/about|/support", re.I), 3),
)

FOOTER_BONUS = 15
SAME_SITE_BONUS = 5
_FOOTER_HINT = re.compile(r"foot|bottom|copyright|site-?info|legal", re.I)
_SKIP_SCHEMES = ("javascript:", "mailto:", "tel:", "data:", "sms:", "weixin:")
_EXCLUDE = re.compile(r"\.(png|jpe?g|gif|webp|svg|ico|css|js|zip|apk|exe|mp4|mp3)(\?|$)", re.I)

# a policy page says these a lot
POLICY_KEYWORDS = re.compile(r"隐私|隱私|个人信息|個人資料|privacy|personal (?:information|data)", re.I)
POLICY_TITLE = re.compile(r"隐私|隱私|个人信息|privacy|personal (?:information|data)", re.I)
MIN_KEYWORD_HITS = 5
MIN_DENSITY_PER_1000 = 0.5


def _text_score(text: str) -> int:
    return max((score for pattern, score in TEXT_PATTERNS if pattern.search(text)), default=0)


def _url_score(url: str) -> int:
    parts = urlsplit(url)
    where = parts.path + ("?" + parts.query if parts.query else "")
    return max((score for pattern, score in URL_PATTERNS if pattern.search(where)), default=0)


def _in_footer(node: LexborNode) -> bool:
    parent = node.parent
    depth = 0
    while parent is not None and depth < 12:
        if parent.tag == "footer":
            return True
        attrs = parent.attributes
        hint = f"{attrs.get('id') or ''} {attrs.get('class') or ''} {attrs.get('role') or ''}"
        if _FOOTER_HINT.search(hint) or "contentinfo" in hint:
            return True
        parent = parent.parent
        depth += 1
    return False


def site_key(host: str) -> str:
    """The site a host belongs to (``www.example.com.cn`` -> ``example.com.cn``), without a suffix list."""
    labels = host.lower().split(".")
    # good enough for .com/.cn and .com.cn style names without a public-suffix list
    if len(labels) >= 3 and labels[-2] in ("com", "net", "org", "gov", "edu", "co", "ac"):
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _anchor_text(node: LexborNode) -> str:
    text = node.text(deep=True, separator=" ", strip=True) or ""
    if not text:
        attrs = node.attributes
        text = attrs.get("title") or attrs.get("aria-label") or ""
        if not text:
            img = node.css_first("img[alt]")
            text = (img.attributes.get("alt") or "") if img is not None else ""
    return " ".join(text.split())


def find_policy_links(html: str, base_url: str) -> list[tuple[str, str, int]]:
    """Links that may lead to a privacy policy: ``(absolute URL, anchor text, score)``, best first.

    Links with no sign of a policy (score 0) are left out; each URL appears once, with its best score.
    """
    tree = LexborHTMLParser(limit_nesting(html))
    base = base_url
    base_tag = tree.css_first("base[href]")
    if base_tag is not None and base_tag.attributes.get("href"):
        base = urljoin(base_url, base_tag.attributes.get("href") or "")
    base_site = site_key(urlsplit(base_url).hostname or "")

    best: dict[str, tuple[str, int, int]] = {}  # url -> (text, score, order)
    for order, node in enumerate(tree.css("a[href], area[href]")):
        href = (node.attributes.get("href") or "").strip()
        if not href or href.startswith("#") or href.lower().startswith(_SKIP_SCHEMES):
            continue
        url = urldefrag(urljoin(base, href))[0]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or _EXCLUDE.search(parts.path):
            continue
        text = _anchor_text(node)
        text_score = _text_score(text)
        url_score = _url_score(url)
        if text_score == 0 and url_score == 0:
            continue
        score = text_score + url_score
        if _in_footer(node):
            score += FOOTER_BONUS
        if site_key(parts.hostname) == base_site:
            score += SAME_SITE_BONUS
        prev = best.get(url)
        if prev is None or score > prev[1]:
            best[url] = (text if prev is None or text else prev[0], score, order if prev is None else prev[2])
    ranked = sorted(best.items(), key=lambda kv: (-kv[1][1], kv[1][2]))
    return [(url, text, score) for url, (text, score, _) in ranked]


def visible_text(html: str) -> tuple[str, str]:
    """``(title, visible body text)`` of a page, scripts and styles removed."""
    return _visible_text(LexborHTMLParser(limit_nesting(html)))


def _visible_text(tree: LexborHTMLParser) -> tuple[str, str]:
    """``(title, visible body text)`` of a parsed page; removes its scripts and styles."""
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node is not None else ""
    for node in tree.css("script, style, noscript, template"):
        node.decompose()
    root = tree.body or tree.root
    text = root.text(separator=" ", strip=True) if root is not None else ""
    return title, " ".join(text.split())


PageKind = Literal["policy", "agreement", "js_shell", "other"]

# a user agreement / terms of service says so in its title or first heading
AGREEMENT_TITLE = re.compile(
    r"用户(服务)?协议|服务(协议|条款)|使用(条款|协议)|用户须知|注册协议|許可協議|服務條款|"
    r"terms\s+(of\s+(service|use)|and\s+conditions)|user\s+agreement|end[-\s]user\s+licen[cs]e",
    re.I,
)
# the topics privacy rules cover; a page covering few of them has no privacy rules of its own
PRIVACY_RULE_TOPICS: tuple[re.Pattern[str], ...] = (
    re.compile(r"收集[^。；\n]{0,20}个人信息|(we|may)\s+collect|information\s+we\s+collect", re.I),
    re.compile(r"使用[^。；\n]{0,10}个人信息|个人信息[^。；\n]{0,10}(用于|使用)|how\s+we\s+use|use\s+(of\s+)?your\s+(personal\s+)?(information|data)", re.I),
    re.compile(r"共享|转让|公开披露|委托处理|第三方[^。；\n]{0,10}提供|share\s+your|disclos(e|ure)\s+(of\s+)?your|third\s+parties", re.I),
    re.compile(r"(保存|存储)(期限|地点|期间)|retain|retention|how\s+long\s+we\s+keep", re.I),
    re.compile(r"(查阅|复制|更正|删除)[^。；\n]{0,10}个人信息|注销账[号户]|your\s+(privacy\s+)?rights|access,?\s+correct|delete\s+your", re.I),
    re.compile(r"安全(保护)?措施|加密|security\s+measures|encrypt", re.I),
    re.compile(r"Cookie|SDK|设备(信息|标识)|device\s+identifiers?", re.I),
)
MIN_RULE_TOPICS = 4  # an agreement covering at least this many topics carries privacy rules

# an app shell that only JavaScript fills: an empty mount point, or a <noscript> asking for JavaScript.
# Judged on the parsed tree (one linear parse), never by regexes over the markup, which took
# quadratic time on pages of unclosed "<div id=" tags.
MOUNT_IDS = frozenset({"root", "app", "__next", "__nuxt", "main-app", "approot"})
_ENABLE_JS = re.compile(r"javascript|\bJS\b|启用|开启|啟用", re.I)
JS_SHELL_MAX_TEXT = 200  # visible characters below which a page with scripts may be a shell
NOSCRIPT_LOOK = 2000  # characters of a <noscript> searched for a request to enable JavaScript


def _empty(node: LexborNode) -> bool:
    if node.child is None:
        return True
    return not (node.text(deep=True) or "").strip() and all(c.tag == "-text" for c in node.iter(include_text=True))


def needs_javascript(html: str) -> str | None:
    """Why ``html`` looks like an app shell whose text only JavaScript puts in, or None.

    A shell has almost no visible text, at least one script, and an empty mount point
    (``<div id="root"></div>``, ``#app``, ``#__next``) or a ``<noscript>`` asking to enable JavaScript.
    """
    if "<script" not in html and "<SCRIPT" not in html.upper():
        return None
    tree = LexborHTMLParser(limit_nesting(html))
    if tree.css_first("script") is None:
        return None
    noscripts = [(n.text(deep=True) or n.html or "")[:NOSCRIPT_LOOK] for n in tree.css("noscript")]
    mounts = [n for n in tree.css("div[id]") if (n.attributes.get("id") or "").lower() in MOUNT_IDS and _empty(n)]
    _, text = _visible_text(tree)
    if len(text) >= JS_SHELL_MAX_TEXT:
        return None
    if mounts:
        return f"page has {len(text)} characters of text, scripts and an empty <div id=\"{mounts[0].attributes.get('id')}\">"
    if any(_ENABLE_JS.search(n) for n in noscripts):
        return f"page has {len(text)} characters of text and a <noscript> asking to enable JavaScript"
    return None


def script_sources(html: str) -> list[str]:
    """The ``src`` of every ``<script>`` of a page (from the parsed tree)."""
    tree = LexborHTMLParser(limit_nesting(html))
    return [src for n in tree.css("script[src]") if (src := (n.attributes.get("src") or "").strip())]


def privacy_rule_topics(text: str) -> int:
    """How many privacy-rule topics (collection, use, sharing, retention, rights, security, SDKs) ``text`` covers."""
    return sum(1 for pattern in PRIVACY_RULE_TOPICS if pattern.search(text))


def classify_page(html: str, is_html: bool = True, strong_link: bool = False) -> PageKind:
    """What a fetched page is: a privacy ``policy``, a user ``agreement`` with no privacy rules,
    an app shell needing JavaScript (``js_shell``), or ``other``.

    A user agreement that carries a privacy chapter (at least :data:`MIN_RULE_TOPICS` topics)
    counts as a policy: some services publish their privacy rules that way. ``strong_link``:
    the page was reached by a link naming the policy, so a short page whose title or heading
    names it and that covers at least one privacy-rule topic is one (however few keywords it has).
    """
    if is_html:
        if needs_javascript(html):
            return "js_shell"
        title, text = visible_text(html)
        h1 = LexborHTMLParser(limit_nesting(html)).css_first("h1")
        heading = title + " " + (h1.text(strip=True) if h1 is not None else "")
    else:
        text = " ".join(html.split())
        heading = text[:120]
    if not text:
        return "other"
    hits = len(POLICY_KEYWORDS.findall(text))
    privacy_heading = bool(POLICY_TITLE.search(heading))
    if AGREEMENT_TITLE.search(heading) and not privacy_heading:
        return "policy" if privacy_rule_topics(text) >= MIN_RULE_TOPICS and hits >= MIN_KEYWORD_HITS else "agreement"
    if privacy_heading and hits >= 3:
        return "policy"
    if strong_link and privacy_heading and privacy_rule_topics(text) >= 1:
        return "policy"
    if hits >= MIN_KEYWORD_HITS and hits * 1000 / len(text) >= MIN_DENSITY_PER_1000:
        return "policy"
    return "other"


def looks_like_policy(html: str, is_html: bool = True) -> bool:
    """True if a page reads like a privacy policy (keyword count and density; not a bare user agreement)."""
    return classify_page(html, is_html) == "policy"
