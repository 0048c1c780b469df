"""Writing an audit's report from the database, and the folders of scheduled runs.

    index = publish_report(settings, "2026", Path("out/2026"))          # reviews applied, as published
    index = publish_scheduled(settings, "weekly-2026-11-23T030000", Path("/srv/reports"))
    # -> /srv/reports/weekly-2026-11-23T030000/index.html, and the same site copied to /srv/reports/latest/

The rubric must be the one the audit was graded with (tiers and criteria come from it); a
different one is a :class:`~pipeline.errors.PolicyAuditError` saying which to pass.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from pipeline.errors import PolicyAuditError
from pipeline.report.files import output_error
from pipeline.settings import Settings

LATEST = "latest"


def publish_report(settings: Settings, label: str, out: Path) -> Path:
    """Write the report of audit ``label`` (reviewers' overrides applied) to ``out``; its index.html."""
    from pipeline.grade.rubric import load_rubric
    from pipeline.report.review import overrides_for
    from pipeline.report.site import render_report
    from pipeline.store import db, queries

    engine = db.make_engine(settings.db_url, read_only=True)  # a report never writes the database
    try:
        with db.session_scope(engine) as session:
            data = queries.load_report(session, label)
            overrides = overrides_for(session, label)
    finally:
        engine.dispose()
    rubric = load_rubric(settings.rubric)
    if (rubric.id, rubric.version) != (data.rubric_id, data.rubric_version):
        raise PolicyAuditError(
            f"audit {label!r} was graded with rubric {data.rubric_id} {data.rubric_version}, "
            f"but --rubric is {rubric.id} {rubric.version}; pass the rubric file the audit used"
        )
    return render_report(data, rubric, out, archive_dir=settings.archive_dir, overrides=overrides)


def publish_scheduled(settings: Settings, label: str, report_dir: Path) -> Path:
    """The report of one scheduled run in ``report_dir/<label>/``, copied to ``report_dir/latest/``
    (replaced whole, so it never mixes two runs); the run's own index.html."""
    report_dir = Path(report_dir)
    index = publish_report(settings, label, report_dir / label)
    latest, fresh = report_dir / LATEST, report_dir / f".{LATEST}.new"
    shutil.rmtree(fresh, ignore_errors=True)
    try:
        shutil.copytree(index.parent, fresh)
    except OSError as exc:  # shutil.Error too: it gathers the errors of each file
        shutil.rmtree(fresh, ignore_errors=True)  # never half a copy; latest/ stays the previous run
        if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list) and exc.args[0]:
            why = str(exc.args[0][0][-1])
            exc = OSError(errno.ENOSPC if "No space left" in why else errno.EIO, why)
        raise output_error(exc, latest, "copy the report to") from None
    old = report_dir / f".{LATEST}.old"
    shutil.rmtree(old, ignore_errors=True)
    if latest.exists():
        latest.rename(old)
    fresh.rename(latest)
    shutil.rmtree(old, ignore_errors=True)
    return index
