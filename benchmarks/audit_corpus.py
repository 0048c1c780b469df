"""Audit a real corpus end to end over HTTP on 127.0.0.1 and print what a closing note needs.

    .venv/bin/python benchmarks/audit_corpus.py --corpus ca4p          # 483 Chinese app policies
    .venv/bin/python benchmarks/audit_corpus.py --corpus opp115        # 115 English website policies
    .venv/bin/python benchmarks/audit_corpus.py --corpus folder --path DIR --label mine

Prints: counts by status, the tier distribution, the top and bottom five, wall time
of the audit and peak RSS of the process. Reads the corpora from ../shared/data.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
DEFAULT_PATHS = {"ca4p": SHARED / "ca4p-483" / "raw_data", "opp115": SHARED / "opp-115" / "sanitized_policies"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", choices=["ca4p", "opp115", "folder"], required=True)
    ap.add_argument("--path", type=Path, help="folder of policies (default: the corpus in ../shared/data)")
    ap.add_argument("--label", help="audit label (default: the corpus name)")
    ap.add_argument("--limit", type=int, default=None, help="audit only the first N files")
    ap.add_argument("--data-dir", type=Path, default=None, help="default: a new temporary folder")
    ap.add_argument("--no-prefect", action="store_true", help="run the stages directly")
    ap.add_argument("--no-classifier", action="store_true", help="rules only")
    ap.add_argument("--report", type=Path, default=None, help="also write the report here")
    args = ap.parse_args()

    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from pipeline.grade.rubric import load_rubric
    from pipeline.serve.corpus import corpus_site, write_targets_csv
    from pipeline.serve.localserver import serve
    from pipeline.settings import Settings
    from pipeline.store import db, queries

    folder = args.path or DEFAULT_PATHS.get(args.corpus)
    if folder is None or not folder.exists():
        print(f"corpus folder not found: {folder}", file=sys.stderr)
        return 2
    label = args.label or args.corpus
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix=f"policyaudit-{label}-"))
    # Our own loopback server: no need to be polite to it (per-host limits off).
    overrides = {"data_dir": str(data_dir), "allow_private": True, "per_host_concurrency": 16, "per_host_delay": 0.0}
    if args.no_classifier:
        overrides["use_classifier"] = False
    settings = Settings(**overrides)
    routes, rows = corpus_site(args.corpus, folder, args.limit)
    with serve(routes) as base:
        targets = write_targets_csv(rows, base, data_dir / "targets.csv")
        start = time.perf_counter()
        if args.no_prefect:
            from pipeline.run.audit import run_audit

            run_audit(targets, label, settings, refresh=True)
        else:
            from pipeline.run.flows import audit

            audit(str(targets), label, overrides, refresh=True)
        wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # largest grading worker
    engine = db.make_engine(settings.db_url)
    with db.session_scope(engine) as s:
        rep = queries.load_report(s, label, with_text=False)
        run = queries.get_run(s, label)
    rubric = load_rubric(settings.rubric)
    status = Counter(str(r.status) for r in rep.services)
    tiers = Counter(r.tier for r in rep.services if r.tier)
    print(f"corpus {args.corpus}: {len(rows)} policies from {folder}")
    print(f"data dir {data_dir}")
    print("status: " + ", ".join(f"{k} {v}" for k, v in sorted(status.items())))
    print("tiers:  " + ", ".join(f"{t.name.zh}/{t.name.en} {tiers.get(t.id, 0)}" for t in rubric.tiers))
    graded = [r for r in rep.services if r.score is not None]
    if graded:
        scores = sorted(r.score for r in graded)
        print(f"score: min {scores[0]:.1f} median {scores[len(scores) // 2]:.1f} max {scores[-1]:.1f}")
        print("top 5:    " + "; ".join(f"{r.rank}. {r.target.name} {r.score:.1f}" for r in graded[:5]))
        print("bottom 5: " + "; ".join(f"{r.rank}. {r.target.name} {r.score:.1f}" for r in graded[-5:]))
    reasons = Counter(r.reason.split(":")[0] for r in rep.services if r.score is None)
    if reasons:
        print("not assessed: " + "; ".join(f"{k} ({v})" for k, v in reasons.most_common()))
    print(f"stage seconds: {run.timings}")
    print(f"wall {wall:.1f} s for {len(rows)} policies ({len(rows) / wall:.1f} policies/s); peak RSS {peak_mb:.0f} MB (largest worker {child_mb:.0f} MB)")
    if args.report:
        from pipeline.report.site import render_report

        with db.session_scope(engine) as s:
            print("report:", render_report(queries.load_report(s, label), rubric, args.report, settings.archive_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
