"""Fetch throughput against one slow local host, at default politeness and with raised limits.

Serves N synthetic policy pages on 127.0.0.1, each answered after an injected delay
(default 100 ms, like a distant server), and fetches all of them with
:func:`pipeline.fetch.batch.fetch_all` under several politeness settings::

    .venv/bin/python benchmarks/bench_fetch.py                 # 200 pages, 100 ms each
    .venv/bin/python benchmarks/bench_fetch.py --pages 50 --delay 0.05

All pages are on one host, so per-host limits decide the rate: with ``per_host_delay``
the ceiling is 1/delay requests per second whatever the concurrency. Prints one line per
configuration: policies/s, wall time, and outcomes. Nothing but loopback is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path

from pipeline.fetch.archive import Archive
from pipeline.fetch.batch import fetch_all
from pipeline.read.reader import pdf_text
from pipeline.records import Target
from pipeline.serve.localserver import Route, serve
from pipeline.settings import Settings


def make_page(i: int) -> bytes:
    paragraphs = "".join(
        f"<p>第{k}条：示例服务{i}如何收集、使用和保护您的个人信息；您可以联系我们行使隐私权利。</p>" for k in range(40)
    )
    return f"<html><head><title>示例服务{i}隐私政策</title></head><body><h1>隐私政策</h1>{paragraphs}</body></html>".encode()


def run_config(base: str, pages: int, archive_root: Path, **overrides: object) -> tuple[float, Counter[str]]:
    settings = Settings(data_dir=archive_root, allow_private=True, **overrides)  # type: ignore[arg-type]
    archive = Archive(archive_root / "archive")
    targets = [Target(id=f"s{i}", name=f"S{i}", kind="site", policy_url=f"{base}/p/{i}") for i in range(pages)]
    started = time.perf_counter()
    results = asyncio.run(fetch_all(targets, settings, archive, pdf_text=pdf_text))
    elapsed = time.perf_counter() - started
    return elapsed, Counter(r.outcome.value for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=200, help="synthetic policies to fetch (default 200)")
    parser.add_argument("--delay", type=float, default=0.1, help="seconds the server waits before each answer")
    args = parser.parse_args()

    routes = {f"/p/{i}": Route(make_page(i), delay_s=args.delay) for i in range(args.pages)}
    configs: list[tuple[str, dict[str, object]]] = [
        ("default politeness (per_host_concurrency=2, per_host_delay=0.25)", {}),
        ("per_host_concurrency=2, per_host_delay=0", {"per_host_delay": 0.0}),
        ("per_host_concurrency=16, per_host_delay=0.25", {"per_host_concurrency": 16}),
        ("per_host_concurrency=16, per_host_delay=0", {"per_host_concurrency": 16, "per_host_delay": 0.0}),
    ]
    page_kb = sum(len(r.body) for r in routes.values()) / len(routes) / 1024
    print(f"{args.pages} pages of {page_kb:.1f} KB, server delay {args.delay * 1000:.0f} ms, one host, robots.txt obeyed (404)")
    with serve(routes) as base:
        for label, overrides in configs:
            with tempfile.TemporaryDirectory() as tmp:
                elapsed, outcomes = run_config(base, args.pages, Path(tmp), **overrides)
            rate = args.pages / elapsed
            print(f"{label:<66} {rate:7.1f} policies/s  {elapsed:6.1f} s  {dict(outcomes)}")


if __name__ == "__main__":
    main()
