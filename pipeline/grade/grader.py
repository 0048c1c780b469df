"""The grade stage: score one policy against a rubric.

    grade(policy, segments, rubric)                       # rules only
    grade(policy, segments, rubric, labels=probas,        # rules + classifier evidence
          label_thresholds=clf.thresholds, model_version=clf.version)
    grade_missing(rubric, FetchOutcome.NO_POLICY_FOUND, "no link to a policy")

Three states stay distinct (see :class:`pipeline.records.GradeStatus`):

* ``ASSESSED``: every criterion was checked; score 0..100 and a tier, even when nothing
  was disclosed (criteria "none", note "searched N segments, not found");
* ``NO_POLICY``: no policy could be found: score 0, the rubric's lowest tier;
* ``NOT_ASSESSED``: fetch failed, text too short, unsupported language, or not a privacy
  policy: no score, no tier, a reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pipeline.grade.checks import GradingContext, get_check
from pipeline.read.doctype import classify_document
from pipeline.records import (
    CriterionResult,
    FetchOutcome,
    Grade,
    GradeStatus,
    Level,
    PolicyText,
    Rubric,
    Segment,
)

if TYPE_CHECKING:  # type only: grading one policy needs no trained model loaded
    from pipeline.grade.classify import Classifiers

# Shorter texts are not assessed ("too short to be a policy"). Chinese packs about as much
# content in a character as English does in two to three, hence the lower minimum.
MIN_POLICY_CHARS: dict[str, int] = {"en": 200, "zh": 100}
DEFAULT_MIN_POLICY_CHARS = 200
DOCTYPE_CHECK = "document_type.v2"  # rubrics with this check grade an agreement's privacy section only
MIN_PRIVACY_MENTIONS = 2  # a privacy policy names privacy / personal information at least this often
_PRIVACY_TERMS = re.compile(
    r"隐私|个人信息|个人资料|个人数据|privacy|personal(?:ly)?[\s-]+(?:identifiable\s+)?(?:data|information)",
    re.IGNORECASE,
)


def assessable(policy: PolicyText) -> str | None:
    """Why this text cannot be assessed, or None when it can."""
    text = policy.text.strip()
    if not text:
        return "empty text: no readable text (an empty page, only images, or a PDF without a text layer)"
    minimum = MIN_POLICY_CHARS.get(policy.language, DEFAULT_MIN_POLICY_CHARS)
    if len(text) < minimum:
        return f"text too short to be a policy ({len(text)} characters < {minimum})"
    if policy.language not in ("zh", "en"):
        return f"unsupported language ({policy.language!r}); supported: zh, en"
    mentions = sum(1 for _ in _PRIVACY_TERMS.finditer(text))
    if mentions < MIN_PRIVACY_MENTIONS:
        return "not a privacy policy (no rules on privacy or personal information found)"
    return None


def grade(
    policy: PolicyText,
    segments: Sequence[Segment],
    rubric: Rubric,
    labels: Sequence[Mapping[str, float]] | None = None,
    label_thresholds: Mapping[str, float] | None = None,
    model_version: str | None = None,
) -> Grade:
    """Grade one policy. Deterministic for the same input.

    Every assessable text is classified by document type (:mod:`pipeline.read.doctype`) and the
    grade records it. A rubric that grades the document type (a ``document_type.v2`` criterion)
    grades an agreement carrying a privacy section on that section only; older rubrics grade
    the whole text, exactly as before.

    Raises ValueError on misuse: a segment whose text is not ``policy.text[start:end]``, or
    ``labels`` not parallel to ``segments``.
    """
    reason = assessable(policy)
    if reason is not None:
        return Grade(
            status=GradeStatus.NOT_ASSESSED,
            rubric_id=rubric.id,
            rubric_version=rubric.version,
            reason=reason,
            model_version=model_version,
        )
    for seg in segments:
        if policy.text[seg.start : seg.end] != seg.text:
            raise ValueError(f"segment {seg.index} is not policy.text[{seg.start}:{seg.end}]")
    if labels is not None and len(labels) != len(segments):
        raise ValueError(f"labels has {len(labels)} rows for {len(segments)} segments")
    kind = classify_document(policy)
    graded_segments, graded_labels = tuple(segments), tuple(labels) if labels is not None else None
    if kind.section is not None and any(c.check == DOCTYPE_CHECK for c in rubric.criteria):
        lo, hi = kind.section
        keep = [i for i, s in enumerate(segments) if s.start >= lo and s.end <= hi]
        if keep:
            graded_segments = tuple(segments[i] for i in keep)
            graded_labels = tuple(labels[i] for i in keep) if labels is not None else None
    ctx = GradingContext(
        policy=policy,
        segments=graded_segments,
        labels=graded_labels,
        label_thresholds=dict(label_thresholds or {}),
        model_version=model_version,
        doctype=kind.doctype.value,
    )
    results = tuple(get_check(c.check)(c, ctx) for c in rubric.criteria)
    score = round(min(100.0, max(0.0, sum(r.points for r in results))), 1)
    return Grade(
        status=GradeStatus.ASSESSED,
        rubric_id=rubric.id,
        rubric_version=rubric.version,
        score=score,
        tier=rubric.tier_for(score).id,
        criteria=results,
        model_version=model_version,
        doctype=kind.doctype.value,
        doctype_reason=kind.reason,
    )


def grade_policy(
    policy: PolicyText,
    segments: Sequence[Segment],
    rubric: Rubric,
    classifiers: Classifiers,
    labels: list[dict[str, float]] | None = None,
) -> Grade:
    """:func:`grade` with ``labels`` from the classifier of the policy's language (its thresholds
    and version recorded with the grade); without labels, by the rubric's rules only."""
    clf = classifiers.by_language.get(policy.language)
    labelled = clf is not None and labels is not None
    return grade(
        policy,
        segments,
        rubric,
        labels=labels,
        label_thresholds=clf.thresholds if labelled else None,  # type: ignore[union-attr]
        model_version=f"{policy.language}@{clf.version}" if labelled else None,  # type: ignore[union-attr]  # as in audit_runs
    )


def grade_missing(rubric: Rubric, outcome: FetchOutcome, reason: str) -> Grade:
    """The grade of a service whose policy text we do not have.

    ``NO_POLICY_FOUND`` scores 0 in the lowest tier (like the 2017 study's services without a
    policy); any other outcome (timeout, blocked, HTTP error...) is NOT_ASSESSED.
    """
    if outcome == FetchOutcome.NO_POLICY_FOUND:
        criteria = tuple(
            CriterionResult(
                criterion_id=c.id,
                level=Level.NONE,
                points=0.0,
                weight=c.weight,
                method=c.check,
                note="no policy found",
            )
            for c in rubric.criteria
        )
        return Grade(
            status=GradeStatus.NO_POLICY,
            rubric_id=rubric.id,
            rubric_version=rubric.version,
            score=0.0,
            tier=rubric.lowest_tier.id,
            criteria=criteria,
            reason=reason,
        )
    return Grade(
        status=GradeStatus.NOT_ASSESSED,
        rubric_id=rubric.id,
        rubric_version=rubric.version,
        reason=reason,
    )
