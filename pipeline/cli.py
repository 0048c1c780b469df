"""The ``policyaudit`` command: parses arguments and calls the library, nothing more."""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from pipeline.errors import PolicyAuditError
from pipeline.run.launch import check_prefect_api, configure_prefect, launch_audit, make_settings
from pipeline.settings import Settings
from pipeline.terminal import EXIT_NOTHING_ASSESSED, AuditDisplay, console, err, existing_database, fail, print_run, working

app = typer.Typer(
    help="Audit the transparency of privacy policies: fetch, read, grade, rank and report.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Archive, database and reports go here [default: ./audit-data].")]
DbUrl = Annotated[str | None, typer.Option("--db-url", help="SQLAlchemy database URL [default: SQLite in the data dir].")]
RubricOpt = Annotated[Path | None, typer.Option("--rubric", help="Rubric file [default: rubrics/transparency.v2.yaml].")]


def _settings(**overrides: Any) -> Settings:
    try:
        return make_settings({k: v for k, v in overrides.items() if v is not None})
    except PolicyAuditError as exc:
        fail(exc)


def _existing(**overrides: Any) -> tuple[Settings, str]:
    """Settings and database URL of a read-only command: an absent database is an error, never created."""
    settings = _settings(**overrides)
    try:
        return settings, existing_database(settings)
    except PolicyAuditError as exc:
        fail(exc)


def _overrides(**overrides: Any) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in overrides.items() if v is not None}


_fail = fail
_print_run = print_run


@app.command()
def audit(
    targets: Annotated[Path, typer.Argument(help="Targets file (.csv or .yaml): id,name,kind,sector,region,policy_url,homepage.")],
    label: Annotated[str, typer.Option("--label", "-l", help="Audit label, e.g. 2026. Re-running a label resumes it.")],
    data_dir: DataDir = None,
    db_url: DbUrl = None,
    rubric: RubricOpt = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Redo services this audit already graded.")] = False,
    allow_private: Annotated[bool, typer.Option("--allow-private", help="Allow private/loopback addresses (local tests only).")] = False,
    no_robots: Annotated[bool, typer.Option("--ignore-robots", help="Do not obey robots.txt (only for your own servers).")] = False,
    no_classifier: Annotated[bool, typer.Option("--no-classifier", help="Grade with rules only.")] = False,
    no_prefect: Annotated[bool, typer.Option("--no-prefect", help="Run the stages directly, without Prefect.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Also write the report to this folder.")] = None,
    dask: Annotated[str | None, typer.Option("--dask", help="Dask scheduler address (tcp://host:8786): spread batches over its workers.")] = None,
    shard: Annotated[str | None, typer.Option("--shard", help="K/N: this worker audits the K-th of N disjoint parts of the list (share --db-url).")] = None,
    as_of: Annotated[datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"], help="Audit the Internet Archive copy closest to this date, e.g. --as-of 2019-03-01.")] = None,
) -> None:
    """Audit every service in TARGETS and store the grades under LABEL.

    Example: policyaudit audit services.csv --label 2026 --report reports-out/2026
    """
    overrides = _overrides(
        data_dir=data_dir, database_url=db_url, rubric=rubric, allow_private=allow_private or None,
        obey_robots=False if no_robots else None, use_classifier=False if no_classifier else None,
        as_of=as_of.date().isoformat() if as_of else None,
    )
    from pipeline.run.launch import nothing_assessed
    from pipeline.run.progress import reporting

    try:
        with AuditDisplay(err) as display, reporting(display.update):
            summary = launch_audit(targets, label, overrides, refresh, use_prefect=not no_prefect, dask=dask,
                                   shard=shard, on_status=display.status)
        _print_run(summary)
        if report:
            console.print(f"report: {_render(label, report, Settings(**overrides))}")
        problem = nothing_assessed(summary, Settings(**overrides))
    except PolicyAuditError as exc:
        _fail(exc)
    if problem:
        _fail(PolicyAuditError(problem), EXIT_NOTHING_ASSESSED)


@app.command()
def schedule(
    targets: Annotated[Path, typer.Argument(help="Targets file (.csv or .yaml).")],
    cron: Annotated[str | None, typer.Option("--cron", help='Cron schedule, e.g. "0 3 * * 1" (Mondays 03:00).')] = None,
    interval: Annotated[float | None, typer.Option("--interval", help="Or: seconds between runs.")] = None,
    label_prefix: Annotated[str, typer.Option("--label-prefix", help="Each run is labelled PREFIX + its scheduled start (UTC).")] = "weekly-",
    name: Annotated[str, typer.Option("--name", help="Deployment name in Prefect.")] = "policyaudit",
    data_dir: DataDir = None,
    db_url: DbUrl = None,
    rubric: RubricOpt = None,
    allow_private: Annotated[bool, typer.Option("--allow-private", help="Allow private/loopback addresses (local tests only).")] = False,
    report_dir: Annotated[Path | None, typer.Option("--report-dir", help="Write each run's report to DIR/<label>/ and copy it to DIR/latest/.")] = None,
) -> None:
    """Serve a Prefect deployment of the audit flow that runs on a schedule, until stopped.

    Needs a Prefect server (`prefect server start`, then PREFECT_API_URL=http://127.0.0.1:4200/api).
    Logs one line per run (label, counts, report path); SIGTERM or Ctrl-C stops it.
    Example: policyaudit schedule services.csv --cron "0 3 * * 1" --data-dir /srv/audit --report-dir /srv/reports
    """
    if (cron is None) == (interval is None):
        _fail(PolicyAuditError("give exactly one of --cron or --interval"))
    configure_prefect()
    if not os.environ.get("PREFECT_API_URL"):
        _fail(PolicyAuditError(
            "schedules need a Prefect server: run `prefect server start` and set PREFECT_API_URL=http://127.0.0.1:4200/api"
        ))
    try:
        check_prefect_api()
        from pipeline.run.targets import load_targets

        load_targets(targets)  # fail now, not at 03:00 on Monday
        _settings(data_dir=data_dir, database_url=db_url, rubric=rubric)
    except PolicyAuditError as exc:
        _fail(exc)
    overrides = _overrides(
        data_dir=(data_dir or Settings().data_dir).resolve(), database_url=db_url,
        rubric=rubric.resolve() if rubric else None, allow_private=allow_private or None,
    )
    from pipeline.run.flows import serve_schedule

    console.print(f"serving deployment audit/{name} ({'cron ' + cron if cron else f'every {interval:g} s'}); Ctrl-C stops")
    serve_schedule(name, cron, interval, {
        "targets_file": str(targets.resolve()), "settings_overrides": overrides, "label_prefix": label_prefix,
        "report_dir": str(report_dir.resolve()) if report_dir else None,
    })


def _render(label: str, out: Path, settings: Settings) -> Path:
    from pipeline.report.publish import publish_report

    existing_database(settings)
    return publish_report(settings, label, out)


@app.command()
def report(
    label: Annotated[str, typer.Option("--label", "-l", help="Audit label to report.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the report site into.")],
    data_dir: DataDir = None,
    db_url: DbUrl = None,
    rubric: RubricOpt = None,
) -> None:
    """Write the report of one audit: HTML site, scores.csv, criteria.csv and summary.md.

    Example: policyaudit report --label 2026 --out reports-out/2026
    """
    try:
        with working(err, f"writing the report of audit {label} to {out}"):
            index = _render(label, out, _settings(data_dir=data_dir, database_url=db_url, rubric=rubric))
    except PolicyAuditError as exc:
        _fail(exc)
    console.print(f"report: {index}")


@app.command()
def show(
    service: Annotated[str, typer.Argument(help="Service id, as in the targets file.")],
    label: Annotated[str | None, typer.Option("--label", "-l", help="Audit label [default: the latest].")] = None,
    data_dir: DataDir = None,
    db_url: DbUrl = None,
    rubric: RubricOpt = None,
) -> None:
    """Show one service's grade as published, with every criterion and its quoted evidence; says what a review changed.

    Example: policyaudit show chenguang --label 2026
    """
    from pipeline.report.review import changed_by_review, reviewed_report
    from pipeline.store import db, queries
    from pipeline.terminal import ReviewNote, print_service

    settings, url = _existing(data_dir=data_dir, database_url=db_url, rubric=rubric)
    try:
        engine = db.make_engine(url, read_only=True)
        with db.session_scope(engine) as session:
            runs = queries.list_runs(session)
            if not runs:
                raise PolicyAuditError("no audits in the database yet; run `policyaudit audit` first")
            chosen = label or runs[-1].label
            data, reviews = reviewed_report(session, chosen, settings.rubric)
            machine = {s.target.id: s.score for s in queries.load_report(session, chosen, with_text=False).services}
    except PolicyAuditError as exc:
        _fail(exc)
    match = [s for s in data.services if s.target.id == service]
    if not match:
        _fail(PolicyAuditError(f"service {service!r} is not in audit {data.label!r}"))
    notes = [
        ReviewNote(r.criterion_id, str(r.machine_level), str(r.level), r.reviewer, r.note)
        for r in changed_by_review(reviews, service)
    ]
    print_service(data, match[0], notes, machine.get(service))


@app.command()
def runs(data_dir: DataDir = None, db_url: DbUrl = None) -> None:
    """List the audits in the database.

    Example: policyaudit runs --data-dir audit-data
    """
    from pipeline.store import db, queries
    from pipeline.terminal import print_runs

    _, url = _existing(data_dir=data_dir, database_url=db_url)
    try:
        with db.session_scope(db.make_engine(url, read_only=True)) as session:
            print_runs(queries.list_runs(session))
    except PolicyAuditError as exc:
        _fail(exc)


@app.command()
def migrate(data_dir: DataDir = None, db_url: DbUrl = None) -> None:
    """Upgrade an existing database to this version's schema (read-only commands never do).

    Example: policyaudit migrate --data-dir audit-data
    """
    from pipeline.store import db

    _, url = _existing(data_dir=data_dir, database_url=db_url)
    try:
        db.make_engine(url).dispose()
    except PolicyAuditError as exc:
        _fail(exc)
    console.print(f"database {db.sqlite_file(url) or url}: schema up to date", highlight=False, markup=False, soft_wrap=True)


@app.command()
def demo(
    data_dir: DataDir = None,
    prefect: Annotated[bool | None, typer.Option("--prefect/--no-prefect", help="Run through Prefect [default: only when a Prefect server is running].")] = None,
) -> None:
    """Audit nine sample services served on 127.0.0.1 (audit label "demo") and write the report.

    The demo goes to the usual data dir, so `policyaudit runs` and `policyaudit show chenguang --label demo` work next.
    Example: policyaudit demo
    """
    from pipeline.demo import demo_server, next_commands, write_targets
    from pipeline.run.progress import reporting

    start = time.perf_counter()
    settings = _settings(data_dir=data_dir)
    if prefect is None:
        from pipeline.run.prefect_server import choose_api

        try:
            prefect = choose_api() is not None  # a running server costs ~1 s; a temporary one 10-25 s
        except PolicyAuditError:
            prefect = False
    with demo_server() as base_url:
        targets = write_targets(base_url, settings.data_dir / "demo-targets.csv")
        # The demo server is on loopback, which the fetcher refuses by default.
        overrides = _overrides(data_dir=settings.data_dir, allow_private=True)
        try:
            with AuditDisplay(err) as display, reporting(display.update):
                summary = launch_audit(targets, "demo", overrides, refresh=True, use_prefect=prefect, on_status=display.status)
            _print_run(summary)
            index = _render("demo", settings.data_dir / "reports" / "demo", Settings(**overrides))
        except PolicyAuditError as exc:
            _fail(exc)
    console.print(f"done in {time.perf_counter() - start:.1f} s")
    console.print(f"report: {index.resolve()}", soft_wrap=True)
    console.print("next:\n" + "\n".join(f"  {c}" for c in next_commands(data_dir)), highlight=False, markup=False, soft_wrap=True)


@app.command()
def train(
    shared_data: Annotated[Path, typer.Option("--data", help="Folder of the labelled corpora.")] = Path("../shared/data"),
    models_dir: Annotated[Path, typer.Option("--models", help="Where models are written.")] = Path("models"),
    language: Annotated[list[str] | None, typer.Option("--language", help="en and/or zh [default: both].")] = None,
) -> None:
    """Train the segment classifiers and write them with their model card to models/.

    Example: policyaudit train --data ../shared/data --models models
    """
    from pipeline.train.card import format_metrics
    from pipeline.train.fit import train_models

    with working(err, f"training the segment classifiers from {shared_data} (a few minutes)"):
        metrics = train_models(shared_data, models_dir, tuple(language or ("en", "zh")))
    console.print(format_metrics(metrics), highlight=False, markup=False)


@app.command()
def evaluate(
    shared_data: Annotated[Path, typer.Option("--data", help="Folder of the labelled corpora.")] = Path("../shared/data"),
    models_dir: Annotated[Path, typer.Option("--models", help="Folder of the trained models.")] = Path("models"),
    grades: Annotated[bool, typer.Option("--grades", help="Evaluate the grades instead: agreement with careful readers (ca4p-transparency-dev), OPP-115 truth (with a held-out half) and CA4P's own span annotations on the 443 other policies; writes models/grades_metrics.json.")] = False,
    rubric_file: Annotated[Path, typer.Option("--rubric", help="Rubric to evaluate with --grades.")] = Path("rubrics/transparency.v2.yaml"),
) -> None:
    """Evaluate the classifiers (standard OPP-115 split, by-policy split, Chinese split) and write models/metrics.json.

    With --grades: per-criterion agreement and kappa, pooled kappa with a bootstrap interval, score
    and tier agreement (weights and tiers cross-validated by policy), document-type accuracy, held-out checks.

    Example: policyaudit evaluate --data ../shared/data --grades
    """
    from pipeline.train.card import format_metrics
    from pipeline.train.evaluate import evaluate_models

    if grades:
        from pipeline.train.grades import format_grade_metrics, run_grade_evaluation

        with working(err, f"grading the labelled policies of {shared_data} and measuring agreement"):
            result = run_grade_evaluation(shared_data, rubric_file, models_dir)
        console.print(format_grade_metrics(result), highlight=False, markup=False)
        return

    with working(err, f"evaluating the classifiers in {models_dir} on {shared_data}"):
        metrics = evaluate_models(shared_data, models_dir)
    console.print(format_metrics(metrics), highlight=False, markup=False)


@app.command("settings")
def show_settings() -> None:
    """List every setting with its environment variable, default and help.

    Example: POLICYAUDIT_DATA_DIR=/srv/audit policyaudit settings
    """
    table = Table("setting", "environment variable", "default", "help")
    for name, info in Settings.model_fields.items():
        table.add_row(name, f"POLICYAUDIT_{name.upper()}", str(info.default), info.description or "")
    console.print(table)


@app.command()
def compare(
    label_a: Annotated[str, typer.Argument(help="The older audit label, e.g. 2025.")],
    label_b: Annotated[str, typer.Argument(help="The newer audit label, e.g. 2026.")],
    regrade: Annotated[bool, typer.Option("--regrade", help="Re-grade LABEL_A's stored texts with --rubric (no refetch) and show both scores.")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the comparison page (with text diffs and a bump chart) to this folder.")] = None,
    also: Annotated[list[str] | None, typer.Option("--bump", help="More audit labels for the bump chart, in order (repeatable).")] = None,
    data_dir: DataDir = None,
    db_url: DbUrl = None,
    rubric: RubricOpt = None,
    no_classifier: Annotated[bool, typer.Option("--no-classifier", help="Re-grade with rules only.")] = False,
) -> None:
    """Compare two audits: rank, score and tier changes, criteria gained and lost, policies that appeared or disappeared.

    Example: policyaudit compare 2025 2026 --regrade --out reports-out/compare-2025-2026
    """
    from pipeline.store import db
    from pipeline.grade.classify import load_classifiers
    from pipeline.report.compare import compare_audits
    from pipeline.report.compare_page import bump_chart_svg, render_comparison
    from pipeline.grade.rubric import load_rubric
    from pipeline.terminal import print_comparison

    settings, url = _existing(data_dir=data_dir, database_url=db_url, rubric=rubric, use_classifier=False if no_classifier else None)
    try:
        engine = db.make_engine(url, read_only=True)
        rub = load_rubric(settings.rubric)
        classifiers = load_classifiers(settings) if regrade else None
        with db.session_scope(engine) as session, working(err, f"comparing {label_a} with {label_b}" + (
            f" (re-grading {label_a}'s stored texts)" if regrade else "")):
            cmp = compare_audits(session, label_a, label_b, rubric=rub, regrade=regrade, classifiers=classifiers)
            labels = [label_a, *(also or []), label_b] if also else [label_a, label_b]
            bump = bump_chart_svg(session, labels) if out else None
        page = render_comparison(cmp, out, bump_svg=bump) if out else None
    except PolicyAuditError as exc:
        _fail(exc)
    print_comparison(cmp, page)


@app.command()
def review(
    service: Annotated[str, typer.Argument(help="Service id, as in the targets file.")],
    criterion: Annotated[str, typer.Argument(help="Criterion id from the rubric, e.g. retention_period.")],
    label: Annotated[str, typer.Option("--label", "-l", help="Audit label the review belongs to.")],
    level: Annotated[str, typer.Option("--set", help="The reviewer's level: full, partial or none.")],
    note: Annotated[str, typer.Option("--note", help="Why the result is changed (shown in the report).")],
    reviewer: Annotated[str, typer.Option("--reviewer", help="Who reviewed it [default: $USER].")] = "",
    data_dir: DataDir = None,
    db_url: DbUrl = None,
) -> None:
    """Override one criterion's result in one audit with a note; the report shows the machine result, the override, who and why.

    Example: policyaudit review acme retention_period --label 2026 --set partial --note "period given for backups only"
    """
    from pipeline.store import db
    from pipeline.report.review import set_override

    settings, url = _existing(data_dir=data_dir, database_url=db_url)
    try:
        engine = db.make_engine(url)
        with db.session_scope(engine) as session:
            row = set_override(session, label, service, criterion, level, note, reviewer or os.environ.get("USER", ""))
    except PolicyAuditError as exc:
        _fail(exc)
    console.print(f"{label} · {service} · {criterion}: {row.level} (reviewer {row.reviewer or '—'}): {row.note}", highlight=False, markup=False)


@app.command()
def export(
    label: Annotated[str, typer.Option("--label", "-l", help="Audit label to export.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv (one row per service and criterion), json (nested) or md (summary).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write.")],
    machine_only: Annotated[bool, typer.Option("--machine-only", help="Leave reviewers' overrides out.")] = False,
    data_dir: DataDir = None,
    db_url: DbUrl = None,
    rubric: RubricOpt = None,
) -> None:
    """Export one audit's scores and criterion results with their evidence as CSV, JSON or Markdown.

    Example: policyaudit export --label 2026 --format csv --out 2026.csv
    """
    from pipeline.store import db
    from pipeline.report.exports import export_audit
    from pipeline.grade.rubric import load_rubric

    settings, url = _existing(data_dir=data_dir, database_url=db_url, rubric=rubric)
    try:
        engine = db.make_engine(url, read_only=True)
        with db.session_scope(engine) as session:
            result = export_audit(session, label, fmt, out, rubric=load_rubric(settings.rubric), reviewed=not machine_only)
    except PolicyAuditError as exc:
        _fail(exc)
    console.print(f"{result.format}: {result.path} ({result.services} services, {result.rows} rows)")


@app.command("export-warc")
def export_warc_cmd(
    label: Annotated[str, typer.Option("--label", "-l", help="Audit label whose snapshots to export.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="WARC file to write (.warc.gz).")],
    data_dir: DataDir = None,
    db_url: DbUrl = None,
) -> None:
    """Export every archived snapshot of one audit as a WARC file that archivists' tools can open.

    Example: policyaudit export-warc --label 2026 --out 2026.warc.gz
    """
    from pipeline.store import db, queries
    from pipeline.fetch.archive import Archive
    from pipeline.fetch.warc import export_warc

    settings, url = _existing(data_dir=data_dir, database_url=db_url)
    try:
        engine = db.make_engine(url, read_only=True)
        with db.session_scope(engine) as session:
            snapshots = queries.run_snapshots(session, label)
        n = export_warc(Archive(settings.archive_dir), snapshots, out, user_agent=settings.user_agent, info={"isPartOf": label})
    except PolicyAuditError as exc:
        _fail(exc)
    console.print(f"warc: {out} ({n} records, {len(snapshots)} snapshots)")


@app.command("datasette-metadata")
def datasette_metadata_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="metadata.json to write.")] = Path("metadata.json"),
    data_dir: DataDir = None,
    db_url: DbUrl = None,
) -> None:
    """Write Datasette metadata (every table and column described, facets, a ranking query) for the audit database.

    Example: policyaudit datasette-metadata --out metadata.json && datasette audit-data/audit.db --metadata metadata.json
    """
    import json

    from pipeline.store import db
    from pipeline.report.exports import datasette_metadata
    from pipeline.report.files import write_text_atomic

    settings, url = _existing(data_dir=data_dir, database_url=db_url)
    try:
        write_text_atomic(out, json.dumps(datasette_metadata(db.make_engine(url, read_only=True)), ensure_ascii=False, indent=2) + "\n")
    except PolicyAuditError as exc:
        _fail(exc)
    console.print(f"metadata: {out}")


def main() -> None:  # pragma: no cover
    sys.exit(app())
