"""Audit the 15 services of ToS;DR's tosback sample as of three dates and compare 2014 with 2021.

For each date, each service's latest recorded version on or before that date is served as is
(Markdown, ``text/markdown``) on 127.0.0.1; a service with no version yet gets a 404 (recorded
as "no policy", not a crash). The three audits run through :func:`pipeline.run.audit.run_audit`
(real HTTP, real SQLite); then the comparison 2014 -> 2021 is printed (who rose, who fell,
which criteria changed) and written as a page with a bump chart of the three audits.

    .venv/bin/python benchmarks/compare_years.py                  # ./audit-data/years, classifiers if present
    .venv/bin/python benchmarks/compare_years.py --no-classifier --out /tmp/years

Reads ../shared/data/tosdr-tosback-versions-sample at run time; copies nothing into the repo.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.grade.classify import load_classifiers
from pipeline.grade.rubric import load_rubric
from pipeline.report.compare import compare_audits, format_comparison_table
from pipeline.report.compare_page import bump_chart_svg, render_comparison
from pipeline.run.audit import run_audit
from pipeline.serve.localserver import Route, serve
from pipeline.settings import Settings
from pipeline.store import db, queries

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO.parent / "shared" / "data" / "tosdr-tosback-versions-sample"
DATES: dict[str, str] = {"2014": "2014-01-01", "2019": "2019-01-01", "2021": "2021-06-30"}


@dataclass(frozen=True)
class Version:
    service: str
    date: str  # YYYY-MM-DD, the date ToSBack recorded this version
    path: Path


def service_id(service: str) -> str:
    return service.lower()


def read_index(sample: Path = SAMPLE) -> list[Version]:
    with (sample / "index.csv").open(encoding="utf-8", newline="") as fh:
        return [Version(r["service"], r["version_date"], sample / r["file"]) for r in csv.DictReader(fh)]


def versions_as_of(versions: list[Version], date: str) -> dict[str, Version]:
    """Each service's latest version recorded on or before ``date`` (services with none are absent)."""
    out: dict[str, Version] = {}
    for v in versions:
        if v.date <= date and (v.service not in out or v.date > out[v.service].date):
            out[v.service] = v
    return out


def year_site(versions: list[Version], dates: dict[str, str]) -> tuple[dict[str, Route], dict[str, dict[str, Version]]]:
    """Routes ``/<label>/<service>/privacy.md`` serving each file as is, and the version behind each."""
    routes: dict[str, Route] = {"/robots.txt": Route(b"User-agent: *\nAllow: /\n", content_type="text/plain")}
    chosen: dict[str, dict[str, Version]] = {}
    for label, date in dates.items():
        chosen[label] = versions_as_of(versions, date)
        for service, v in chosen[label].items():
            routes[f"/{label}/{service}/privacy.md"] = Route(v.path.read_bytes(), content_type="text/markdown; charset=utf-8")
    return routes, chosen


def write_targets(services: list[str], base_url: str, label: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "name", "kind", "sector", "region", "policy_url", "homepage"])
        for s in services:
            w.writerow([service_id(s), s, "site", "online services", "US", f"{base_url}/{label}/{s}/privacy.md", ""])
    return dest


def run_years(settings: Settings, dates: dict[str, str] = DATES, sample: Path = SAMPLE) -> dict[str, dict[str, Version]]:
    """Run one audit per date label into ``settings``' database; return the version used per label and service."""
    versions = read_index(sample)
    services = sorted({v.service for v in versions})
    routes, chosen = year_site(versions, dates)
    with serve(routes) as base:
        for label in dates:
            targets = write_targets(services, base, label, settings.data_dir / f"targets-{label}.csv")
            run_audit(targets, label, settings)
    return chosen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=REPO / "audit-data" / "years", help="archive + database (wiped first)")
    ap.add_argument("--out", type=Path, default=None, help="comparison page folder [default: DATA_DIR/compare-2014-2021]")
    ap.add_argument("--no-classifier", action="store_true", help="grade with rules only")
    args = ap.parse_args(argv)
    if not SAMPLE.exists():
        print(f"needs {SAMPLE} (../shared/data beside the clone)", file=sys.stderr)
        return 2
    shutil.rmtree(args.data_dir, ignore_errors=True)
    settings = Settings(data_dir=args.data_dir, allow_private=True, use_classifier=not args.no_classifier)
    start = time.perf_counter()
    chosen = run_years(settings)
    audit_s = time.perf_counter() - start
    engine = db.make_engine(settings.db_url)
    rubric = load_rubric(settings.rubric)
    classifiers = load_classifiers(settings)
    with db.session_scope(engine) as session:
        for run in queries.list_runs(session):
            t = run.timings or {}
            print(
                f"audit {run.label} (as of {DATES[run.label]}): {run.n_assessed} assessed, {run.n_no_policy} no policy, "
                f"{run.n_not_assessed} not assessed; model {run.model_version or 'rules only'}; wall {t.get('wall', 0):.1f} s "
                f"(fetch {t.get('fetch', 0):.1f}, grade {t.get('grade', 0):.1f})"
            )
        start = time.perf_counter()
        cmp = compare_audits(session, "2014", "2021", rubric=rubric, regrade=True, classifiers=classifiers)
        compare_s = time.perf_counter() - start
        bump = bump_chart_svg(session, list(DATES))
    start = time.perf_counter()
    page = render_comparison(cmp, args.out or (args.data_dir / "compare-2014-2021"), bump_svg=bump)
    render_s = time.perf_counter() - start
    engine.dispose()

    print("\nversions used (ToSBack recording dates):")
    for s in sorted(chosen["2021"]):
        print(f"  {s:<11} " + "  ".join(f"{lab}: {chosen[lab][s].date if s in chosen[lab] else '—':<10}" for lab in DATES))
    print("\n2014 -> 2021")
    print("rose: " + ("; ".join(f"{s.name} {s.rank_a}→{s.rank_b} ({s.score_a:g}→{s.score_b:g})" for s in cmp.rose) or "none"))
    print("fell: " + ("; ".join(f"{s.name} {s.rank_a}→{s.rank_b} ({s.score_a:g}→{s.score_b:g})" for s in cmp.fell) or "none"))
    same = [s.name for s in cmp.services if s.rank_change == 0]
    print("same rank: " + (", ".join(same) or "none"))
    print("tier moves: " + ("; ".join(f"{s.name} {s.tier_a}→{s.tier_b}" for s in cmp.services if s.tier_change) or "none"))
    print(f"texts changed: {len(cmp.content_changed)} of {len(cmp.services)}")
    gained: dict[str, int] = {}
    lost: dict[str, int] = {}
    for s in cmp.services:
        for c in s.gained:
            gained[c.criterion_id] = gained.get(c.criterion_id, 0) + 1
        for c in s.lost:
            lost[c.criterion_id] = lost.get(c.criterion_id, 0) + 1
    print("criteria gained (services): " + ", ".join(f"{k} {v}" for k, v in sorted(gained.items(), key=lambda kv: -kv[1])))
    print("criteria lost (services): " + (", ".join(f"{k} {v}" for k, v in sorted(lost.items(), key=lambda kv: -kv[1])) or "none"))
    reproduced = sum(1 for s in cmp.services if s.regrade_a and s.regrade_a.score == s.score_a)
    print(f"re-grade of 2014 from stored text ({cmp.regrade_method}): {reproduced}/{len(cmp.services)} scores reproduced")
    print("\n" + "\n".join(" | ".join(row) for row in format_comparison_table(cmp)))
    print(f"\nthree audits {audit_s:.1f} s · compare with re-grade {compare_s:.2f} s · page {render_s:.2f} s")
    print(f"page: {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
