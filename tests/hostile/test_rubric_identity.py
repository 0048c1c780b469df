"""One audit, one rubric (issue 14, item 6): resuming an audit with a rubric whose content
changed under the same id and version is refused, so one ranking never mixes two rubrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import StoreError
from pipeline.grade.rubric import load_rubric, rubric_fingerprint
from pipeline.settings import Settings
from pipeline.store import db, save

V1 = Path(__file__).resolve().parents[2] / "rubrics" / "transparency.v1.yaml"


def _reweighted(tmp_path: Path) -> Path:
    """v1 with two weights swapped by one point: same id, same version, different content."""
    text = V1.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    weights = [i for i, line in enumerate(lines) if line.strip().startswith("weight:")]
    a, c = weights[0], weights[1]
    wa, wc = (float(lines[i].split(":", 1)[1]) for i in (a, c))
    lines[a] = lines[a].replace(f"{wa:g}", f"{wa + 1:g}", 1)
    lines[c] = lines[c].replace(f"{wc:g}", f"{wc - 1:g}", 1)
    path = tmp_path / "transparency.v1.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_resuming_with_changed_rubric_content_under_the_same_version_is_refused(tmp_path: Path) -> None:
    engine = db.make_engine(Settings(data_dir=tmp_path).db_url)
    first, changed = load_rubric(V1), load_rubric(_reweighted(tmp_path))
    assert (first.id, first.version) == (changed.id, changed.version)
    assert rubric_fingerprint(first) != rubric_fingerprint(changed)
    with db.session_scope(engine) as session:
        run = save.start_run(session, "2026", first.id, first.version, rubric_fingerprint(first), None, 1, "t.csv")
        resumed = save.start_run(session, "2026", first.id, first.version, rubric_fingerprint(first), None, 1, "t.csv")
        assert resumed.id == run.id  # the same content resumes
        with pytest.raises(StoreError) as info:
            save.start_run(session, "2026", changed.id, changed.version, rubric_fingerprint(changed), None, 1, "t.csv")
        again = save.start_run(session, "2026", first.id, first.version, rubric_fingerprint(first), None, 1, "t.csv")
        assert again.rubric_sha256 == rubric_fingerprint(first)  # not overwritten by the refused attempt
    engine.dispose()
    assert "bump the rubric's version" in str(info.value) and "new label" in str(info.value)
