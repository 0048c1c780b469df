"""One batch of fetched targets, read and graded: the stages called in order, one failure isolated.

    assessed = grade_fetched(fetched, rubric, classifiers, timings, known_docs, known_grades)

Reading is :mod:`pipeline.read.reader`, classifying and grading :mod:`pipeline.grade`; this
module only settles what needs no work (failed fetches, reused grades, content already read),
times each stage into :class:`BatchTimings`, and turns an unexpected error while reading,
segmenting or grading one service into "could not assess" with the error text. Called in
the audit's own process (:mod:`pipeline.run.audit`) or in a worker (:mod:`pipeline.run.parallel`).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pipeline.grade.classify import Classifiers, label_probabilities
from pipeline.grade.grader import grade_missing, grade_policy
from pipeline.read.reader import read_policy, segment_policies
from pipeline.records import FetchOutcome, FetchResult, Grade, GradeStatus, PolicyText, Rubric, Segment, Target
from pipeline.store.queries import ReusableGrade

log = logging.getLogger(__name__)


@dataclass
class BatchTimings:
    read: float = 0.0
    segment: float = 0.0
    classify: float = 0.0
    grade: float = 0.0
    store: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in self.__dict__.items()}


def _failed_grade(rubric: Rubric, reason: str) -> Grade:
    return Grade(status=GradeStatus.NOT_ASSESSED, rubric_id=rubric.id, rubric_version=rubric.version, reason=reason)


@dataclass(frozen=True)
class Assessed:
    grade: Grade
    policy: PolicyText | None = None
    segments: list[Segment] = field(default_factory=list)
    reused: ReusableGrade | None = None  # the grade of identical content, taken from an earlier run


def grade_fetched(
    fetched: Sequence[tuple[Target, FetchResult]],
    rubric: Rubric,
    classifiers: Classifiers,
    timings: BatchTimings | None = None,
    known_docs: Mapping[str, tuple[PolicyText, list[Segment]]] | None = None,
    known_grades: Mapping[str, ReusableGrade] | None = None,
) -> list[Assessed]:
    """Read, segment, classify and grade a batch. Never raises for one service's failure.

    Content already read (``known_docs``, by sha256) is not read or segmented again;
    content already graded with this rubric and model (``known_grades``) is not graded again.
    """
    t = timings or BatchTimings()
    known_docs = known_docs or {}
    known_grades = known_grades or {}
    policies: dict[int, PolicyText] = {}
    pre_segmented: dict[int, list[Segment]] = {}
    out: list[tuple[Grade, PolicyText | None, list[Segment]] | None] = [None] * len(fetched)
    reused: dict[int, ReusableGrade] = {}
    start = time.perf_counter()
    for i, (target, fetch) in enumerate(fetched):
        if fetch.outcome != FetchOutcome.OK:
            out[i] = (grade_missing(rubric, fetch.outcome, fetch.error or str(fetch.outcome)), None, [])
            continue
        if fetch.sha256 in known_grades:
            r = known_grades[fetch.sha256]
            out[i], reused[i] = (r.grade, None, []), r
            continue
        if fetch.sha256 in known_docs:
            policies[i], pre_segmented[i] = known_docs[fetch.sha256]
            continue
        try:
            policies[i] = read_policy(fetch)
        except Exception as exc:  # noqa: BLE001
            log.error("reading %s failed: %s", target.id, traceback.format_exc())
            out[i] = (_failed_grade(rubric, f"could not read the policy: {type(exc).__name__}: {exc}"), None, [])
    t.read += time.perf_counter() - start

    start = time.perf_counter()
    idx = list(policies)
    fresh = [i for i in idx if i not in pre_segmented]
    segments = dict(pre_segmented)
    for i, (segs, problem) in zip(fresh, segment_policies([policies[i] for i in fresh]), strict=True):
        segments[i] = segs
        if problem is not None:
            out[i] = (_failed_grade(rubric, f"could not segment the policy: {problem}"), policies[i], [])
    t.segment += time.perf_counter() - start

    start = time.perf_counter()
    probas = label_probabilities(classifiers, {i: (policies[i], segments[i]) for i in idx if out[i] is None})
    t.classify += time.perf_counter() - start

    start = time.perf_counter()
    for i in idx:
        if out[i] is not None:
            continue
        policy, segs = policies[i], segments[i]
        try:
            g = grade_policy(policy, segs, rubric, classifiers, probas.get(i))
        except Exception as exc:  # noqa: BLE001
            log.error("grading %s failed: %s", fetched[i][0].id, traceback.format_exc())
            g = _failed_grade(rubric, f"could not grade the policy: {type(exc).__name__}: {exc}")
        out[i] = (g, policy, segs)
    t.grade += time.perf_counter() - start
    return [Assessed(o[0], o[1], o[2], reused.get(i)) for i, o in enumerate(out) if o is not None]
