"""Benchmark the read stages (extract + segment) on real corpora from ../shared/data.

    .venv/bin/python benchmarks/bench_read.py                 # CA4P-483 (zh) and OPP-115 (en)
    .venv/bin/python benchmarks/bench_read.py --repeat 3      # best of three runs
    .venv/bin/python benchmarks/bench_read.py --data /path/to/shared/data

Prints, per language: policies, characters, segments, and throughput of extract_html,
segment_many and both together (policies/s, segments/s). Pipeline build time (spaCy +
jieba dictionary) is reported apart and not counted in the throughput.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pipeline.read.extract import extract_html
from pipeline.read.segment import chinese_nlp, english_nlp, segment_many

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CORPORA = {
    "zh": ("CA4P-483", "ca4p-483/raw_data", "*.html"),
    "en": ("OPP-115", "opp-115/sanitized_policies", "*.html"),
}


def bench(name: str, paths: list[Path], repeat: int) -> None:
    sources = [p.read_text(encoding="utf-8") for p in paths]
    best_extract = best_segment = float("inf")
    segments = 0
    chars = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        policies = [extract_html(source) for source in sources]
        t1 = time.perf_counter()
        result = segment_many(policies)
        t2 = time.perf_counter()
        best_extract = min(best_extract, t1 - t0)
        best_segment = min(best_segment, t2 - t1)
        segments = sum(len(s) for s in result)
        chars = sum(len(p.text) for p in policies)
    n = len(paths)
    total = best_extract + best_segment
    print(f"{name}: {n} policies, {chars:,} chars of text, {segments:,} segments")
    print(f"  extract  {best_extract:6.2f} s  {n / best_extract:8.1f} policies/s  {chars / best_extract / 1e6:6.2f} M chars/s")
    print(f"  segment  {best_segment:6.2f} s  {n / best_segment:8.1f} policies/s  {segments / best_segment:8.0f} segments/s")
    print(f"  both     {total:6.2f} s  {n / total:8.1f} policies/s  {segments / total:8.0f} segments/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared/data folder")
    parser.add_argument("--repeat", type=int, default=1, help="runs per corpus; the best is reported")
    args = parser.parse_args()

    t0 = time.perf_counter()
    english_nlp()
    t1 = time.perf_counter()
    chinese_nlp()
    chinese_nlp()("预热。")  # jieba loads its dictionary on first use
    t2 = time.perf_counter()
    print(f"pipeline build: en {t1 - t0:.2f} s, zh (with jieba dictionary) {t2 - t1:.2f} s")

    for language, (name, folder, pattern) in CORPORA.items():
        paths = sorted((args.data / folder).glob(pattern))
        if not paths:
            print(f"{name}: not found under {args.data / folder}, skipped", file=sys.stderr)
            continue
        bench(f"{name} [{language}]", paths, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
