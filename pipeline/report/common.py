"""What the report's pages share: names of states and levels, column lists, safe file names,
CSV cells, links, the Jinja2 environment and its filters.

    safe_name("微信/WeChat")      # a file name that is safe on every file system
    csv_cell("=1+1")             # "'=1+1" (never a formula in a spreadsheet)
    jinja_env()                  # the templates in reports/, autoescaping *.html.j2
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import jinja2

from pipeline.errors import PolicyAuditError
from pipeline.records import AuditReport, GradeStatus, Level, Rubric, ServiceReport
from pipeline.settings import VERSION

# The repo's reports/ directory, beside the package (Path(pipeline.__file__).parent.parent; this
# module's own path is used because an editable install can make ``pipeline`` a namespace package
# with no __file__ when imported from outside the checkout).
TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "reports"
STATIC_DIR = TEMPLATES_DIR / "static"

Lang = Literal["zh", "en"]

STATUS_NAMES: dict[GradeStatus, tuple[str, str]] = {
    GradeStatus.ASSESSED: ("已评估", "assessed"),
    GradeStatus.NO_POLICY: ("无隐私政策", "no privacy policy"),
    GradeStatus.NOT_ASSESSED: ("无法评估", "could not assess"),
}
LEVEL_NAMES: dict[Level, tuple[str, str]] = {
    Level.FULL: ("完整", "full"),
    Level.PARTIAL: ("部分", "partial"),
    Level.NONE: ("未找到", "none"),
}
NO_SECTOR = ("未分类", "no sector")

SCORES_COLUMNS = (
    "rank", "service_id", "name", "sector", "kind", "region", "status", "score", "tier",
    "reason", "rubric_id", "rubric_version", "snapshot_sha256", "doctype",
)
CRITERIA_COLUMNS = (
    "service_id", "criterion_id", "level", "points", "weight", "method", "note",
    "evidence_quotes", "evidence_start", "evidence_end",
)
QUOTE_SEPARATOR = " | "
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ReportError(PolicyAuditError):
    """The report cannot be rendered from these inputs (e.g. the rubric is not the audit's)."""


# ---------------------------------------------------------------- public helpers


def safe_name(service_id: str) -> str:
    """A file-name-safe stem for a service id: the id itself when it is a plain lowercase slug,
    otherwise a slug plus 8 hex digits of its sha256 (so distinct ids never share a file)."""
    slug = re.sub(r"[^a-z0-9]+", "-", service_id.lower()).strip("-")[:48].strip("-")
    plain = (
        slug == service_id
        and slug[:1].isalnum()
        and not re.fullmatch(r".*-[0-9a-f]{8}", slug)
        and slug not in _RESERVED_NAMES
    )
    if plain:
        return slug
    digest = hashlib.sha256(service_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{slug}-{digest}" if slug else f"service-{digest}"


_RESERVED_NAMES = frozenset(
    ["con", "prn", "aux", "nul"] + [f"com{i}" for i in range(10)] + [f"lpt{i}" for i in range(10)]
)


def csv_cell(value: object) -> str:
    """One CSV cell as text; a cell starting with = + - @ TAB CR gets a leading ' (formula guard)."""
    if value is None:
        return ""
    text = format(round(value, 4), "g") if isinstance(value, float) else str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def is_web_url(url: str | None) -> bool:
    """True when ``url`` may be a clickable link: http(s) with a host, no whitespace or controls."""
    if not url or url != url.strip() or any(ord(c) < 0x21 or c == "\x7f" for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def id_breaks(text: object) -> object:
    """An id (``retention_period``, ``document_type.v2``) escaped, with line-break chances after
    ``_`` and ``.`` only, so a narrow column breaks it between words, never mid-word."""
    from markupsafe import Markup, escape

    return Markup(re.sub(r"([_.])", r"\1<wbr>", str(escape(str(text)))))


def md_escape(text: object) -> str:
    """Escape text for a Markdown table cell or paragraph: punctuation, HTML and line breaks.
    Parentheses stay as they are: with ``[`` and ``]`` escaped they can never form a link."""
    s = re.sub(r"\s+", " ", str(text)).strip()
    return re.sub(r"([\\`*_{}\[\]#+!|<>&~])", r"\\\1", s)


def _check_rubric(report: AuditReport, rubric: Rubric) -> None:
    if not rubric.tiers:
        raise ReportError(f"rubric {rubric.id!r} ({rubric.source or 'no file'}) has no tiers")
    if (report.rubric_id, report.rubric_version) != (rubric.id, rubric.version):
        raise ReportError(
            f"audit {report.label!r} was graded with rubric {report.rubric_id} "
            f"v{report.rubric_version}, but rubric {rubric.id} v{rubric.version} "
            f"({rubric.source or 'no file'}) was given: render it with the rubric it was graded with"
        )


def _is_graded(svc: ServiceReport) -> bool:
    return svc.status in (GradeStatus.ASSESSED, GradeStatus.NO_POLICY)


def _fmt_number(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _version() -> str:
    return f"policyaudit {VERSION}"


# ---------------------------------------------------------------- Jinja2


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.filters["wbr"] = id_breaks
    env.filters["num"] = _fmt_number
    env.globals["is_web_url"] = is_web_url
    return env


def jinja_env() -> jinja2.Environment:
    """The report's Jinja2 environment (autoescaping ``*.html.j2``), for other pages of the site."""
    return _env()
