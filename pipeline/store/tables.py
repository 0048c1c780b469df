"""The database tables (SQLModel): one class per table, the only place the schema is declared.

    services            one row per service id (upserted from the targets file)
    overrides           a reviewer's correction of one criterion in one audit (kept across re-runs)
    audit_runs          one row per audit label ("2026", "2026-w47"), with rubric and counts
    snapshots           one fetch per (run, service): URLs, status, outcome, sha256 of the archived body
    documents           extracted text, content-addressed by the snapshot's sha256 (shared across runs)
    segments            the segments of a document, with offsets into its text
    scores              one grade per (run, service): status, score, tier, reason
    criterion_results   one row per (run, service, criterion), with its evidence as JSON

Schema changes go through Alembic (:mod:`pipeline.store.db`, ``pipeline/store/migrations/``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(UTC)


class Service(SQLModel, table=True):
    __tablename__ = "services"
    id: str = Field(primary_key=True, description="Service id from the targets file")
    name: str
    kind: str = Field(description="app or site")
    sector: str = ""
    region: str = ""
    policy_url: str | None = None
    homepage: str | None = None
    updated_at: datetime = Field(default_factory=_now)


class AuditRun(SQLModel, table=True):
    __tablename__ = "audit_runs"
    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(index=True, unique=True, description="Audit label, e.g. 2026")
    rubric_id: str
    rubric_version: str
    rubric_sha256: str = ""
    model_version: str | None = None
    status: str = Field(default="running", description="running, completed, failed")
    started_at: datetime = Field(default_factory=_now)
    finished_at: datetime | None = None
    n_targets: int = 0
    n_assessed: int = 0
    n_no_policy: int = 0
    n_not_assessed: int = 0
    n_reused: int = Field(default=0, description="services whose unchanged content kept the grade of an earlier audit")
    timings: dict = Field(default_factory=dict, sa_column=Column(JSON), description="seconds per stage")
    targets_file: str = ""
    error: str | None = None


class Snapshot(SQLModel, table=True):
    __tablename__ = "snapshots"
    __table_args__ = (UniqueConstraint("run_id", "service_id"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="audit_runs.id", index=True)
    service_id: str = Field(foreign_key="services.id", index=True)
    requested_url: str
    final_url: str | None = None
    status_code: int | None = None
    content_type: str | None = None
    fetched_at: datetime
    sha256: str | None = Field(default=None, index=True, description="archive key of the raw body")
    size: int = 0
    encoding: str | None = None
    outcome: str
    error: str | None = None
    discovery_path: list = Field(default_factory=list, sa_column=Column(JSON))
    elapsed_s: float = 0.0
    previous_sha256: str | None = Field(default=None, description="sha256 of this service's snapshot in the previous audit")
    changed: bool | None = Field(default=None, description="content differs from the previous audit; None if no previous")
    click_depth: int | None = Field(default=None, description="clicks from the start page to the policy (0 = given URL)")
    etag: str | None = Field(default=None, description="ETag validator of the response, for conditional re-fetches")
    last_modified: str | None = Field(default=None, description="Last-Modified validator of the response")
    not_modified: bool = Field(default=False, description="the server answered 304; body taken from the archive")
    archive_timestamp: str | None = Field(default=None, description="Internet Archive capture time (--as-of audits)")
    archive_url: str | None = Field(default=None, description="Internet Archive replay URL (--as-of audits)")
    retries: int = Field(default=0, description="HTTP retries needed (429/5xx/resets)")
    warnings: list = Field(default_factory=list, sa_column=Column(JSON), description="e.g. policy more than 4 clicks away")


class Document(SQLModel, table=True):
    __tablename__ = "documents"
    sha256: str = Field(primary_key=True, description="sha256 of the raw body this text was extracted from")
    language: str
    title: str | None = None
    text: str = Field(sa_column=Column(Text, nullable=False))
    n_segments: int = 0
    created_at: datetime = Field(default_factory=_now)


class SegmentRow(SQLModel, table=True):
    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("sha256", "idx"),)
    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(foreign_key="documents.sha256", index=True)
    idx: int
    start: int
    end: int
    kind: str
    heading: str | None = None
    text: str = Field(sa_column=Column(Text, nullable=False))


class Score(SQLModel, table=True):
    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("run_id", "service_id"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="audit_runs.id", index=True)
    service_id: str = Field(foreign_key="services.id", index=True)
    snapshot_id: int | None = Field(default=None, foreign_key="snapshots.id")
    status: str = Field(description="assessed, no_policy, not_assessed")
    score: float | None = None
    tier: str | None = None
    reason: str = ""
    rubric_id: str
    rubric_version: str
    model_version: str | None = None
    graded_at: datetime = Field(default_factory=_now)
    reused_from_run: int | None = Field(default=None, description="run whose grade of the same content was reused")
    doctype: str | None = Field(default=None, description="privacy_policy, user_agreement, agreement_with_privacy_section or other")
    doctype_reason: str = Field(default="", description="why the document was given that type")


class CriterionRow(SQLModel, table=True):
    __tablename__ = "criterion_results"
    __table_args__ = (UniqueConstraint("run_id", "service_id", "criterion_id"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="audit_runs.id", index=True)
    service_id: str = Field(foreign_key="services.id", index=True)
    criterion_id: str
    level: str
    points: float
    weight: float
    method: str
    note: str = ""
    evidence: list = Field(default_factory=list, sa_column=Column(JSON))


class Override(SQLModel, table=True):
    """A reviewer's correction of one criterion's result in one audit. Survives re-runs of the audit."""

    __tablename__ = "overrides"
    __table_args__ = (UniqueConstraint("run_id", "service_id", "criterion_id"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="audit_runs.id", index=True)
    service_id: str = Field(foreign_key="services.id", index=True)
    criterion_id: str
    level: str = Field(description="full, partial or none, as set by the reviewer")
    note: str = Field(description="why the reviewer changed it")
    reviewer: str = ""
    created_at: datetime = Field(default_factory=_now)
