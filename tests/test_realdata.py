"""Real policies from ../shared/data, served over HTTP on 127.0.0.1, audited end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.records import GradeStatus
from pipeline.run.audit import run_audit
from pipeline.serve.corpus import corpus_site, write_targets_csv
from pipeline.serve.localserver import serve
from pipeline.settings import Settings
from pipeline.store import db, queries

from .conftest import shared_data_or_skip


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "parts", "limit", "language"), [
    ("ca4p", ("ca4p-483", "raw_data"), 100, "zh"),
    ("opp115", ("opp-115", "sanitized_policies"), 30, "en"),
])
def test_real_policies_all_get_a_grade_or_a_reason_with_exact_quotes(
    tmp_path: Path, kind: str, parts: tuple[str, ...], limit: int, language: str
) -> None:
    folder = shared_data_or_skip(*parts)
    settings = Settings(data_dir=tmp_path, allow_private=True)
    routes, rows = corpus_site(kind, folder, limit)
    assert len(rows) == limit
    with serve(routes) as base:
        run = run_audit(write_targets_csv(rows, base, tmp_path / "targets.csv"), kind, settings)
    assert run.status == "completed" and run.n_targets == limit
    engine = db.make_engine(settings.db_url)
    with db.session_scope(engine) as s:
        report = queries.load_report(s, kind)
    assert len(report.services) == limit
    assessed = [r for r in report.services if r.status == GradeStatus.ASSESSED]
    # real policies of this corpus are policies: nearly all must be graded, not set aside
    assert len(assessed) >= 0.9 * limit, [(r.target.id, r.reason) for r in report.services if r.status != GradeStatus.ASSESSED]
    for r in report.services:
        assert r.status == GradeStatus.ASSESSED or r.reason, r.target.id
        if r.status == GradeStatus.ASSESSED:
            assert r.language == language and r.text
            assert 0 <= r.score <= 100
            for c in r.criteria:
                for e in c.evidence:
                    assert r.text[e.start : e.end] == e.quote, (r.target.id, c.criterion_id)
    # the grader discriminates: real policies do not all land on one score
    assert len({r.score for r in assessed}) > limit // 5
