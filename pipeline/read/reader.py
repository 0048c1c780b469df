"""The read stage's entry points: a fetched body -> :class:`~pipeline.records.PolicyText` -> segments.

    policy = read_policy(fetch_result)          # HTML, plain text/Markdown or PDF, by sniffed kind
    segment_policies([policy_a, policy_b])      # [(segments_a, None), ([], "ValueError: ...")]
    pdf_text(pdf_bytes)                         # the text of a PDF, for judging a page while fetching
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.content.charset import decode_body, sniff_kind
from pipeline.read.extract import extract_html, extract_pdf, extract_text
from pipeline.read.segment import segment_many
from pipeline.records import FetchResult, PolicyText, Segment


def read_policy(fetch: FetchResult) -> PolicyText:
    """Extract the text of a fetched body (HTML, plain text/Markdown or PDF)."""
    body = fetch.body or b""
    kind = sniff_kind(body, fetch.content_type)
    if kind == "pdf":
        return extract_pdf(body)
    text, _encoding = decode_body(body, fetch.content_type)
    ctype = (fetch.content_type or "").lower()
    if kind == "text" or ctype.startswith(("text/plain", "text/markdown")):
        return extract_text(text)
    return extract_html(text, url=fetch.final_url)


def segment_policies(policies: Sequence[PolicyText]) -> list[tuple[list[Segment], str | None]]:
    """The segments of each policy, in order, each with None or why it could not be segmented.

    All policies go through :func:`~pipeline.read.segment.segment_many` at once; if that fails
    they are segmented one at a time, so only the bad one is lost (its segments empty).
    """
    try:
        return [(segs, None) for segs in segment_many(list(policies))]
    except Exception:  # noqa: BLE001 - fall back to one at a time to isolate the bad one
        out: list[tuple[list[Segment], str | None]] = []
        for policy in policies:
            try:
                out.append((segment_many([policy])[0], None))
            except Exception as exc:  # noqa: BLE001
                out.append(([], f"{type(exc).__name__}: {exc}"))
        return out


def pdf_text(data: bytes) -> str:
    """The text of a PDF's text layer (empty when it has none): what the fetch stage judges a PDF page by."""
    return extract_pdf(data).text
