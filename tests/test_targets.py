"""Targets files: valid CSV/YAML load; every problem names the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import TargetsError
from pipeline.run.targets import load_targets

HEADER = "id,name,kind,sector,region,policy_url,homepage\n"


def write(tmp_path: Path, name: str, text: str, bom: bool = False) -> Path:
    p = tmp_path / name
    p.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return p


def test_csv_with_bom_loads_every_field(tmp_path: Path) -> None:
    p = write(tmp_path, "t.csv", HEADER + "weibo,微博,app,社交,CN,https://weibo.example/privacy,https://weibo.example\n", bom=True)
    [t] = load_targets(p)
    assert (t.id, t.name, t.kind, t.sector, t.region) == ("weibo", "微博", "app", "社交", "CN")
    assert t.policy_url == "https://weibo.example/privacy" and t.homepage == "https://weibo.example"
    assert t.source == "t.csv:2"


def test_yaml_list_and_mapping_forms_load(tmp_path: Path) -> None:
    body = "- {id: a, name: A, kind: site, homepage: 'https://a.example'}\n- id: b\n  name: B\n  kind: app\n  policy_url: https://b.example/p\n"
    assert [t.id for t in load_targets(write(tmp_path, "t.yaml", body))] == ["a", "b"]
    wrapped = "targets:\n" + "".join("  " + line + "\n" for line in body.splitlines())
    assert [t.id for t in load_targets(write(tmp_path, "t2.yml", wrapped))] == ["a", "b"]


@pytest.mark.parametrize(
    ("row", "line", "field", "words"),
    [
        ("x,X,robot,,,https://x.example/p,", 2, "kind", "must be one of app, site"),
        ("x,X,app,,,ftp://x.example/p,", 2, "policy_url", "not an http(s) URL"),
        ("x,X,app,,,not a url,", 2, "policy_url", "not an http(s) URL"),
        ("x,X,app,,,,", 2, "policy_url", "give policy_url, homepage, or both"),
        (",X,app,,,https://x.example,", 2, "id", "id is required"),
        ("x,,app,,,https://x.example,", 2, "name", "name is required"),
        ("bad id!,X,app,,,https://x.example,", 2, "id", "must be letters"),
        ("x,X,app,,,https://x.example,,extra", 2, None, "more cells than the header"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path: Path, row: str, line: int, field: str | None, words: str) -> None:
    p = write(tmp_path, "bad.csv", HEADER + row + "\n")
    with pytest.raises(TargetsError) as info:
        load_targets(p)
    [problem] = info.value.problems
    assert (problem.line, problem.field) == (line, field)
    assert words in problem.message
    assert f"bad.csv:{line}" in str(info.value)


def test_duplicate_ids_are_reported_with_both_lines(tmp_path: Path) -> None:
    p = write(tmp_path, "dup.csv", HEADER + "a,A,app,,,https://a.example,\nb,B,app,,,https://b.example,\na,A2,site,,,https://c.example,\n")
    with pytest.raises(TargetsError) as info:
        load_targets(p)
    [problem] = info.value.problems
    assert problem.line == 4 and problem.field == "id" and "first on line 2" in problem.message


def test_duplicate_id_is_reported_when_its_first_row_has_another_mistake(tmp_path: Path) -> None:
    p = write(tmp_path, "dup.csv", HEADER + "a,A,robot,,,https://a.example,\na,A2,app,,,https://c.example,\n")
    with pytest.raises(TargetsError) as info:
        load_targets(p)
    assert [(q.line, q.field) for q in info.value.problems] == [(2, "kind"), (3, "id")]
    assert "duplicate id 'a' (first on line 2)" in info.value.problems[1].message


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    p = write(tmp_path, "many.csv", HEADER + "a,A,robot,,,https://a.example,\nb,B,app,,,nope,\nc,C,app,,,https://c.example,\n")
    with pytest.raises(TargetsError) as info:
        load_targets(p)
    assert [(pr.line, pr.field) for pr in info.value.problems] == [(2, "kind"), (3, "policy_url")]


@pytest.mark.parametrize(
    ("header", "field", "words"),
    [
        ("id,name,policy_url\n", "kind", "missing column 'kind'"),
        ("id,name,kind,sector\n", "policy_url", "needs a policy_url or homepage column"),
        ("id,name,kind,policy_url,colour\n", "colour", "unknown column 'colour'"),
    ],
)
def test_bad_headers_are_reported_on_line_one(tmp_path: Path, header: str, field: str, words: str) -> None:
    p = write(tmp_path, "h.csv", header + "a,A,app,https://a.example,x\n")
    with pytest.raises(TargetsError) as info:
        load_targets(p)
    assert any(pr.line == 1 and pr.field == field and words in pr.message for pr in info.value.problems)


def test_yaml_unknown_field_and_syntax_error_give_lines(tmp_path: Path) -> None:
    p = write(tmp_path, "t.yaml", "- id: a\n  name: A\n  kind: app\n  homepage: https://a.example\n  colour: red\n")
    with pytest.raises(TargetsError) as info:
        load_targets(p)
    assert [(pr.line, pr.field) for pr in info.value.problems] == [(1, "colour")]
    p2 = write(tmp_path, "broken.yaml", "- id: a\n  name: [unclosed\n")
    with pytest.raises(TargetsError) as info2:
        load_targets(p2)
    assert info2.value.problems[0].line is not None and "invalid YAML" in info2.value.problems[0].message


def test_non_utf8_and_empty_and_unknown_type_are_clear(tmp_path: Path) -> None:
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes((HEADER + "a,微博,app,,,https://a.example,\n").encode("gbk"))
    with pytest.raises(TargetsError, match="not UTF-8"):
        load_targets(gbk)
    with pytest.raises(TargetsError, match="empty file"):
        load_targets(write(tmp_path, "empty.csv", ""))
    with pytest.raises(TargetsError, match="unknown file type"):
        load_targets(write(tmp_path, "t.xlsx", "x"))
    with pytest.raises(TargetsError, match="cannot read file"):
        load_targets(tmp_path / "missing.csv")
