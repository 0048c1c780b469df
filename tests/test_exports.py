"""Exports: CSV and JSON with evidence and reviews, the Markdown summary, Datasette metadata."""

from __future__ import annotations

import csv
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from pipeline.report.exports import CSV_COLUMNS, ExportError, datasette_metadata, export_audit
from pipeline.report.review import set_override
from pipeline.store import db, queries


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_{name}", Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


C = _load("test_compare")
FORMULA = "=HYPERLINK(\"http://evil.example\")"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    eng = db.make_engine(f"sqlite:///{tmp_path_factory.mktemp('exports') / 'audit.db'}")
    C.save_audit(eng, "y1", C.Y1, C.rubric(), names={"quillcraft": FORMULA})
    with db.session_scope(eng) as s:
        set_override(s, "y1", "brightpath", "retention_period", "partial", "orders only", "lin")
    yield eng
    eng.dispose()


def _report(engine: Engine) -> dict:
    with db.session_scope(engine) as s:
        return {r.target.id: r for r in queries.load_report(s, "y1").services}


def test_csv_has_one_row_per_criterion_with_evidence_and_review(engine: Engine, tmp_path: Path) -> None:
    with db.session_scope(engine) as s:
        result = export_audit(s, "y1", "csv", tmp_path / "y1.csv")
    raw = result.path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM for spreadsheet programs
    rows = list(csv.DictReader(result.path.open(encoding="utf-8-sig")))
    assert list(rows[0]) == list(CSV_COLUMNS)
    n_criteria = len(C.rubric().criteria)
    assert len(rows) == result.rows == 4 * n_criteria  # no_policy services have their "none" criteria too
    machine = _report(engine)
    bp = {r["criterion_id"]: r for r in rows if r["service_id"] == "brightpath"}
    ret = bp["retention_period"]
    assert (ret["level"], ret["machine_level"], ret["reviewed_level"], ret["reviewer"], ret["review_note"]) == (
        "partial", "full", "partial", "lin", "orders only"
    )
    m = next(c for c in machine["brightpath"].criteria if c.criterion_id == "retention_period")
    assert ret["evidence_quotes"] == " | ".join(e.quote for e in m.evidence)
    assert ret["evidence_offsets"] == " ".join(f"{e.start}-{e.end}" for e in m.evidence)
    for e in m.evidence:
        assert machine["brightpath"].text[e.start : e.end] == e.quote
    weight = float(ret["weight"])
    assert float(bp["retention_period"]["score"]) == machine["brightpath"].score - weight / 2  # the reviewed score
    assert {r["name"] for r in rows if r["service_id"] == "quillcraft"} == {"'" + FORMULA}  # formula guard


def test_csv_without_reviews_is_the_machine_result(engine: Engine, tmp_path: Path) -> None:
    with db.session_scope(engine) as s:
        export_audit(s, "y1", "csv", tmp_path / "m.csv", reviewed=False)
    rows = list(csv.DictReader((tmp_path / "m.csv").open(encoding="utf-8-sig")))
    ret = next(r for r in rows if r["service_id"] == "brightpath" and r["criterion_id"] == "retention_period")
    assert ret["level"] == "full" and ret["reviewed_level"] == "" and float(ret["score"]) == _report(engine)["brightpath"].score


def test_json_nests_services_criteria_and_evidence(engine: Engine, tmp_path: Path) -> None:
    with db.session_scope(engine) as s:
        result = export_audit(s, "y1", "json", tmp_path / "y1.json")
    data = json.loads(result.path.read_text(encoding="utf-8"))
    assert data["audit"]["label"] == "y1" and data["audit"]["reviewed"] is True
    assert data["audit"]["rubric_version"] == C.rubric().version
    services = {s["service_id"]: s for s in data["services"]}
    assert set(services) == set(C.Y1)
    assert services["newleaf"]["status"] == "no_policy" and services["newleaf"]["score"] == 0
    crit = {c["criterion_id"]: c for c in services["brightpath"]["criteria"]}
    assert crit["retention_period"]["review"]["reviewer"] == "lin" and crit["retention_period"]["machine_level"] == "full"
    machine = _report(engine)["brightpath"]
    for c in machine.criteria:
        assert [e["quote"] for e in crit[c.criterion_id]["evidence"]] == [e.quote for e in c.evidence]
    assert [s["rank"] for s in data["services"]] == sorted(s["rank"] for s in data["services"])


def test_markdown_needs_the_audits_rubric(engine: Engine, tmp_path: Path) -> None:
    rub = C.rubric()
    with db.session_scope(engine) as s:
        with pytest.raises(ExportError, match="needs the rubric"):
            export_audit(s, "y1", "md", tmp_path / "y1.md")
        with pytest.raises(ExportError, match="unknown export format 'xlsx'"):
            export_audit(s, "y1", "xlsx", tmp_path / "y1.xlsx")
        export_audit(s, "y1", "md", tmp_path / "y1.md", rubric=rub)
    text = (tmp_path / "y1.md").read_text(encoding="utf-8")
    assert "| Brightpath |" in text and '=HYPERLINK("http://evil.example")' in text  # no link without [ ]: parentheses as written


def test_datasette_metadata_describes_every_table_and_column(engine: Engine) -> None:
    meta = datasette_metadata(engine)
    json.dumps(meta)  # serialisable
    tables = meta["databases"]["audit"]["tables"]
    insp = inspect(engine)
    assert set(tables) == set(insp.get_table_names())
    for table in insp.get_table_names():
        assert tables[table]["description"], table
        cols = tables[table]["columns"]
        assert set(cols) == {c["name"] for c in insp.get_columns(table)}
        missing = [name for name, desc in cols.items() if not desc]
        assert missing == [], f"{table}: no description for {missing}: add one to the Field or COLUMN_NOTES"
        assert set(tables[table].get("facets", [])) <= set(cols)
    # SQLModel Field descriptions are used where present
    assert tables["overrides"]["columns"]["note"] == "why the reviewer changed it"
    assert tables["audit_runs"]["columns"]["label"] == "Audit label, e.g. 2026"
    assert ":label" in meta["databases"]["audit"]["queries"]["ranking"]["sql"]


def test_datasette_ranking_query_runs_on_the_database(engine: Engine) -> None:
    from sqlalchemy import text

    sql = datasette_metadata(engine)["databases"]["audit"]["queries"]["ranking"]["sql"]
    with engine.connect() as conn:
        rows = conn.execute(text(sql), {"label": "y1"}).all()
    assert len(rows) == 4 and rows[0].score == max(r.score for r in rows)
