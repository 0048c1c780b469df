"""Files users write, broken in every usual way, given to ``policyaudit audit``.

Each must fail with exit code 2 and an error naming the file, the line and the field, before
anything is written: no data directory, no database, no archive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import RubricError, TargetsError
from pipeline.grade.rubric import load_rubric
from pipeline.run.targets import load_targets

# Nothing listens on port 9 (discard); these URLs are never fetched, the files are rejected first.
URL = "http://127.0.0.1:9"
HEADER = "id,name,kind,sector,region,policy_url,homepage"


@dataclass(frozen=True)
class Bad:
    text: str | bytes
    line: int | None
    field: str | None
    message: str  # substring of the problem's message
    suffix: str = ".csv"


# anchors nine times over, three levels deep: 9^3 copies of a list once expanded
LAUGHS = (
    "&l0 [a, a, a, a, a, a, a, a, a]",
    "&l1 [" + ", ".join(["*l0"] * 9) + "]",
    "&l2 [" + ", ".join(["*l1"] * 9) + "]",
)

TARGETS: dict[str, Bad] = {
    "bad-row-too-many-cells": Bad(f"{HEADER}\na,A,app,,,{URL}/a,,surplus\n", 2, None, "more cells than the header"),
    "duplicate-ids": Bad(f"{HEADER}\na,A,app,,,{URL}/a,\nb,B,app,,,{URL}/b,\na,A again,site,,,{URL}/a2,\n", 4, "id", "duplicate id 'a' (first on line 2)"),
    "missing-column-kind": Bad(f"id,name,policy_url\na,A,{URL}/a\n", 1, "kind", "missing column 'kind'"),
    "missing-url-columns": Bad("id,name,kind\na,A,app\n", 1, "policy_url", "needs a policy_url or homepage column"),
    "unknown-column": Bad(f"{HEADER},owner\na,A,app,,,{URL}/a,,Acme\n", 1, "owner", "unknown column 'owner'"),
    "unknown-kind": Bad(f"{HEADER}\na,A,app,,,{URL}/a,\nb,B,website,,,{URL}/b,\n", 3, "kind", "kind 'website' must be one of app, site"),
    "empty-required-name": Bad(f"{HEADER}\na,,app,,,{URL}/a,\n", 2, "name", "name is required"),
    "not-a-url": Bad(f"{HEADER}\na,A,app,,,privacy page,\n", 2, "policy_url", "not an http(s) URL"),
    "javascript-url": Bad(f"{HEADER}\na,A,app,,,javascript:alert(1),\n", 2, "policy_url", "not an http(s) URL"),
    "ftp-url": Bad(f"{HEADER}\na,A,app,,,,ftp://127.0.0.1/policy.txt\n", 2, "homepage", "not an http(s) URL"),
    "url-without-host": Bad(f"{HEADER}\na,A,app,,,http:///privacy,\n", 2, "policy_url", "URL has no host"),
    "no-url-at-all": Bad(f"{HEADER}\na,A,app,,,,\n", 2, "policy_url", "give policy_url, homepage, or both"),
    "bad-id": Bad(f"{HEADER}\n../etc/passwd,A,app,,,{URL}/a,\n", 2, "id", "must be letters, digits"),
    "not-utf8": Bad(f"{HEADER}\na,A,app,,,{URL}/a,\nb,".encode() + "微博".encode("gbk") + f",app,,,{URL}/b,\n".encode(), 3, None, "not UTF-8"),
    "header-only": Bad(f"{HEADER}\n", None, None, "no services in file"),
    "empty-file": Bad("", 1, None, "empty file"),
    "yaml-unknown-key": Bad(f"- id: a\n  name: A\n  kind: app\n  policy_url: {URL}/a\n  owner: Acme\n", 1, "owner", "unknown field 'owner'", ".yaml"),
    "yaml-duplicate-key": Bad(f"- id: a\n  name: A\n  kind: app\n  kind: site\n  policy_url: {URL}/a\n", 1, "kind", "field given twice", ".yaml"),
    "yaml-syntax": Bad(f"- id: a\n  name: [A\n  kind: app\n  policy_url: {URL}/a\n", 3, None, "invalid YAML", ".yaml"),
    # issue 14: files that ate gigabytes or crashed with a traceback
    "csv-200k-character-cell": Bad(f"{HEADER}\na,{'x' * 200_000},app,,,{URL}/a,\n", 2, "name", "cell longer than 100000 characters"),
    "yaml-billion-laughs": Bad(
        f"- id: a\n  name: A\n  kind: app\n  policy_url: {URL}/a\n" + "".join(
            f"  {key}: {LAUGHS[i]}\n" for i, key in enumerate(("sector", "region", "homepage"))
        ), 7, None, "more than 16 aliases", ".yaml",
    ),
    "yaml-50000-deep": Bad("- id: a\n  name: " + "[" * 50_000 + "]" * 50_000 + "\n", 2, None, "nested more than 64 levels", ".yaml"),
    "yaml-python-tag": Bad("- !!python/object/apply:os.system ['true']\n", 1, None, "is not allowed in a data file", ".yaml"),
    "unknown-file-type": Bad(f"{HEADER}\na,A,app,,,{URL}/a,\n", None, None, "unknown file type", ".xlsx"),
}

RUBRIC = """\
id: hostile_test
version: 1.0.0
name: {zh: 测试, en: Test}
tiers:
  - id: good
    name: {zh: 好, en: Good}
    min_score: 50
  - id: poor
    name: {zh: 差, en: Poor}
    min_score: 0
criteria:
  - id: policy_exists
    name: {zh: 有政策, en: Has a policy}
    legal_basis: Test basis 1
    weight: 40
    check: policy_exists.v1
  - id: retention
    name: {zh: 保存期限, en: Retention}
    legal_basis: Test basis 2
    weight: 60
    check: lexicon.v1
    params:
      patterns:
        zh: {full: ['保存\\d+天'], partial: ['保存']}
        en: {full: ['keep .* for \\d+ days'], partial: ['\\bkeep\\b']}
      labels:
        en: [Data Retention]
"""


def _edit(old: str, new: str) -> str:
    assert RUBRIC.count(old) == 1, old
    return RUBRIC.replace(old, new)


def _line_of(text: str, needle: str, occurrence: int = 1) -> int:
    pos = -1
    for _ in range(occurrence):
        pos = text.index(needle, pos + 1)
    return text[:pos].count("\n") + 1


def _bad_rubric(text: str, needle: str, field: str, message: str, occurrence: int = 1) -> Bad:
    return Bad(text, _line_of(text, needle, occurrence), field, message, ".yaml")


_DUP = _edit("  - id: retention\n", "  - id: policy_exists\n")
_UNKNOWN_KEY = _edit("    weight: 40\n", "    weight: 40\n    wieght: 40\n")
_WEIGHTS = _edit("    weight: 60\n", "    weight: 50\n")
_OVERLAP = _edit("    min_score: 0\n", "    min_score: 70\n  - id: floor\n    name: {zh: 底, en: Floor}\n    min_score: 0\n")
_LABEL = _edit("en: [Data Retention]", "en: [Data Retension]")
_TOP_KEY = _edit("name: {zh: 测试, en: Test}\n", "name: {zh: 测试, en: Test}\nauthor: someone\n")
_CHECK = _edit("check: policy_exists.v1", "check: policy_exists.v9")
_REGEX = _edit("partial: ['\\bkeep\\b']", "partial: ['(keep']")
_NEG = _edit("    weight: 40\n", "    weight: -40\n")
_REDOS = _edit("partial: ['\\bkeep\\b']", "partial: ['(a+)+$']")
_TOP = "name: {zh: 测试, en: Test}\n"
_LAUGHS = _edit(_TOP, _TOP + "description:\n" + "".join(f"  x{i}: {laugh}\n" for i, laugh in enumerate(LAUGHS)))
_DEEP = _edit(_TOP, _TOP + "description: " + "[" * 50_000 + "]" * 50_000 + "\n")
_TAG = _edit(_TOP, _TOP + "description: !!python/object/apply:os.system ['true']\n")

RUBRICS: dict[str, Bad] = {
    "unknown-criterion-key": _bad_rubric(_UNKNOWN_KEY, "wieght", "criteria[0].wieght", "unknown key 'wieght'"),
    "unknown-top-key": _bad_rubric(_TOP_KEY, "author", "author", "unknown key 'author'"),
    "duplicate-criterion": _bad_rubric(_DUP, "id: policy_exists", "criteria[1].id", "duplicate criterion id 'policy_exists'", 2),
    "weights-do-not-add-up": _bad_rubric(_WEIGHTS, "criteria:", "criteria[*].weight", "weights must sum to 100"),
    "overlapping-tiers": _bad_rubric(_OVERLAP, "min_score: 70", "tiers[1].min_score", "thresholds overlap"),
    "unknown-label": _bad_rubric(_LABEL, "Data Retension", "criteria[1].params.labels.en[0]", "unknown classifier label 'Data Retension'"),
    "unknown-check": _bad_rubric(_CHECK, "policy_exists.v9", "criteria[0].check", "unknown check 'policy_exists.v9'"),
    "bad-regex": _bad_rubric(_REGEX, "(keep", "criteria[1].params.patterns.en.partial[0]", "bad regular expression"),
    "negative-weight": _bad_rubric(_NEG, "weight: -40", "criteria[0].weight", "weight must be positive"),
    "yaml-syntax": Bad(RUBRIC.replace("tiers:\n", "tiers: [\n", 1), 5, None, "YAML syntax error", ".yaml"),
    "catastrophic-regex": _bad_rubric(_REDOS, "(a+)+$", "criteria[1].params.patterns.en.partial[0]", "unsafe regular expression"),
    "yaml-billion-laughs": Bad(_LAUGHS, _line_of(_LAUGHS, "x2:"), None, "more than 16 aliases", ".yaml"),
    "yaml-50000-deep": Bad(_DEEP, _line_of(_DEEP, "description:"), None, "nested more than 64 levels", ".yaml"),
    "yaml-python-tag": Bad(_TAG, _line_of(_TAG, "description:"), None, "is not allowed in a data file", ".yaml"),
}


def _squash(s: str) -> str:
    """Output without whitespace: rich wraps long lines wherever it likes."""
    return re.sub(r"\s+", "", s)


def _invoke(tmp_path: Path, args: list[str]) -> tuple[int, str, Path]:
    data = tmp_path / "data"
    result = CliRunner().invoke(app, ["audit", *args, "--label", "x", "--no-prefect", "--data-dir", str(data)])
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else ""), data


def _assert_clear_error(code: int, out: str, data: Path, path: Path, bad: Bad) -> None:
    assert code == 2, out
    assert "Traceback" not in out
    squashed = _squash(out)
    where = _squash(f"{path}" + (f":{bad.line}" if bad.line is not None else ""))
    assert where + ":" in squashed or where + "[" in squashed, out
    assert _squash(bad.message) in squashed, out
    assert not data.exists(), f"something was written: {sorted(data.rglob('*'))}"


def _write(tmp_path: Path, name: str, bad: Bad) -> Path:
    path = tmp_path / f"{name}{bad.suffix}"
    path.write_bytes(bad.text if isinstance(bad.text, bytes) else bad.text.encode("utf-8"))
    return path


@pytest.mark.parametrize("name", list(TARGETS))
def test_bad_targets_file_fails_naming_file_line_field_and_writes_nothing(tmp_path: Path, name: str) -> None:
    bad = TARGETS[name]
    path = _write(tmp_path, name, bad)
    with pytest.raises(TargetsError) as info:
        load_targets(path)
    assert any(p.line == bad.line and p.field == bad.field and bad.message in p.message for p in info.value.problems), info.value
    code, out, data = _invoke(tmp_path, [str(path)])
    _assert_clear_error(code, out, data, path, bad)


def test_every_problem_of_a_targets_file_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_text(f"{HEADER}\na,A,app,,,{URL}/a,\na,,tablet,,,nope,\n", encoding="utf-8")
    with pytest.raises(TargetsError) as info:
        load_targets(path)
    assert {(p.line, p.field) for p in info.value.problems} >= {(3, "name"), (3, "kind"), (3, "policy_url")}


def test_targets_file_with_bom_and_crlf_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{HEADER}\r\nweibo,微博,app,社交,CN,{URL}/privacy,\r\n".encode())
    [target] = load_targets(path)
    assert (target.id, target.name, target.kind, target.policy_url) == ("weibo", "微博", "app", f"{URL}/privacy")


def test_targets_file_with_cr_only_line_endings_is_read(tmp_path: Path) -> None:
    path = tmp_path / "cr.csv"
    path.write_bytes(f"{HEADER}\rweibo,微博,app,社交,CN,{URL}/privacy,\rqq,QQ,app,,,{URL}/qq,\r".encode())
    assert [t.id for t in load_targets(path)] == ["weibo", "qq"]


def test_a_few_aliases_stay_allowed_in_rubrics_and_targets(tmp_path: Path) -> None:
    path = tmp_path / "alias.yaml"
    path.write_text(f"- id: a\n  name: &n Acme\n  kind: app\n  policy_url: {URL}/a\n- id: b\n  name: *n\n  kind: app\n  policy_url: {URL}/b\n")
    assert [t.name for t in load_targets(path)] == ["Acme", "Acme"]
    for shipped in ("transparency.v1.yaml", "transparency.v2.yaml"):
        assert load_rubric(Path(__file__).resolve().parents[2] / "rubrics" / shipped).criteria


def test_missing_targets_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    code, out, data = _invoke(tmp_path, [str(path)])
    assert code == 2 and "Traceback" not in out and not data.exists()
    assert _squash(str(path)) in _squash(out)


def test_the_test_rubric_itself_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(RUBRIC, encoding="utf-8")
    rubric = load_rubric(path)
    assert [c.id for c in rubric.criteria] == ["policy_exists", "retention"]


@pytest.mark.parametrize("name", list(RUBRICS))
def test_bad_rubric_fails_naming_file_line_field_and_writes_nothing(tmp_path: Path, name: str) -> None:
    bad = RUBRICS[name]
    path = _write(tmp_path, name, bad)
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    assert any(p.line == bad.line and p.field == bad.field and bad.message in p.message for p in info.value.problems), info.value
    targets = tmp_path / "targets.csv"
    targets.write_text(f"{HEADER}\na,A,app,,,{URL}/a,\n", encoding="utf-8")
    code, out, data = _invoke(tmp_path, [str(targets), "--rubric", str(path)])
    _assert_clear_error(code, out, data, path, bad)


@pytest.mark.parametrize(("kind", "name"), [("targets", "duplicate-ids"), ("rubric", "unknown-top-key")])
def test_cli_error_keeps_the_field_name(tmp_path: Path, kind: str, name: str) -> None:
    bad = (TARGETS if kind == "targets" else RUBRICS)[name]
    path = _write(tmp_path, name, bad)
    args = [str(path)]
    if kind == "rubric":
        targets = tmp_path / "targets.csv"
        targets.write_text(f"{HEADER}\na,A,app,,,{URL}/a,\n", encoding="utf-8")
        args = [str(targets), "--rubric", str(path)]
    code, out, _ = _invoke(tmp_path, args)
    assert code == 2
    assert _squash(f"{path}:{bad.line}[{bad.field}]") in _squash(out), out
