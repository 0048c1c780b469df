"""Audit N real policies end to end (fetch -> report) at the study's scale, and an unchanged re-run.

    .venv/bin/python benchmarks/bench_scale.py                        # 1,000 policies, SQLite, Prefect flow
    .venv/bin/python benchmarks/bench_scale.py --db-url postgresql+psycopg://postgres@127.0.0.1:5432/bench
    .venv/bin/python benchmarks/bench_scale.py --direct               # the same stages without Prefect
    .venv/bin/python benchmarks/bench_scale.py --dask-workers 2       # a local Dask cluster of processes

The policies are the real ones in ../shared/data (CA4P-483, OPP-115, APPCH, ToS;DR versions),
cycled to N with a per-copy marker so every copy is its own document. They are served from
``--hosts`` loopback addresses (127.0.0.2 ...), so per-host politeness applies as it would to
N different services, with 50-200 ms of injected latency per response (seeded), by a separate
process (as real sites are). Like a static-file server they send ETag and Last-Modified and
answer a matching If-None-Match with 304 (``--no-validators`` turns that off).
Prints per-stage seconds and throughput, wall time, peak RSS, and the unchanged re-run time.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def corpus_bodies() -> list[tuple[str, bytes, str]]:
    """(name, body, content type) of every real policy in ../shared/data."""
    import html

    out: list[tuple[str, bytes, str]] = []
    for f in sorted((SHARED / "ca4p-483" / "raw_data").glob("*.html")):
        out.append((f"ca4p-{f.stem}", f.read_bytes(), "text/html; charset=utf-8"))
    for f in sorted((SHARED / "opp-115" / "sanitized_policies").glob("*.html")):
        body = f.read_text(encoding="utf-8", errors="replace").replace("|||", "</p>\n<p>")
        page = f"<html><head><meta charset='utf-8'><title>{html.escape(f.stem)}</title></head><body><p>{body}</p></body></html>"
        out.append((f"opp-{f.stem}", page.encode(), "text/html; charset=utf-8"))
    for f in sorted((SHARED / "appch" / "manual_annotation").rglob("*.txt")):
        out.append((f"appch-{f.stem}", f.read_bytes(), "text/plain; charset=utf-8"))
    for f in sorted((SHARED / "tosdr-tosback-versions-sample" / "policies").rglob("*.md")):
        out.append((f"tosdr-{f.parent.name}-{f.stem}", f.read_bytes(), "text/markdown; charset=utf-8"))
    return out


def make_handler(pages: dict[str, tuple[bytes, str]], seed: int, validators: bool = True):
    """A static-file server's answers, after 50-200 ms: 200 with ETag and Last-Modified, or 304
    when the request's If-None-Match names the current ETag (as nginx or Apache do)."""
    import hashlib

    rng = random.Random(seed)
    etags = {path: f'"{hashlib.sha256(body).hexdigest()[:32]}"' for path, (body, _) in pages.items()}

    def handle(h: BaseHTTPRequestHandler) -> None:
        time.sleep(rng.uniform(0.05, 0.2))
        path = h.path.split("?")[0]
        if path == "/robots.txt":
            body, ctype = b"User-agent: *\nAllow: /\n", "text/plain"
        else:
            body, ctype = pages[path]
        etag = etags.get(path)
        if validators and etag and h.headers.get("If-None-Match") == etag:
            h.send_response(304)
            h.send_header("ETag", etag)
            h.end_headers()
            return
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        if validators and etag:
            h.send_header("ETag", etag)
            h.send_header("Last-Modified", "Mon, 02 Nov 2026 08:00:00 GMT")
        h.end_headers()
        h.wfile.write(body)

    return handle


def site_pages(n: int, hosts: int) -> tuple[list[dict[str, tuple[bytes, str]]], list[tuple[str, str, int, str]]]:
    """The N policies spread over ``hosts`` sites: pages per host, and (id, name, host, path) rows."""
    bodies = corpus_bodies()
    per_host: list[dict[str, tuple[bytes, str]]] = [{} for _ in range(hosts)]
    rows = []
    for i in range(n):
        name, body, ctype = bodies[i % len(bodies)]
        copy = i // len(bodies)
        if copy:
            marker = f"\n<!-- copy {copy} -->\n" if "html" in ctype else f"\n\n(copy {copy})\n"
            body = body + marker.encode()
        host = i % hosts
        path = f"/p/{i}"
        per_host[host][path] = (body, ctype)
        rows.append((f"s{i:05d}", f"{name}#{copy}", host, path))
    return per_host, rows


def run_servers(n: int, hosts: int, validators: bool, conn) -> None:
    """Child process: serve the sites on 127.0.0.2... until told to stop (the audit's process
    does not pay for the servers' CPU, as it would not with real sites)."""
    from pipeline.serve.localserver import serve

    per_host, _ = site_pages(n, hosts)
    with ExitStack() as stack:
        bases = []
        for h in range(hosts):
            handler = make_handler(per_host[h], seed=h, validators=validators)
            routes = {p: handler for p in [*per_host[h], "/robots.txt"]}
            bases.append(stack.enter_context(serve(routes, host=f"127.0.0.{h + 2}")))
        conn.send(bases)
        conn.recv()  # stop


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--hosts", type=int, default=50, help="loopback addresses to spread the services over")
    ap.add_argument("--db-url", default=None)
    ap.add_argument("--direct", action="store_true", help="call the stages directly, without Prefect")
    ap.add_argument("--dask-workers", type=int, default=0, help="run batches on a local Dask cluster of this many processes")
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--no-classifier", action="store_true")
    ap.add_argument("--no-validators", action="store_true", help="the sites send no ETag/Last-Modified (no 304s on the re-run)")
    ap.add_argument("--stats", action="store_true", help="also print CPU seconds (stable under load, unlike wall time)")
    args = ap.parse_args()
    if not SHARED.exists():
        print(f"needs {SHARED}", file=sys.stderr)
        return 2
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

    from pipeline.grade.rubric import load_rubric
    from pipeline.report.site import render_report
    from pipeline.settings import Settings
    from pipeline.store import db as store_db
    from pipeline.store import queries

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="policyaudit-scale-"))
    _, rows = site_pages(args.n, args.hosts)

    overrides = {"data_dir": str(data_dir), "allow_private": True}
    if args.db_url:
        overrides["database_url"] = args.db_url
    if args.no_classifier:
        overrides["use_classifier"] = False
    settings = Settings(**overrides)

    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    servers = ctx.Process(target=run_servers, args=(args.n, args.hosts, not args.no_validators, child), daemon=True)
    servers.start()
    with ExitStack() as stack:
        stack.callback(servers.join, 10)
        stack.callback(parent.send, "stop")
        bases = parent.recv()
        targets = data_dir / "targets.csv"
        with targets.open("w", encoding="utf-8") as fh:
            fh.write("id,name,kind,sector,region,policy_url,homepage\n")
            for sid, name, host, path in rows:
                fh.write(f"{sid},{name.replace(',', ' ')},site,bench,,{bases[host]}{path},\n")

        def run(label: str) -> tuple[float, dict]:
            start = time.perf_counter()
            if args.direct:
                from pipeline.run.audit import run_audit

                summary = queries.run_summary(run_audit(targets, label, settings))
            else:
                from pipeline.run.flows import audit

                if args.dask_workers:
                    from dask.distributed import LocalCluster
                    from prefect_dask import DaskTaskRunner

                    cluster = stack.enter_context(LocalCluster(n_workers=args.dask_workers, threads_per_worker=1, processes=True))
                    flow = audit.with_options(task_runner=DaskTaskRunner(address=cluster.scheduler_address))
                    summary = flow(str(targets), label, overrides, distributed=True)
                else:
                    summary = audit(str(targets), label, overrides)
            return time.perf_counter() - start, summary

        wall1, s1 = run("bench-1")
        rubric = load_rubric(settings.rubric)
        engine = store_db.make_engine(settings.db_url)
        t0 = time.perf_counter()
        with store_db.session_scope(engine) as s:
            rep = queries.load_report(s, "bench-1")
        render_report(rep, rubric, data_dir / "report", settings.archive_dir)
        report_s = time.perf_counter() - t0
        wall2, s2 = run("bench-2")  # unchanged content: nothing re-read or re-graded
        # before the server process ends: "children" are the grading workers (and Dask's) only
        self_use, child_use = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)

    peak = self_use.ru_maxrss / 1024
    peak_children = child_use.ru_maxrss / 1024
    mode = "direct" if args.direct else (f"prefect+dask({args.dask_workers})" if args.dask_workers else "prefect")
    db = settings.db_url.split(":")[0]
    t = s1["timings"]
    print(f"mode {mode} · db {db} · {args.n} policies over {args.hosts} loopback hosts · 50-200 ms latency")
    print(f"statuses: assessed {s1['n_assessed']} · no policy {s1['n_no_policy']} · not assessed {s1['n_not_assessed']}")
    for stage in ("fetch", "read", "segment", "classify", "grade", "store"):
        sec = t.get(stage, 0.0)
        print(f"  {stage:9s} {sec:7.2f} s  ({args.n / sec if sec else float('inf'):8.1f} policies/s)")
    print(f"  report    {report_s:7.2f} s")
    print(f"audit wall {wall1:.1f} s · fetch->report {wall1 + report_s:.1f} s · peak RSS {peak:.0f} MB (children {peak_children:.0f} MB)")
    t2 = s2["timings"]
    stages2 = " · ".join(f"{k} {t2.get(k, 0.0):.2f} s" for k in ("fetch", "read", "segment", "classify", "grade", "store"))
    print(f"unchanged re-run wall {wall2:.1f} s (reused grades: {s2.get('n_reused', 'n/a')}): {stages2}")
    if args.stats:
        print(f"cpu (both runs): main process user+sys {self_use.ru_utime + self_use.ru_stime:.1f} s, "
              f"workers {child_use.ru_utime + child_use.ru_stime:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
