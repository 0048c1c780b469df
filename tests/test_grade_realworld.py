"""Grading real policies from ../shared/data (CA4P-483 Chinese apps, OPP-115 English sites).

Skipped when the shared data is absent. Checks that every policy ends ASSESSED or with a
reason, that every quote is exact, and that real 2020-era Chinese policies spread over the
tiers instead of piling into one.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from pathlib import Path

import pytest

from pipeline.grade.grader import grade
from pipeline.grade.rubric import load_rubric
from pipeline.records import Grade, GradeStatus, Level, PolicyText, Segment
# these tests pin rubric v1's behaviour (v1 stays loadable and unchanged; v2 is tested in test_grade_v2.py)
DEFAULT_RUBRIC = Path(__file__).resolve().parents[1] / "rubrics" / "transparency.v1.yaml"
from tests.test_grade import split

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
CA4P = DATA / "ca4p-483" / "raw_data"
OPP = DATA / "opp-115" / "sanitized_policies"

pytestmark = [
    pytest.mark.skipif(not CA4P.is_dir() or not OPP.is_dir(), reason=f"shared data not found at {DATA}"),
    pytest.mark.slow,
    pytest.mark.shared,
]

RUBRIC = load_rubric(DEFAULT_RUBRIC)
_PRE = re.compile(r"<pre[^>]*>(.*?)</pre>", re.S)
_BR = re.compile(r"<br\s*/?>", re.I)


def ca4p_policy(path: Path) -> PolicyText:
    raw = path.read_text(encoding="utf-8")
    return PolicyText(text=html.unescape("\n".join(_PRE.findall(raw))), language="zh")


def opp_policy(path: Path) -> tuple[PolicyText, list[Segment]]:
    """OPP-115 segments are the ``|||``-separated pieces, ``<br>`` removed, joined by newlines."""
    pieces = [re.sub(r"\s+", " ", html.unescape(_BR.sub(" ", p))).strip() for p in path.read_text(encoding="utf-8").split("|||")]
    text, segments, pos = "", [], 0
    for piece in (p for p in pieces if p):
        if text:
            text += "\n"
            pos += 1
        segments.append(Segment(index=len(segments), start=pos, end=pos + len(piece), text=piece))
        text += piece
        pos += len(piece)
    return PolicyText(text=text, language="en"), segments


def check_grade(g: Grade, policy: PolicyText, segments: list[Segment]) -> None:
    if g.status is GradeStatus.NOT_ASSESSED:
        assert g.reason and g.score is None and g.tier is None
        return
    assert g.status is GradeStatus.ASSESSED
    assert g.score is not None and 0 <= g.score <= 100 and g.tier == RUBRIC.tier_for(g.score).id
    by_index = {s.index: s for s in segments}
    for c in g.criteria:
        assert (c.level is Level.NONE) == (c.points == 0)
        for e in c.evidence:
            assert e.quote == policy.text[e.start : e.end]
            assert by_index[e.segment_index].start <= e.start < e.end <= by_index[e.segment_index].end


@pytest.fixture(scope="module")
def ca4p_grades() -> list[Grade]:
    files = sorted(CA4P.glob("*.html"))[::3]  # 161 of 483, spread over the corpus
    out = []
    for path in files:
        policy = ca4p_policy(path)
        segments = split(policy.text)
        g = grade(policy, segments, RUBRIC)
        check_grade(g, policy, segments)
        out.append(g)
    return out


def test_ca4p_policies_are_graded_with_exact_quotes(ca4p_grades: list[Grade]):
    assert len(ca4p_grades) >= 100
    assessed = [g for g in ca4p_grades if g.status is GradeStatus.ASSESSED]
    assert len(assessed) >= 0.95 * len(ca4p_grades)


def test_ca4p_scores_spread_across_tiers(ca4p_grades: list[Grade]):
    tiers = Counter(g.tier for g in ca4p_grades if g.status is GradeStatus.ASSESSED)
    total = sum(tiers.values())
    assert len(tiers) >= 4, tiers
    assert max(tiers.values()) <= 0.6 * total, tiers
    scores = sorted(g.score for g in ca4p_grades if g.score is not None)
    assert scores[-1] - scores[0] >= 40


def test_ca4p_common_disclosures_are_found_in_most_policies(ca4p_grades: list[Grade]):
    """Post-2019 Chinese app policies nearly all state what they collect and how to reach them."""
    assessed = [g for g in ca4p_grades if g.status is GradeStatus.ASSESSED]
    for criterion in ("information_collected", "contact_channel", "security_measures"):
        found = sum(1 for g in assessed for c in g.criteria if c.criterion_id == criterion and c.level is not Level.NONE)
        assert found >= 0.85 * len(assessed), criterion


def test_opp115_policies_are_graded_with_exact_quotes():
    files = sorted(OPP.glob("*.html"))[::3]  # 39 of 115
    assert len(files) >= 30
    grades = []
    for path in files:
        policy, segments = opp_policy(path)
        assert all(policy.text[s.start : s.end] == s.text for s in segments)
        g = grade(policy, segments, RUBRIC)
        check_grade(g, policy, segments)
        grades.append(g)
    assessed = [g for g in grades if g.status is GradeStatus.ASSESSED]
    assert len(assessed) >= 0.9 * len(grades)
    assert len({g.tier for g in assessed}) >= 3
