"""Years with real data: the 15 services of ToS;DR's tosback sample audited as of 2014-01-01,
2019-01-01 and 2021-06-30 (plus 2012-11-01, when several services had no recorded version yet),
each service's latest version on or before the date served as is on 127.0.0.1; the comparisons
must find changes that are really in the texts.

Runs four audits through :func:`pipeline.run.audit.run_audit` (~45 s, rules only)."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from pipeline.read.extract import extract_text
from pipeline.records import GradeStatus, Level
from pipeline.report.compare import Comparison, compare_audits
from pipeline.settings import Settings
from pipeline.store import db, queries

pytestmark = pytest.mark.slow
SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tosdr-tosback-versions-sample"
if not (SAMPLE / "index.csv").exists():
    pytest.skip(f"needs the ToS;DR sample at {SAMPLE} (../shared/data beside the clone); not present here", allow_module_level=True)

DATES = {"2012": "2012-11-01", "2014": "2014-01-01", "2019": "2019-01-01", "2021": "2021-06-30"}


def _bench() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_years.py"
    spec = importlib.util.spec_from_file_location("_compare_years", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


B = _bench()


class Years:
    def __init__(self, settings: Settings, chosen: dict) -> None:
        self.settings = settings
        self.chosen = chosen  # label -> service name -> Version
        self.engine = db.make_engine(settings.db_url)
        self._text: dict[Path, str] = {}

    def compare(self, a: str, b: str) -> Comparison:
        with db.session_scope(self.engine) as s:
            return compare_audits(s, a, b)

    def file(self, label: str, sid: str) -> Path:
        return next(v.path for name, v in self.chosen[label].items() if B.service_id(name) == sid)

    def text(self, label: str, sid: str) -> str:
        """The file's text as the Markdown reader extracts it (evidence quotes are slices of it)."""
        path = self.file(label, sid)
        if path not in self._text:
            self._text[path] = extract_text(path.read_text(encoding="utf-8")).text
        return self._text[path]


@pytest.fixture(scope="module")
def years(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Years]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("years"), allow_private=True, use_classifier=False)
    y = Years(settings, B.run_years(settings, DATES, SAMPLE))
    yield y
    y.engine.dispose()


def test_every_audit_records_every_service_and_404s_as_no_policy(years: Years) -> None:
    services = {B.service_id(v.service) for v in B.read_index(SAMPLE)}
    assert len(services) == 15
    with db.session_scope(years.engine) as s:
        for label in DATES:
            report = queries.load_report(s, label, with_text=False)
            status = {r.target.id: r.status for r in report.services}
            assert set(status) == services
            present = {B.service_id(n) for n in years.chosen[label]}
            for sid in services:
                if sid in present:
                    assert status[sid] == GradeStatus.ASSESSED, (label, sid)
                else:  # no version recorded yet: the server said 404
                    assert status[sid] == GradeStatus.NO_POLICY, (label, sid)
    assert len(years.chosen["2012"]) < 15 and len(years.chosen["2014"]) == 15


def test_content_change_follows_the_files_bytes(years: Years) -> None:
    for a, b in (("2014", "2021"), ("2019", "2021"), ("2014", "2019")):
        cmp = years.compare(a, b)
        for ch in cmp.services:
            fa, fb = years.file(a, ch.service_id), years.file(b, ch.service_id)
            assert ch.sha256_a == hashlib.sha256(fa.read_bytes()).hexdigest()
            assert ch.sha256_b == hashlib.sha256(fb.read_bytes()).hexdigest()
            assert ch.content_changed is (fa.read_bytes() != fb.read_bytes()), (a, b, ch.service_id)


def test_identical_files_give_no_change_at_all(years: Years) -> None:
    cmp = years.compare("2019", "2021")
    same = [ch for ch in cmp.services if years.file("2019", ch.service_id) == years.file("2021", ch.service_id)]
    assert {ch.service_id for ch in same} >= {"dropbox"}  # Dropbox's last recorded version is from 2018
    for ch in same:
        assert ch.content_changed is False and ch.criteria == () and ch.score_delta == 0 and ch.tier_change == 0


def test_criteria_changes_2014_to_2021_are_in_the_texts(years: Years) -> None:
    cmp = years.compare("2014", "2021")
    changed = [ch for ch in cmp.services if ch.criteria]
    assert len(changed) >= 8
    checked_new = checked_gone = 0
    for ch in changed:
        old, new = years.text("2014", ch.service_id), years.text("2021", ch.service_id)
        for c in ch.criteria:
            for e in c.evidence_b:
                assert new[e.start : e.end] == e.quote  # the 2021 quote is in the 2021 file
            for e in c.evidence_a:
                assert old[e.start : e.end] == e.quote
            if c.gained and c.level_a == Level.NONE:
                # found now, not found then: some 2021 quote does not occur anywhere in the 2014 text
                assert c.evidence_b and any(e.quote not in old for e in c.evidence_b), (ch.service_id, c.criterion_id)
                checked_new += 1
            if not c.gained and c.level_b == Level.NONE:
                assert c.evidence_a and any(e.quote not in new for e in c.evidence_a), (ch.service_id, c.criterion_id)
                checked_gone += 1
    assert checked_new >= 3
    gained = {(ch.service_id, c.criterion_id) for ch in changed for c in ch.gained}
    assert gained, "between 2014 and 2021 some policies must disclose something new"


def test_scores_deltas_and_ranks_agree_with_the_stored_audits(years: Years) -> None:
    cmp = years.compare("2014", "2021")
    with db.session_scope(years.engine) as s:
        a = {r.target.id: r for r in queries.load_report(s, "2014", with_text=False).services}
        b = {r.target.id: r for r in queries.load_report(s, "2021", with_text=False).services}
    for ch in cmp.services:
        assert (ch.score_a, ch.score_b) == (a[ch.service_id].score, b[ch.service_id].score)
        assert ch.score_delta == round(ch.score_b - ch.score_a, 1)
        assert ch.rank_change == a[ch.service_id].rank - b[ch.service_id].rank
        lost_points = sum(c.points_a - c.points_b for c in ch.criteria)
        assert ch.score_delta == pytest.approx(-lost_points, abs=0.11)  # every point of change is a criterion change
    assert cmp.rose and cmp.fell


def test_policies_missing_in_2012_appear_by_2014(years: Years) -> None:
    cmp = years.compare("2012", "2014")
    missing = {B.service_id(n) for n in years.chosen["2014"]} - {B.service_id(n) for n in years.chosen["2012"]}
    assert missing and {ch.service_id for ch in cmp.appeared} == missing
    assert cmp.disappeared == ()
