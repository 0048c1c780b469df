"""Loading and validating rubric files (pipeline.grade.rubric) and the check registry."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from pipeline.errors import RubricError
from pipeline.grade import checks
from pipeline.grade.rubric import load_rubric, rubric_fingerprint
from pipeline.records import Criterion, CriterionResult, Level
# these tests pin rubric v1's behaviour (v1 stays loadable and unchanged; v2 is tested in test_grade_v2.py)
DEFAULT_RUBRIC = Path(__file__).resolve().parents[1] / "rubrics" / "transparency.v1.yaml"

FIXTURES = Path(__file__).parent / "fixtures" / "rubrics"
MARKER = "# <- error"

# RUBRIC.md's criteria, each of which the shipped rubric must cover
EXPECTED_CRITERIA = {
    "policy_exists", "updated_date", "scope", "controller_identity", "contact_channel",
    "information_collected", "purposes", "consent_withdrawal", "user_rights", "third_party_sharing",
    "retention_period", "security_measures", "breach_notification", "minors", "cross_border",
    "policy_changes", "sensitive_info", "personalised_recommendation", "cookies_tracking", "third_party_sdks",
}  # fmt: skip


def marked_line(path: Path) -> int:
    lines = [i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if MARKER in line]
    assert len(lines) == 1, f"{path.name} must mark exactly one line with {MARKER!r}"
    return lines[0]


def test_shipped_rubric_loads_with_twenty_criteria_and_five_tiers():
    rubric = load_rubric(DEFAULT_RUBRIC)
    assert (rubric.id, rubric.version) == ("transparency", "1.0.0")
    assert {c.id for c in rubric.criteria} == EXPECTED_CRITERIA
    assert abs(sum(c.weight for c in rubric.criteria) - 100) < 0.01
    assert [t.id for t in rubric.tiers] == ["high", "relatively_high", "medium", "relatively_low", "low"]
    assert [t.name.zh for t in rubric.tiers] == ["高", "较高", "中", "较低", "低"]
    assert rubric.lowest_tier.min_score == 0
    assert rubric.source == str(DEFAULT_RUBRIC)


def test_shipped_rubric_criteria_are_bilingual_cite_one_basis_and_name_registered_checks():
    rubric = load_rubric(DEFAULT_RUBRIC)
    for c in rubric.criteria:
        assert c.name.zh and c.name.en and c.description and c.description.zh and c.description.en
        assert isinstance(c.legal_basis, str) and c.legal_basis.strip()
        assert re.fullmatch(r"[a-z_]+\.v\d+", c.check) and checks.get_spec(c.check) is not None
        if c.check not in ("policy_exists.v1",):
            assert c.params, c.id


def test_shipped_rubric_labels_are_known_and_cover_the_opp115_and_viodroid_map():
    rubric = load_rubric(DEFAULT_RUBRIC)
    labels = {c.id: c.params.get("labels", {}) for c in rubric.criteria}
    assert labels["retention_period"] == {"zh": ["CR14"], "en": ["Data Retention"]}
    assert labels["user_rights"]["en"] == ["User Access, Edit and Deletion"]
    assert labels["contact_channel"]["en"] == ["Privacy contact information"]
    for by_lang in labels.values():
        for lang, names in by_lang.items():
            assert set(names) <= checks.KNOWN_LABELS[lang]


def test_tier_for_uses_the_thresholds_from_the_file():
    rubric = load_rubric(DEFAULT_RUBRIC)
    by_id = {t.id: t.min_score for t in rubric.tiers}
    assert rubric.tier_for(100).id == "high"
    assert rubric.tier_for(by_id["medium"]).id == "medium"
    assert rubric.tier_for(by_id["medium"] - 0.1).id == "relatively_low"
    assert rubric.tier_for(0).id == "low"


def test_known_label_sets_match_the_data_definitions():
    assert len(checks.OPP115_LABELS) == 12
    assert "Privacy contact information" in checks.OPP115_LABELS
    assert checks.KNOWN_LABELS["zh"] >= {"CR1", "CR26", "PC1", "PC7"}
    assert "CR27" not in checks.KNOWN_LABELS["zh"] and "PC8" not in checks.KNOWN_LABELS["zh"]


BAD = [
    ("bad_syntax_error.yaml", None, "YAML syntax error"),
    ("bad_unknown_top_key.yaml", "descripton", "unknown key"),
    ("bad_unknown_criterion_key.yaml", "criteria[0].wieght", "unknown key"),
    ("bad_unknown_param_key.yaml", "criteria[0].params.paterns", "unknown key"),
    ("bad_missing_key.yaml", "criteria[1].legal_basis", "missing required key"),
    ("bad_duplicate_criterion_id.yaml", "criteria[1].id", "duplicate criterion id"),
    ("bad_duplicate_yaml_key.yaml", "criteria[1].weight", "duplicate key"),
    ("bad_weight_not_positive.yaml", "criteria[1].weight", "must be positive"),
    ("bad_weights_sum.yaml", "criteria[*].weight", "sum to 100"),
    ("bad_tiers_not_descending.yaml", "tiers[1].min_score", "strictly descending"),
    ("bad_tiers_duplicate_threshold.yaml", "tiers[1].min_score", "duplicates the threshold"),
    ("bad_lowest_tier_not_zero.yaml", "tiers[1].min_score", "must be 0"),
    ("bad_unknown_check.yaml", "criteria[1].check", "unknown check 'lexicon.v9'"),
    ("bad_unknown_label.yaml", "criteria[0].params.labels.en[1]", "unknown classifier label 'Retention Period'"),
    ("bad_regex.yaml", "criteria[1].params.patterns.en.full[0]", "bad regular expression"),
]


@pytest.mark.parametrize(("name", "field", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_rubric_raises_naming_file_line_and_field(name: str, field: str | None, message: str):
    path = FIXTURES / name
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    err = info.value
    assert err.path == path
    assert len(err.problems) == 1, err
    problem = err.problems[0]
    assert problem.line == marked_line(path)
    assert problem.field == field
    assert message in problem.message
    assert f"{path}:{problem.line}" in str(err)


def test_every_bad_fixture_is_tested():
    assert {p.name for p in FIXTURES.glob("bad_*.yaml")} == {b[0] for b in BAD}


def test_valid_fixture_loads():
    rubric = load_rubric(FIXTURES / "tiny_valid.yaml")
    assert [c.id for c in rubric.criteria] == ["retention", "contact"]
    assert rubric.criteria[0].params["labels"]["en"] == ["Data Retention"]


def test_all_problems_are_collected_before_raising(tmp_path: Path):
    text = (FIXTURES / "tiny_valid.yaml").read_text(encoding="utf-8")
    text = text.replace("version: 0.1.0", "version: 0.1.0\nsponsor: nobody")
    text = text.replace("check: lexicon.v1", "check: lexicon.v7").replace("weight: 40", "weight: 0")
    path = tmp_path / "many.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    messages = " | ".join(p.message for p in info.value.problems)
    assert "unknown key 'sponsor'" in messages
    assert "unknown check" in messages
    assert "must be positive" in messages


def test_legal_basis_must_be_one_string(tmp_path: Path):
    text = (FIXTURES / "tiny_valid.yaml").read_text(encoding="utf-8")
    text = text.replace("legal_basis: PIPL Art. 17(1)", "legal_basis: [PIPL Art. 17(1), RDR P11]")
    path = tmp_path / "two_bases.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RubricError, match=r"exactly one legal basis") as info:
        load_rubric(path)
    assert info.value.problems[0].field == "criteria[1].legal_basis"


@pytest.mark.parametrize(
    "content, message",
    [("", "empty"), ("- just\n- a list\n", "must be a mapping"), ("id: a\n---\nid: b\n", "YAML syntax error")],
)
def test_degenerate_files_raise_rubric_error(tmp_path: Path, content: str, message: str):
    path = tmp_path / "degenerate.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RubricError, match=message):
        load_rubric(path)


def test_missing_file_raises_rubric_error(tmp_path: Path):
    with pytest.raises(RubricError, match="cannot read"):
        load_rubric(tmp_path / "nope.yaml")


def test_fingerprint_ignores_comments_but_not_weights(tmp_path: Path):
    original = FIXTURES / "tiny_valid.yaml"
    base = rubric_fingerprint(load_rubric(original))
    assert re.fullmatch(r"[0-9a-f]{64}", base)

    commented = tmp_path / "commented.yaml"
    commented.write_text("# another comment\n" + original.read_text(encoding="utf-8"), encoding="utf-8")
    assert rubric_fingerprint(load_rubric(commented)) == base

    moved = tmp_path / "moved.yaml"
    shutil.copy(original, moved)
    assert rubric_fingerprint(load_rubric(moved)) == base  # the path is not content

    reweighted = tmp_path / "reweighted.yaml"
    text = original.read_text(encoding="utf-8").replace("weight: 60", "weight: 55").replace("weight: 40", "weight: 45")
    reweighted.write_text(text, encoding="utf-8")
    assert rubric_fingerprint(load_rubric(reweighted)) != base


def test_registry_rejects_unversioned_and_duplicate_names():
    with pytest.raises(ValueError, match="name.v1"):
        checks.register("lexicon")
    with pytest.raises(ValueError, match="already registered"):
        checks.register("lexicon.v1")(checks.lexicon_v1)


def test_get_check_returns_the_registered_function():
    assert checks.get_check("retention_period.v1") is checks.retention_period_v1
    with pytest.raises(KeyError):
        checks.get_check("retention_period.v0")
    assert {"policy_exists.v1", "lexicon.v1", "coverage.v1", "retention_period.v1", "updated_date.v1"} <= set(
        checks.check_names()
    )


def test_a_check_returns_a_criterion_result_for_its_criterion():
    from pipeline.records import PolicyText, Segment

    text = "We retain logs for 30 days."
    policy = PolicyText(text=text, language="en")
    ctx = checks.GradingContext(policy=policy, segments=(Segment(0, 0, len(text), text),), labels=None)
    crit = Criterion(
        id="r", name=load_rubric(FIXTURES / "tiny_valid.yaml").name, legal_basis="x", weight=10,
        check="retention_period.v1", params={"patterns": {"en": {"partial": [r"\bretain"]}, "zh": {}}},
    )
    result = checks.get_check(crit.check)(crit, ctx)
    assert isinstance(result, CriterionResult)
    assert (result.criterion_id, result.level, result.points, result.method) == ("r", Level.FULL, 10.0, "retention_period.v1")
    assert ctx.label_thresholds == {}


V2_RUBRIC = Path(__file__).resolve().parents[1] / "rubrics" / "transparency.v2.yaml"


def test_v2_is_the_default_and_keeps_v1s_criterion_ids():
    from pipeline.settings import DEFAULT_RUBRIC as DEFAULT

    v1, v2 = load_rubric(DEFAULT_RUBRIC), load_rubric(V2_RUBRIC)
    assert DEFAULT == V2_RUBRIC
    assert (v2.id, v2.version) == ("transparency", "2.0.0")
    assert [c.id for c in v2.criteria] == [c.id for c in v1.criteria]  # compare lines v1 and v2 up
    assert abs(sum(c.weight for c in v2.criteria) - 100) < 0.01
    assert [t.id for t in v2.tiers] == [t.id for t in v1.tiers]


def test_v2_criteria_are_bilingual_and_name_registered_v2_checks():
    for c in load_rubric(V2_RUBRIC).criteria:
        assert c.name.zh and c.name.en and c.description and c.description.zh and c.description.en
        assert c.check.endswith(".v2") and checks.get_spec(c.check) is not None
