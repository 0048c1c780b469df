"""Report stage: one audit as a static site, two CSV files and a Markdown summary.

    render_report(report, rubric, out_dir, archive_dir=None) -> out_dir / "index.html"

writes::

    out_dir/
      index.html              ranked table, headline (中文 + English), SVG charts
      services/<safe>.html    one page per service: criteria, quoted evidence, highlighted text
      methodology.html        the rubric: criteria, weights, tiers, the three states
      snapshots/<sha256>.txt  archived raw bytes (only when archive_dir holds them)
      scores.csv              one row per service
      criteria.csv            one row per (service, criterion)
      summary.md              headline + ranked table, ready to paste
      static/report.css, static/report.js

The site opens from disk (file://) with no network: no CDN, the charts are inline SVG
drawn here, and the small script only adds sorting and filtering to tables that are
complete without it.

Safety: every piece of text that comes from a policy, a target file or a fetch is escaped
(Jinja2 autoescape for ``*.html.j2``; the highlighted policy text is built here by
escaping each piece between mark boundaries separately, so a quote can never open or close
a tag). Live URLs are links only when their scheme is http/https; archived pages are copied
as ``.txt`` so a browser never renders them as HTML. CSV cells starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return get a leading ``'`` so spreadsheet programs do not
evaluate them as formulas (OWASP "CSV injection"). CSV files are UTF-8 with a byte-order
mark so spreadsheet programs read Chinese text correctly.

Every file is written whole or not at all (:mod:`pipeline.report.files`): a full disk or a
read-only folder stops the report with one OutputError naming the file and leaves no partial file.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.records import (
    AuditReport,
    Rubric,
)
from pipeline.grade.rubric import rubric_fingerprint
from pipeline.report.charts import _charts
from pipeline.report.common import (
    _SHA256,
    CRITERIA_COLUMNS,
    QUOTE_SEPARATOR,
    SCORES_COLUMNS,
    STATIC_DIR,
    _check_rubric,
    _env,
    _is_graded,
    _version,
    csv_cell,
)
from pipeline.report.files import copy_atomic, make_dirs, write_bytes_atomic, write_text_atomic
from pipeline.report.headline import headline
from pipeline.report.views import _file_names, _index_view, _service_view, _sort_key

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pipeline.report.review import Review


# ---------------------------------------------------------------- markdown


def render_markdown(report: AuditReport, rubric: Rubric) -> str:
    """A Markdown summary: headline in both languages and the ranked table, ready to paste."""
    _check_rubric(report, rubric)
    view = _index_view(report, rubric)
    return _env().get_template("summary.md.j2").render(
        report=report,
        rubric=rubric,
        view=view,
        headline_zh=headline(report, rubric, "zh"),
        headline_en=headline(report, rubric, "en"),
    )


# ---------------------------------------------------------------- the site


def render_report(
    report: AuditReport,
    rubric: Rubric,
    out_dir: Path,
    archive_dir: Path | None = None,
    overrides: Mapping[tuple[str, str], Review] | None = None,
    nav_links: Sequence[tuple[str, str]] = (),
) -> Path:
    """Write the static site, CSVs and Markdown summary to ``out_dir``; return its index.html.

    ``overrides`` (from :func:`pipeline.report.review.overrides_for`): reviewers' levels are applied
    (scores, tiers and ranks recomputed, as published) and each service page shows the machine
    result beside the review, who made it and why. ``nav_links``: extra (href, text) links in the
    navigation, relative to the site root, e.g. ``[("compare-2025/compare.html", "2025 → 2026")]``.
    """
    _check_rubric(report, rubric)
    machine_scores: dict[str, float | None] = {}
    if overrides:
        from pipeline.report.review import apply_overrides

        machine_scores = {s.target.id: s.score for s in report.services}
        report = apply_overrides(report, overrides, rubric)
    names = _file_names(report)
    out_dir = Path(out_dir)
    for sub in ("services", "snapshots", "static"):
        make_dirs(out_dir / sub)
    for path in sorted(STATIC_DIR.iterdir()):
        if path.is_file():
            copy_atomic(path, out_dir / "static" / path.name)

    snapshots = _copy_snapshots(report, out_dir / "snapshots", archive_dir)
    env = _env()
    index_view = _index_view(report, rubric)
    common = {"report": report, "rubric": rubric, "generated": _version(), "nav_links": tuple(nav_links)}

    index = out_dir / "index.html"
    write_text_atomic(
        index,
        env.get_template("index.html.j2").render(
            root="",
            view=index_view,
            headline_zh=headline(report, rubric, "zh"),
            headline_en=headline(report, rubric, "en"),
            charts=_charts(report, rubric),
            **common,
        ),
    )
    service_tpl = env.get_template("service.html.j2")
    rows = {row.svc.target.id: row for row in index_view.ranked + index_view.not_assessed}
    for svc in report.services:
        page = _service_view(
            rows[svc.target.id], rubric, index_view.graded_count, snapshots.get(svc.target.id),
            {cid: r for (sid, cid), r in (overrides or {}).items() if sid == svc.target.id},
            machine_scores.get(svc.target.id),
        )
        write_text_atomic(out_dir / "services" / f"{names[svc.target.id]}.html", service_tpl.render(root="../", page=page, **common))
    write_text_atomic(
        out_dir / "methodology.html",
        env.get_template("methodology.html.j2").render(
            root="", agreement=_agreement(rubric), rubric_sha256=rubric_fingerprint(rubric), **common
        ),
    )
    _write_csv(out_dir / "scores.csv", SCORES_COLUMNS, _score_rows(report))
    _write_csv(out_dir / "criteria.csv", CRITERIA_COLUMNS, _criteria_rows(report))
    write_text_atomic(out_dir / "summary.md", render_markdown(report, rubric))
    return index


# ---------------------------------------------------------------- internals: checks


def _agreement(rubric: Rubric) -> dict | None:
    """The measured agreement published beside the rubric file (``<rubric>.agreement.json``, written by
    ``policyaudit evaluate --grades``), when it was measured for this very rubric id and version."""
    import json

    if not rubric.source:
        return None
    path = Path(rubric.source).with_name(Path(rubric.source).stem + ".agreement.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("rubric") == f"{rubric.id}@{rubric.version}" else None


def _holds(path: Path, sha256: str) -> bool:
    """Does ``path`` exist with exactly the content whose hash is ``sha256``?"""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except OSError:
        return False


def _copy_snapshots(
    report: AuditReport, dest: Path, archive_dir: Path | None
) -> dict[str, str]:
    """Copy archived raw bytes whose sha256 checks out; return {service id: site-relative path}."""
    copied: dict[str, str] = {}
    if archive_dir is None:
        return copied
    for svc in report.services:
        sha = svc.snapshot.sha256 if svc.snapshot else None
        if not sha or not _SHA256.fullmatch(sha):
            continue
        target = dest / f"{sha}.txt"
        if not _holds(target, sha):  # absent, or cut short by a killed earlier run
            source = Path(archive_dir) / sha[:2] / sha[2:]
            if not source.is_file():
                continue
            data = source.read_bytes()
            if hashlib.sha256(data).hexdigest() != sha:
                continue  # corrupt archive entry: do not publish it under this name
            write_bytes_atomic(target, data)  # never a partial file under the sha256 name
        copied[svc.target.id] = f"snapshots/{sha}.txt"
    return copied


# ---------------------------------------------------------------- CSV


def _score_rows(report: AuditReport) -> list[list[object]]:
    rows = []
    for svc in sorted(report.services, key=_sort_key):
        t = svc.target
        graded = _is_graded(svc)
        rows.append([
            svc.rank if graded else None, t.id, t.name, t.sector, t.kind, t.region, str(svc.status),
            svc.score if graded else None, svc.tier if graded else None, svc.reason,
            report.rubric_id, report.rubric_version,
            svc.snapshot.sha256 if svc.snapshot else None, svc.doctype,
        ])
    return rows


def _criteria_rows(report: AuditReport) -> list[list[object]]:
    rows = []
    for svc in sorted(report.services, key=_sort_key):
        for res in svc.criteria:
            first = res.evidence[0] if res.evidence else None
            rows.append([
                svc.target.id, res.criterion_id, str(res.level), res.points, res.weight, res.method,
                res.note, QUOTE_SEPARATOR.join(e.quote for e in res.evidence),
                first.start if first else None, first.end if first else None,
            ])
    return rows


def _write_csv(path: Path, header: tuple[str, ...], rows: list[list[object]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows([csv_cell(v) for v in row] for row in rows)
    write_text_atomic(path, buf.getvalue(), encoding="utf-8-sig")
