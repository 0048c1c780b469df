"""Typed records passed between the stages of the pipeline.

Stages exchange these frozen dataclasses, never dicts with string keys:

    Target --fetch--> FetchResult --extract--> PolicyText --segment--> [Segment]
        --grade(rubric)--> Grade (CriterionResult + Evidence)

The database tables in :mod:`pipeline.store.tables` persist them; the report stage reads
:class:`ServiceReport` / :class:`AuditReport`, built from the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

Kind = Literal["app", "site"]
Language = Literal["zh", "en", "other"]


@dataclass(frozen=True)
class Target:
    """One service to audit, as read from a targets file."""

    id: str
    name: str
    kind: Kind
    sector: str = ""
    region: str = ""
    policy_url: str | None = None
    homepage: str | None = None
    source: str = ""  # "targets.csv:12" -- where it was declared


class FetchOutcome(StrEnum):
    """What happened when we tried to get a policy. Every target ends in one of these."""

    OK = "ok"  # a body was received (2xx) and archived
    NO_POLICY_FOUND = "no_policy_found"  # homepage searched, no policy link; or policy URL gone (404/410)
    HTTP_ERROR = "http_error"  # other 4xx/5xx
    TIMEOUT = "timeout"
    NETWORK_ERROR = "network_error"  # DNS, refused connection, reset, TLS
    TOO_LARGE = "too_large"  # body over the size cap
    TOO_MANY_REDIRECTS = "too_many_redirects"
    REFUSED_ADDRESS = "refused_address"  # private/loopback/link-local address without allow_private
    ROBOTS_DISALLOWED = "robots_disallowed"
    UNSUPPORTED_CONTENT = "unsupported_content"  # e.g. an image or binary
    INVALID_URL = "invalid_url"
    RATE_LIMITED = "rate_limited"  # 429/503 still after retries, or Retry-After longer than max_retry_after
    NEEDS_JAVASCRIPT = "needs_javascript"  # an empty app shell that only JavaScript fills (body still archived)
    NOT_A_POLICY = "not_a_policy"  # the page is a user agreement / terms with no privacy rules
    NO_ARCHIVED_COPY = "no_archived_copy"  # --as-of: the Internet Archive holds no capture near that date
    BUDGET_EXCEEDED = "budget_exceeded"  # the target's time or byte budget ran out (settings target_*)


@dataclass(frozen=True)
class FetchResult:
    """One fetch of one URL (the snapshot). ``body`` is the raw bytes, archived by sha256."""

    requested_url: str
    outcome: FetchOutcome
    fetched_at: datetime
    final_url: str | None = None
    status_code: int | None = None
    content_type: str | None = None
    sha256: str | None = None
    size: int = 0
    encoding: str | None = None  # charset used to decode the body
    error: str | None = None  # human-readable reason when outcome is not OK
    body: bytes | None = field(default=None, repr=False)
    discovery_path: tuple[str, ...] = ()  # URLs followed from the homepage to the policy
    elapsed_s: float = 0.0
    # added by issue 4 (all optional, so older code and stored rows still build these)
    click_depth: int | None = None  # clicks from the start page (homepage / app listing) to the policy
    etag: str | None = None  # validators of this response, sent back on the next audit
    last_modified: str | None = None
    not_modified: bool = False  # the server answered 304: body and sha256 are the previous snapshot's
    archive_timestamp: str | None = None  # --as-of: Internet Archive capture time, YYYYMMDDhhmmss
    archive_url: str | None = None  # --as-of: replay URL the body came from
    retries: int = 0  # requests repeated after 429/5xx or a dropped connection
    warnings: tuple[str, ...] = ()  # e.g. the policy is more than 4 clicks from the homepage


@dataclass(frozen=True)
class Validators:
    """What a previous audit learned about a policy URL, for a conditional request on the next one.

    ``url`` is the final URL of the previous snapshot; the validators are only sent to that URL.
    """

    url: str
    sha256: str
    etag: str | None = None
    last_modified: str | None = None


BlockKind = Literal["heading", "paragraph", "list_item"]


@dataclass(frozen=True)
class Block:
    """A structural block of the extracted text: ``text[start:end]``."""

    kind: BlockKind
    start: int
    end: int
    level: int = 0  # heading level 1-6, 0 for other blocks


@dataclass(frozen=True)
class PolicyText:
    """The readable text of a policy page, with its structure."""

    text: str
    language: Language
    title: str | None = None
    blocks: tuple[Block, ...] = ()


SegmentKind = Literal["heading", "sentence", "list_item"]


@dataclass(frozen=True)
class Segment:
    """A unit of grading. Invariant: ``policy.text[start:end] == text``."""

    index: int
    start: int
    end: int
    text: str
    kind: SegmentKind = "sentence"
    heading: str | None = None  # text of the nearest heading above it


class Level(StrEnum):
    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"


@dataclass(frozen=True)
class Evidence:
    """A quote that supports a criterion result. ``quote == text[start:end]`` of the extracted text."""

    segment_index: int
    start: int
    end: int
    quote: str
    method: str  # e.g. "lexicon.v1", "retention_period.v1", "classifier:en@1.0.0"
    probability: float | None = None


@dataclass(frozen=True)
class CriterionResult:
    criterion_id: str
    level: Level
    points: float  # weighted points earned (0..weight)
    weight: float
    method: str  # the registered check name that decided, e.g. "retention_period.v1"
    evidence: tuple[Evidence, ...] = ()
    note: str = ""  # e.g. "searched, not found"


class GradeStatus(StrEnum):
    ASSESSED = "assessed"  # graded; may still have found nothing (score 0 with criteria "none")
    NO_POLICY = "no_policy"  # no policy could be found: scores 0, lowest tier
    NOT_ASSESSED = "not_assessed"  # could not assess (fetch failed, blocked, not a policy): no grade


@dataclass(frozen=True)
class Grade:
    status: GradeStatus
    rubric_id: str
    rubric_version: str
    score: float | None = None  # 0..100; None when NOT_ASSESSED
    tier: str | None = None  # tier id from the rubric; None when NOT_ASSESSED
    criteria: tuple[CriterionResult, ...] = ()
    reason: str = ""  # why NO_POLICY / NOT_ASSESSED
    model_version: str | None = None
    #: what the graded document is (privacy_policy / user_agreement /
    #: agreement_with_privacy_section / other) and why; None when no text was read
    doctype: str | None = None
    doctype_reason: str = ""


# ---------------------------------------------------------------- report view


@dataclass(frozen=True)
class ServiceReport:
    """Everything the report needs about one service in one audit."""

    target: Target
    status: GradeStatus
    score: float | None
    tier: str | None
    rank: int | None  # 1-based among graded services (ties share a rank); None if not assessed
    reason: str
    criteria: tuple[CriterionResult, ...]
    snapshot: FetchResult | None  # without body
    archive_path: str | None  # path of the archived raw bytes, relative to the report's data dir
    text: str | None  # extracted policy text (for highlighting evidence)
    language: Language | None
    doctype: str | None = None  # what the graded document is (see pipeline.read.doctype)
    doctype_reason: str = ""


@dataclass(frozen=True)
class AuditReport:
    label: str
    rubric_id: str
    rubric_version: str
    model_version: str | None
    started_at: datetime
    finished_at: datetime | None
    status: str
    services: tuple[ServiceReport, ...]  # sorted by rank, then not-assessed ones


# ---------------------------------------------------------------- rubric (loaded by pipeline.grade.rubric)


@dataclass(frozen=True)
class Names:
    """A bilingual name."""

    zh: str
    en: str


@dataclass(frozen=True)
class Tier:
    id: str  # e.g. "high"
    name: Names  # e.g. Names(zh="高", en="High")
    min_score: float  # lower bound, inclusive; tiers are ordered from best to worst


@dataclass(frozen=True)
class Criterion:
    id: str  # e.g. "retention_period"
    name: Names
    legal_basis: str  # one legal basis, e.g. "PIPL Art. 17(2)"
    weight: float  # points out of 100
    check: str  # registered, versioned check name, e.g. "retention_period.v1"
    description: Names | None = None
    params: dict = field(default_factory=dict, hash=False, compare=False)  # check-specific (lexicons, labels...)


@dataclass(frozen=True)
class Rubric:
    id: str
    version: str
    name: Names
    description: str
    criteria: tuple[Criterion, ...]
    tiers: tuple[Tier, ...]  # best first; the last one is the lowest tier
    source: str = ""  # path of the rubric file

    def tier_for(self, score: float) -> Tier:
        for tier in self.tiers:
            if score >= tier.min_score:
                return tier
        return self.tiers[-1]

    @property
    def lowest_tier(self) -> Tier:
        return self.tiers[-1]
