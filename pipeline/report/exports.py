"""Exports of one audit for newsrooms: CSV, JSON, a Markdown summary, and Datasette metadata.

    export_audit(session, "2026", "csv", Path("2026.csv"))    # one row per (service, criterion)
    export_audit(session, "2026", "json", Path("2026.json"))  # nested: audit -> services -> criteria -> evidence
    export_audit(session, "2026", "md", Path("2026.md"), rubric=rubric)  # headline + table, ready to paste
    datasette_metadata(engine)    # -> dict for ``datasette audit.db --metadata metadata.json``

Reviewers' overrides are applied by default (the published result) and every criterion row says
what the machine found and who changed it; pass ``reviewed=False`` for the machine result only.

The CSV is UTF-8 with a byte-order mark, and cells starting with = + - @ TAB CR get a leading '
(the report's formula guard), so spreadsheet programs open it safely.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from pipeline.errors import PolicyAuditError
from pipeline.records import AuditReport, GradeStatus, Rubric
from pipeline.report.common import csv_cell
from pipeline.report.files import write_text_atomic
from pipeline.report.review import Review, ReviewError, reviewed_report
from pipeline.report.site import render_markdown
from pipeline.settings import PROJECT_URL, VERSION
from pipeline.store import queries
from pipeline.store import tables as store_tables

ExportFormat = Literal["csv", "json", "md"]
FORMATS: tuple[str, ...] = ("csv", "json", "md")
EVIDENCE_SEPARATOR = " | "


class ExportError(PolicyAuditError):
    """The export cannot be written as asked (unknown format, Markdown without the audit's rubric)."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str
    services: int
    rows: int  # CSV rows, criterion results in JSON, table rows in Markdown


# ---------------------------------------------------------------- rows

CSV_COLUMNS = (
    "audit", "rank", "service_id", "name", "sector", "kind", "region", "status", "score", "tier", "reason",
    "rubric_id", "rubric_version", "model_version", "snapshot_sha256", "policy_url",
    "criterion_id", "level", "points", "weight", "method", "note",
    "machine_level", "reviewed_level", "reviewer", "review_note",
    "evidence_quotes", "evidence_offsets", "doctype",
)


def _service_dict(report: AuditReport, reviews: Mapping[tuple[str, str], Review]) -> list[dict[str, Any]]:
    out = []
    for svc in report.services:
        graded = svc.status != GradeStatus.NOT_ASSESSED
        snap = svc.snapshot
        criteria = []
        for c in svc.criteria:
            r = reviews.get((svc.target.id, c.criterion_id))
            criteria.append(
                {
                    "criterion_id": c.criterion_id,
                    "level": str(c.level),
                    "points": c.points,
                    "weight": c.weight,
                    "method": c.method,
                    "note": c.note,
                    "machine_level": str(r.machine_level) if r and r.machine_level else str(c.level),
                    "review": (
                        {"level": str(r.level), "note": r.note, "reviewer": r.reviewer, "created_at": r.created_at.isoformat()}
                        if r else None
                    ),
                    "evidence": [asdict(e) for e in c.evidence],
                }
            )
        out.append(
            {
                "rank": svc.rank,
                "service_id": svc.target.id,
                "name": svc.target.name,
                "sector": svc.target.sector,
                "kind": svc.target.kind,
                "region": svc.target.region,
                "status": str(svc.status),
                "score": svc.score if graded else None,
                "tier": svc.tier if graded else None,
                "reason": svc.reason,
                "policy_url": (snap.final_url or snap.requested_url) if snap else svc.target.policy_url,
                "snapshot_sha256": snap.sha256 if snap else None,
                "fetched_at": snap.fetched_at.isoformat() if snap else None,
                "language": svc.language,
                "doctype": svc.doctype,
                "doctype_reason": svc.doctype_reason,
                "criteria": criteria,
            }
        )
    return out


def csv_rows(report: AuditReport, reviews: Mapping[tuple[str, str], Review] | None = None) -> list[list[object]]:
    """One row per (service, criterion); a service with no criteria (not assessed) gets one row."""
    rows: list[list[object]] = []
    for s in _service_dict(report, reviews or {}):
        head = [
            report.label, s["rank"], s["service_id"], s["name"], s["sector"], s["kind"], s["region"], s["status"],
            s["score"], s["tier"], s["reason"], report.rubric_id, report.rubric_version, report.model_version,
            s["snapshot_sha256"], s["policy_url"],
        ]
        if not s["criteria"]:
            rows.append(head + [None] * (len(CSV_COLUMNS) - len(head) - 1) + [s["doctype"]])
        for c in s["criteria"]:
            r = c["review"]
            rows.append(
                head
                + [
                    c["criterion_id"], c["level"], c["points"], c["weight"], c["method"], c["note"],
                    c["machine_level"], r["level"] if r else None, r["reviewer"] if r else None, r["note"] if r else None,
                    EVIDENCE_SEPARATOR.join(e["quote"] for e in c["evidence"]),
                    " ".join(f"{e['start']}-{e['end']}" for e in c["evidence"]),
                    s["doctype"],
                ]
            )
    return rows


def audit_json(report: AuditReport, reviews: Mapping[tuple[str, str], Review] | None = None) -> dict[str, Any]:
    """The audit as one JSON-ready dict: audit metadata, then services with criteria and evidence."""
    return {
        "audit": {
            "label": report.label,
            "rubric_id": report.rubric_id,
            "rubric_version": report.rubric_version,
            "model_version": report.model_version,
            "status": report.status,
            "started_at": report.started_at.isoformat(),
            "finished_at": report.finished_at.isoformat() if report.finished_at else None,
            "reviewed": bool(reviews),
            "generator": f"policyaudit {VERSION}",
        },
        "services": _service_dict(report, reviews or {}),
    }


# ---------------------------------------------------------------- writing


def load_reviewed(session: Session, label: str, rubric: Rubric | None, reviewed: bool = True) -> tuple[AuditReport, dict[tuple[str, str], Review]]:
    """The audit with reviewers' overrides applied (when ``reviewed``), and the overrides."""
    if not reviewed:
        return queries.load_report(session, label, with_text=False), {}
    try:
        return reviewed_report(session, label, rubric, with_text=False)
    except ReviewError as exc:
        raise ExportError(str(exc)) from None


def export_audit(
    session: Session,
    label: str,
    fmt: str,
    out: Path,
    rubric: Rubric | None = None,
    reviewed: bool = True,
) -> ExportResult:
    """Write audit ``label`` as ``fmt`` (csv, json or md) to ``out``."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    report, reviews = load_reviewed(session, label, rubric, reviewed)
    out = Path(out)
    if fmt == "csv":
        rows = csv_rows(report, reviews)
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(CSV_COLUMNS)
        writer.writerows([csv_cell(v) for v in row] for row in rows)
        write_text_atomic(out, buf.getvalue(), encoding="utf-8-sig")
        return ExportResult(out, fmt, len(report.services), len(rows))
    if fmt == "json":
        data = audit_json(report, reviews)
        write_text_atomic(out, json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return ExportResult(out, fmt, len(report.services), sum(len(s["criteria"]) for s in data["services"]))
    if rubric is None or (rubric.id, rubric.version) != (report.rubric_id, report.rubric_version):
        raise ExportError(
            f"the Markdown summary of {label!r} needs the rubric it was graded with "
            f"({report.rubric_id} {report.rubric_version}): pass --rubric"
        )
    write_text_atomic(out, render_markdown(report, rubric))
    return ExportResult(out, fmt, len(report.services), len(report.services))


# ---------------------------------------------------------------- Datasette

#: Descriptions of columns whose SQLModel field has none, by table then column.
COLUMN_NOTES: Mapping[str, Mapping[str, str]] = {
    "alembic_version": {"version_num": "Alembic revision id of the schema"},
    "services": {
        "name": "Display name of the service",
        "sector": "Sector, as given in the targets file (may be empty)",
        "region": "Region or market, as given in the targets file",
        "policy_url": "Known URL of the privacy policy, if the targets file gave one",
        "homepage": "Homepage searched for a policy link when no policy URL was given",
        "updated_at": "When this row was last written from a targets file (UTC)",
    },
    "audit_runs": {
        "id": "Run id (internal key)",
        "rubric_id": "Id of the rubric used for grading",
        "rubric_version": "Version of the rubric used for grading",
        "rubric_sha256": "sha256 of the rubric's content, to prove which exact rubric graded the run",
        "model_version": "Segment classifiers used as evidence, e.g. en@1.0.0+zh@1.0.0; empty = rules only",
        "started_at": "When the run started (UTC)",
        "finished_at": "When the run finished (UTC); empty while running",
        "n_targets": "Services in the targets file",
        "n_assessed": "Services graded from a policy",
        "n_no_policy": "Services with no policy found (score 0, lowest tier)",
        "n_not_assessed": "Services that could not be assessed (no score, not ranked)",
        "targets_file": "Path of the targets file the run read",
        "error": "Why the run failed, if it did",
    },
    "snapshots": {
        "id": "Snapshot id (internal key)",
        "run_id": "The audit run (audit_runs.id)",
        "service_id": "The service (services.id)",
        "requested_url": "URL requested first (policy URL or homepage)",
        "final_url": "URL after redirects and discovery, where the body came from",
        "status_code": "HTTP status of the final response",
        "content_type": "Content-Type header of the final response",
        "fetched_at": "When the body was fetched (UTC)",
        "size": "Body size in bytes",
        "encoding": "Character set used to decode the body",
        "outcome": "ok, no_policy_found, http_error, timeout, network_error, too_large, robots_disallowed, ...",
        "error": "Human-readable reason when the outcome is not ok",
        "discovery_path": "URLs followed from the homepage to the policy (JSON list)",
        "elapsed_s": "Seconds the fetch took",
    },
    "documents": {
        "language": "Detected language of the text: zh, en or other",
        "title": "Title of the policy page",
        "text": "Readable text extracted from the body; evidence offsets point into it",
        "n_segments": "Number of segments (sentences, list items, headings)",
        "created_at": "When the text was extracted (UTC)",
    },
    "segments": {
        "id": "Segment row id (internal key)",
        "sha256": "The document (documents.sha256)",
        "idx": "Position of the segment in the document, from 0",
        "start": "Start offset of the segment in documents.text",
        "end": "End offset (exclusive) in documents.text",
        "kind": "heading, sentence or list_item",
        "heading": "Text of the nearest heading above the segment",
        "text": "The segment's text, equal to documents.text[start:end]",
    },
    "scores": {
        "id": "Score row id (internal key)",
        "run_id": "The audit run (audit_runs.id)",
        "service_id": "The service (services.id)",
        "snapshot_id": "The snapshot graded (snapshots.id)",
        "score": "Machine score 0-100 (before any reviewer's override); empty when not assessed",
        "tier": "Tier id from the rubric (high ... low); empty when not assessed",
        "reason": "Why a service has no policy or could not be assessed",
        "rubric_id": "Rubric id used for this grade",
        "rubric_version": "Rubric version used for this grade",
        "model_version": "Classifiers used as evidence; empty = rules only",
        "graded_at": "When the grade was computed (UTC)",
        "doctype": "What the graded document is: privacy_policy, user_agreement, agreement_with_privacy_section, other",
        "doctype_reason": "Why the document was given that type",
    },
    "criterion_results": {
        "id": "Row id (internal key)",
        "run_id": "The audit run (audit_runs.id)",
        "service_id": "The service (services.id)",
        "criterion_id": "Criterion id from the rubric, e.g. retention_period",
        "level": "Machine result: full, partial or none",
        "points": "Points earned: weight x 1 / 0.5 / 0",
        "weight": "Points the criterion is worth out of 100",
        "method": "Registered check that decided, e.g. retention_period.v1",
        "note": "Extra information, e.g. 'searched N segments, not found'",
        "evidence": "Quoted evidence as JSON: quote, start/end offsets in documents.text, method, probability",
    },
    "overrides": {
        "id": "Override id (internal key)",
        "run_id": "The audit run (audit_runs.id)",
        "service_id": "The service (services.id)",
        "criterion_id": "Criterion id from the rubric",
        "reviewer": "Who reviewed it",
        "created_at": "When the review was recorded (UTC)",
    },
}

TABLE_NOTES: Mapping[str, str] = {
    "alembic_version": "Schema revision applied by the Alembic migrations in pipeline/migrations.",
    "services": "One row per audited service, from the targets file.",
    "audit_runs": "One row per audit (label), with the rubric and model used and counts by status.",
    "snapshots": "One fetch per audit and service: URLs, HTTP outcome and the sha256 of the archived body.",
    "documents": "Extracted policy text, one row per distinct body (sha256), shared across audits.",
    "segments": "The sentences, list items and headings of each document, with offsets into its text.",
    "scores": "One grade per audit and service: status (assessed / no_policy / not_assessed), score, tier.",
    "criterion_results": "One row per audit, service and rubric criterion: level, points and quoted evidence.",
    "overrides": "Reviewers' corrections of one criterion in one audit, with who and why; kept across re-runs.",
}

FACETS: Mapping[str, list[str]] = {
    "services": ["sector", "kind", "region"],
    "audit_runs": ["status", "rubric_version"],
    "snapshots": ["outcome", "content_type", "run_id"],
    "documents": ["language"],
    "scores": ["status", "tier", "run_id"],
    "criterion_results": ["criterion_id", "level", "run_id"],
    "overrides": ["reviewer", "level", "criterion_id"],
}

RANKING_SQL = """select r.label as audit, s.service_id, v.name, v.sector, s.status, s.score, s.tier, s.reason
from scores s join audit_runs r on r.id = s.run_id join services v on v.id = s.service_id
where r.label = :label
order by s.status = 'not_assessed', s.score desc, v.name"""


# Reviewers' levels as published: credit 1 / 0.5 / 0 for full / partial / none, as the grader
# (pipeline.grade.checks.CREDIT); tiers need the rubric, so they are the machine's here.
REVIEWED_CRITERIA_SQL = """select r.label as audit, c.service_id, c.criterion_id,
  coalesce(o.level, c.level) as level, c.level as machine_level,
  case when o.id is not null and o.level != c.level then 'changed by review'
       when o.id is not null then 'confirmed by review' else '' end as review,
  o.reviewer, o.note as review_note, c.weight
from criterion_results c join audit_runs r on r.id = c.run_id
left join overrides o on o.run_id = c.run_id and o.service_id = c.service_id and o.criterion_id = c.criterion_id
where r.label = :label
order by c.service_id, c.id"""

REVIEWED_SCORES_SQL = """select r.label as audit, s.service_id, v.name, s.status, s.score as machine_score,
  case when s.status = 'assessed' and count(o.id) > 0 then round(min(100, max(0, sum(c.weight *
    case coalesce(o.level, c.level) when 'full' then 1.0 when 'partial' then 0.5 else 0 end))), 1)
    else s.score end as reviewed_score,
  sum(case when o.id is not null and o.level != c.level then 1 else 0 end) as criteria_changed_by_review
from scores s join audit_runs r on r.id = s.run_id join services v on v.id = s.service_id
left join criterion_results c on c.run_id = s.run_id and c.service_id = s.service_id
left join overrides o on o.run_id = c.run_id and o.service_id = c.service_id and o.criterion_id = c.criterion_id
where r.label = :label
group by s.id
order by s.status = 'not_assessed', reviewed_score desc, v.name"""


def _field_descriptions() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for mapper in SQLModel._sa_registry.mappers:  # type: ignore[attr-defined]
        cls = mapper.class_
        table = getattr(cls, "__tablename__", None)
        if not isinstance(table, str):
            continue
        out[table] = {
            name: info.description for name, info in cls.model_fields.items() if info.description
        }
    return out


def datasette_metadata(engine: Engine, title: str = "policyaudit: privacy-policy transparency audits") -> dict[str, Any]:
    """Datasette metadata for the database behind ``engine``: every table and column described,
    useful facets, and a canned ranking query. Write it with ``json.dumps`` and run
    ``datasette audit.db --metadata metadata.json``."""
    # importing the store registers its tables
    assert store_tables.Score.__tablename__ == "scores"
    declared = _field_descriptions()
    insp = inspect(engine)
    tables: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        columns: dict[str, str] = {}
        for col in insp.get_columns(table):
            name = col["name"]
            desc = declared.get(table, {}).get(name) or COLUMN_NOTES.get(table, {}).get(name) or ""
            columns[name] = desc
        entry: dict[str, Any] = {"description": TABLE_NOTES.get(table, ""), "columns": columns}
        facets = [f for f in FACETS.get(table, []) if f in columns]
        if facets:
            entry["facets"] = facets
        if table == "documents":
            entry["label_column"] = "title"
        if table == "services":
            entry["label_column"] = "name"
        tables[table] = entry
    db_name = Path(engine.url.database or "audit").stem if engine.dialect.name == "sqlite" else (engine.url.database or "audit")
    return {
        "title": title,
        "description": "Privacy policies fetched, read and graded against a published rubric; every judgement "
        "quotes its evidence. Scores in `scores` are the machine's; reviewers' corrections are in `overrides`, and the "
        "canned queries `reviewed_scores` and `reviewed_criteria` show the published (reviewed) levels.",
        "source": "policyaudit",
        "source_url": PROJECT_URL,
        "databases": {
            db_name: {
                "tables": tables,
                "queries": {
                    "ranking": {
                        "title": "Ranking of one audit",
                        "description": "Services of one audit, best score first; not assessed last.",
                        "sql": RANKING_SQL,
                    },
                    "reviewed_scores": {
                        "title": "Scores after review",
                        "description": "Each service's machine score and its score with reviewers' levels applied "
                        "(as the report publishes it), with how many criteria a review changed.",
                        "sql": REVIEWED_SCORES_SQL,
                    },
                    "reviewed_criteria": {
                        "title": "Criterion levels after review",
                        "description": "Every criterion of one audit at its published level, the machine's level, "
                        "and whether a review changed it (who and why).",
                        "sql": REVIEWED_CRITERIA_SQL,
                    },
                },
            }
        },
    }
