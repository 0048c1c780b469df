"""What the command line shows: errors, summaries, a service's grade, and live progress.

    with AuditDisplay(err) as display, progress.reporting(display.update):
        launch_audit(..., on_status=display.status)

On a terminal the progress is a live rich display (services fetched / stored / could not assess,
rate, ETA); elsewhere (logs, CI, cron) one plain line every ``every`` services and at the end.
Status lines say what the user waits for. Everything goes to stderr, so stdout stays the
command's result. Part of the command line (``pipeline.cli`` calls it); the library prints nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from pipeline.errors import PolicyAuditError
from pipeline.run.progress import ProgressState
from pipeline.settings import Settings

console = Console()
err = Console(stderr=True)

EXIT_MISUSE = 2  # bad input, settings or database: nothing was done
EXIT_NOTHING_ASSESSED = 1  # the run finished but no service could be assessed


def fail(exc: Exception, code: int = EXIT_MISUSE) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_run(summary: Mapping[str, Any]) -> None:
    t = summary.get("timings") or {}
    console.print(
        f"audit [bold]{escape(str(summary['label']))}[/]: {summary['status']} · {summary['n_targets']} services · "
        f"{summary['n_assessed']} assessed · {summary['n_no_policy']} no policy · "
        f"{summary['n_not_assessed']} could not assess · {t.get('wall', 0):.1f} s", soft_wrap=True,
    )


def existing_database(settings: Settings) -> str:
    """The database URL of a read-only command; a SQLite file that does not exist is an error
    (never created empty), naming the data dir and what to run first."""
    url = settings.db_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            raise PolicyAuditError(
                f"no audit database in {settings.data_dir} (looked for {path.name}); run `policyaudit audit` or "
                "`policyaudit demo` first, or pass --data-dir / POLICYAUDIT_DATA_DIR where your audits are"
            )
    return url


# ----------------------------------------------------------------- progress


def _line(s: ProgressState) -> str:
    eta = f" · ETA {s.eta:.0f} s" if s.eta is not None and s.graded < s.total else ""
    return (
        f"{s.label}: fetched {s.fetched}/{s.total} ({s.fetch_failed} failed) · stored {s.graded}/{s.total} "
        f"({s.by_status.get('assessed', 0)} assessed, {s.by_status.get('no_policy', 0)} no policy, {s.failed} could not assess)"
        f" · {s.rate:.1f}/s{eta}"
    )


class AuditDisplay:
    """Live progress of one audit on ``console``: a rich display on a terminal, else a line every ``every`` services."""

    def __init__(self, out: Console, every: int = 25, live: bool | None = None) -> None:
        self.out = out
        self.every = max(1, every)
        self.live = out.is_terminal if live is None else live
        self._progress: Progress | None = None
        self._fetch: TaskID | None = None
        self._store: TaskID | None = None
        self._logged = -1
        self._last: ProgressState | None = None
        self.started = time.monotonic()

    def __enter__(self) -> AuditDisplay:
        if self.live:
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=self.out, transient=False,
            )
            self._progress.start()
        return self

    def status(self, text: str) -> None:
        """One line saying what happens now (what the user waits for)."""
        self.out.print(f"[dim]{time.monotonic() - self.started:5.1f} s[/] {escape(text)}", highlight=False, soft_wrap=True)

    def update(self, s: ProgressState) -> None:
        self._last = s
        if self._progress is not None:
            if self._fetch is None:
                self._fetch = self._progress.add_task("fetched", total=s.total, detail="", rate="")
                self._store = self._progress.add_task("stored ", total=s.total, detail="", rate="")
            assert self._store is not None
            self._progress.update(self._fetch, total=s.total, completed=s.fetched, detail=f"{s.fetch_failed} failed", rate="")
            self._progress.update(
                self._store, total=s.total, completed=s.graded, rate=f"{s.rate:.1f}/s",
                detail=f"{s.by_status.get('assessed', 0)} assessed · {s.by_status.get('no_policy', 0)} no policy · {s.failed} could not assess",
            )
            return
        step = max(s.fetched, s.graded) // self.every
        if s.phase == "fetching" and step > self._logged:
            self._logged = step
            self.out.print(_line(s), highlight=False, markup=False, soft_wrap=True)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
        elif self._last is not None and exc_type is None:
            self.out.print(_line(self._last), highlight=False, markup=False, soft_wrap=True)


@contextmanager
def working(out: Console, what: str) -> Iterator[None]:
    """A spinner on a terminal (a line elsewhere) while ``what`` runs."""
    if out.is_terminal:
        with out.status(escape(what)):
            yield
    else:
        out.print(what, highlight=False, markup=False)
        yield


# ----------------------------------------------------------------- one service


@dataclass(frozen=True)
class ReviewNote:
    criterion_id: str
    machine: str
    reviewed: str
    reviewer: str
    note: str


def print_service(report: Any, service: Any, reviews: Sequence[ReviewNote], machine_score: float | None) -> None:
    """``policyaudit show``: a service's grade as published (reviews applied), saying what a review changed."""
    s = service
    console.print(
        f"[bold]{escape(s.target.name)}[/] ({escape(s.target.id)}) · audit {escape(report.label)} · "
        f"rubric {report.rubric_id} {report.rubric_version}", highlight=False,
    )
    if s.score is not None:
        reviewed = f" · reviewed: {len(reviews)} criteria changed by review (machine score {machine_score:.1f})" if reviews else ""
        console.print(f"status {s.status} · score {s.score:.1f} · tier {s.tier} · rank {s.rank}{reviewed}", highlight=False)
    else:
        console.print(f"status {s.status} · no grade · reason: {escape(s.reason or '')}", highlight=False)
    if s.snapshot:
        console.print(
            f"snapshot {escape(s.snapshot.final_url or s.snapshot.requested_url)} · {s.snapshot.fetched_at:%Y-%m-%d %H:%M} UTC "
            f"· sha256 {s.snapshot.sha256}", highlight=False,
        )
    by_id = {r.criterion_id: r for r in reviews}
    table = Table("criterion", "level", "points", "evidence", show_lines=True)
    for c in s.criteria:
        ev = "\n".join(f"“{e.quote[:160]}” [{e.start}:{e.end}] {e.method}" for e in c.evidence) or c.note
        level = str(c.level)
        r = by_id.get(c.criterion_id)
        if r is not None:
            level = f"{r.reviewed} (reviewed; machine: {r.machine})"
            ev = f"review by {r.reviewer or '—'}: {r.note}\n{ev}"
        table.add_row(escape(c.criterion_id), level, f"{c.points:.1f}/{c.weight:g}", escape(ev))
    console.print(table)


def print_runs(runs: Sequence[Any]) -> None:
    """``policyaudit runs``: one row per audit."""
    table = Table("label", "status", "rubric", "services", "assessed", "no policy", "not assessed", "started", "wall s")
    for r in runs:
        table.add_row(
            r.label, r.status, f"{r.rubric_id} {r.rubric_version}", str(r.n_targets), str(r.n_assessed),
            str(r.n_no_policy), str(r.n_not_assessed), f"{r.started_at:%Y-%m-%d %H:%M}", f"{(r.timings or {}).get('wall', 0):.1f}",
        )
    console.print(table)


def print_comparison(cmp: Any, page: Path | None) -> None:
    """``policyaudit compare``: the rank/score/tier table, what moved, criteria changed per service, the page written."""
    from pipeline.report.compare import REVIEWED_NOTE, format_comparison_table

    rows = format_comparison_table(cmp)
    keep = [i for i, h in enumerate(rows[0]) if h not in ("criteria gained", "criteria lost")]
    table = Table(*[rows[0][i] for i in keep], "criteria")
    for row in rows[1:]:
        gained, lost = row[rows[0].index("criteria gained")], row[rows[0].index("criteria lost")]
        table.add_row(*[row[i] for i in keep], f"+{gained.count('→')} −{lost.count('→')}")
    console.print(
        f"{cmp.a.label} (rubric {cmp.a.rubric_id} {cmp.a.rubric_version}) → {cmp.b.label} (rubric {cmp.b.rubric_id} {cmp.b.rubric_version})"
        + (f" · {cmp.a.label} re-graded with {cmp.regrade_rubric[0]} {cmp.regrade_rubric[1]} ({cmp.regrade_method})" if cmp.regrade_rubric else ""),
        highlight=False, markup=False,
    )
    console.print(table)
    if any(s.reviewed_a or s.reviewed_b or (s.regrade_a and s.regrade_a.reviewed) for s in cmp.services):
        console.print(REVIEWED_NOTE, highlight=False, markup=False)
    console.print(f"rose {len(cmp.rose)} · fell {len(cmp.fell)} · policy appeared {len(cmp.appeared)} · disappeared {len(cmp.disappeared)} · texts changed {len(cmp.content_changed)}/{len(cmp.services)}", highlight=False)
    for s in cmp.services:
        if s.criteria:
            console.print(f"{s.service_id}: " + ", ".join(f"{c.criterion_id} {c.level_a}→{c.level_b}" for c in s.criteria), highlight=False, markup=False)
    if page:
        console.print(f"page: {page}")
