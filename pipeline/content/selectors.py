"""What the extract stage keeps and drops, as data (like trafilatura's ``xpaths.py``).

:mod:`pipeline.read.extract` walks the parsed page once; these tables decide, per element,
whether its subtree is boilerplate (dropped), what kind of block its text becomes, and
where block boundaries fall. Change behaviour here, not in the walker.

Patterns on ``id``/``class`` are matched against each *token* (class words and the id,
lower-cased), never against the page text, so a policy section ``<section id="cookies">``
explaining cookies is kept while ``<div class="cookie-banner">`` is dropped.
"""

from __future__ import annotations

import re

# Elements whose whole subtree is never policy text.
DROP_TAGS: frozenset[str] = frozenset(
    {
        "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "embed",
        "canvas", "video", "audio", "picture", "img", "map", "head", "link", "meta",
        "nav", "aside", "menu", "button", "input", "select", "textarea", "option", "label",
        "datalist", "output", "progress", "meter",
    }
)

# Dropped only at page level: inside <article>, <main>, <section> or role=main they are the
# header/footer *of the document* ("Privacy Policy -- last updated 1 May"), which we keep.
PAGE_LEVEL_DROP_TAGS: frozenset[str] = frozenset({"header", "footer"})
SECTIONING_KEEP_TAGS: frozenset[str] = frozenset({"article", "main", "section"})

# A <form> is dropped unless it wraps most of the page (ASP.NET WebForms wrap everything).
FORM_TAG = "form"
FORM_KEEP_SHARE = 0.5

# ARIA roles of boilerplate regions.
DROP_ROLES: frozenset[str] = frozenset(
    {
        "navigation", "menu", "menubar", "menuitem", "banner", "contentinfo", "complementary",
        "search", "toolbar", "tablist", "button", "tooltip",
    }
)
# role=banner/contentinfo mark page-level header/footer; like <header>/<footer> they are kept
# inside a sectioning element.
PAGE_LEVEL_DROP_ROLES: frozenset[str] = frozenset({"banner", "contentinfo"})
# <dialog> and role=dialog are *not* dropped by tag or role (some sites show the policy itself
# in a modal); consent dialogs are caught by their id/class/aria-label below.

# id/class tokens (lower-case) that mark boilerplate. Each entry is a regular expression
# matched with ``fullmatch`` against one token.
BOILERPLATE_TOKEN_PATTERNS: tuple[str, ...] = (
    # cookie banners and consent managers
    r".*cookie[-_]?(banner|bar|consent|notice|notification|popup|pop[-_]up|modal|wall|law|alert"
    r"|message|msg|box|overlay|prompt|dialog|info|disclaimer|warning|accept|settings|preferences)s?.*",
    r".*(cookies?|gdpr|privacy)[-_]?(consent|banner|bar|popup|modal|overlay).*",
    r".*consent[-_]?(banner|manager|modal|bar|box|popup|dialog|overlay|form|wrapper|container).*",
    r"cookie|cookies|cookiebar|cookienotice|cookie-law-info-bar|cc[-_](banner|window|revoke|grower)",
    r"onetrust.*|ot-sdk.*|optanon.*|cybotcookiebot.*|cookiebot.*|truste.*|qc-cmp.*|didomi.*|usercentrics.*",
    r"gdpr|gdpr[-_].*|cmp[-_].*|.*[-_]cmp",
    # navigation, menus, breadcrumbs
    r"nav|navbar|navbar[-_].*|nav[-_].*|.*[-_]nav|.*[-_]navbar|navigation|.*[-_]navigation|navigation[-_].*",
    r"global[-_]?(header|footer)|site[-_]?(header|footer|nav|menu)|page[-_]?(header|footer)[-_]?(nav|links|menu)?",
    r"menu|menus|menubar|.*[-_]menu|menu[-_].*|mega[-_]?menu|dropdown[-_]menu|hamburger.*|offcanvas.*",
    r".*breadcrumbs?.*|crumbs?",
    r"sidebar|sidebar[-_].*|.*[-_]sidebar|side[-_]?bar",
    r"toc|table[-_]of[-_]contents|.*[-_]toc|toc[-_].*",
    r"pagination|pager|paging",
    # share widgets and social links
    r".*share[-_]?(bar|buttons?|links?|tools?|widget|box|icons?)?|sharing.*|sharethis.*|addthis.*",
    r"social|social[-_].*|.*[-_]social|.*[-_]social[-_].*",
    # skip links and screen-reader-only helper text. Hidden elements in general are *kept*:
    # collapsed accordion panels of a policy are hidden until clicked.
    r"skip|skip[-_].*|.*[-_]skip[-_].*|skiplink.*|sr[-_]only|visually[-_]hidden|screen[-_]reader[-_]text",
    # misc. page furniture
    r"banner[-_]?ad.*|ads?|advert.*|adsbygoogle|promo|newsletter.*|subscribe.*|signup|sign[-_]up|login|search[-_]?(form|box|bar)?",
    r"back[-_]?to[-_]?top|scroll[-_]?to[-_]?top|print[-_]?(button|link)|feedback.*|related[-_].*|language[-_]?(selector|switcher|picker)",
)
BOILERPLATE_TOKEN_RE: re.Pattern[str] = re.compile("|".join(f"(?:{p})" for p in BOILERPLATE_TOKEN_PATTERNS))

# Tokens that look like boilerplate but, on policy pages, are the content itself.
CONTENT_TOKEN_RE: re.Pattern[str] = re.compile(
    r".*(privacy|policy|policies|legal|terms|content|article|main|document|statement|notice[-_]?body|"
    r"entry|post|prose|rich[-_]?text).*"
)
# ... unless the token also says it is a widget: "privacy-consent-banner" stays boilerplate.
WIDGET_TOKEN_RE: re.Pattern[str] = re.compile(
    r".*(consent|banner|popup|modal|overlay|onetrust|cookiebot|cmp|nav|menu|sidebar|breadcrumb|share|social|skip|toc).*"
)

# aria-label values (lower-case, substring) that mark boilerplate regions.
BOILERPLATE_LABEL_RE: re.Pattern[str] = re.compile(
    r"cookie|consent|navigation|\bnav\b|menu|breadcrumb|share|social|skip to|导航|菜单|分享|面包屑"
)

# Elements that start a new block of text. Everything else is inline.
BLOCK_TAGS: frozenset[str] = frozenset(
    {
        "address", "article", "blockquote", "body", "center", "dd", "details", "dir", "div", "dl",
        "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hgroup", "hr", "html", "legend", "li", "main", "ol", "p", "pre", "section",
        "summary", "table", "tbody", "thead", "tfoot", "tr", "caption", "ul", "frameset",
    }
)
# Inline separators: their text is kept in the current block with a space around it.
SPACED_INLINE_TAGS: frozenset[str] = frozenset({"td", "th", "wbr"})

# Literal text that separates blocks: the segment separator of the OPP-115 corpus. It never
# reaches the extracted text.
TEXT_BLOCK_MARKERS: tuple[str, ...] = ("|||",)

HEADING_TAGS: dict[str, int] = {f"h{n}": n for n in range(1, 7)}
LIST_ITEM_TAGS: frozenset[str] = frozenset({"li", "dt", "dd"})
PRE_TAG = "pre"
BOLD_TAGS: frozenset[str] = frozenset({"b", "strong"})

# Candidates for "the main content"; preferred when they hold this share of the kept text.
MAIN_CANDIDATE_TAGS: frozenset[str] = frozenset({"main", "article"})
MAIN_CANDIDATE_ROLES: frozenset[str] = frozenset({"main", "article"})
MAIN_MIN_SHARE = 0.5
