"""Benchmark the trained segment classifiers: quality, speed, load time, size.

    .venv/bin/python benchmarks/bench_classify.py [--models models] [--shared ../shared/data]

Runs on one core (BLAS threads pinned to 1 before numpy is imported). Prints:
- English macro/micro F1 on the standard OPP-115 test split (targets 0.84 / 0.88; first milestone 0.80 / 0.85),
- Chinese macro-F1 over CR1-CR26 on the held-out split (target 0.85),
- load time of each model (target <= 1 s), size on disk (target <= 50 MB),
- end-to-end throughput from raw text (target >= 2,000 segments/s for English) on the OPP-115
  test paragraphs and on sentences split from them, and on the Chinese test sentences.
Needs ../shared/data for the data-dependent figures.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import json
import re
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _throughput(
    clf, texts: list[str], batch: int = 256, min_seconds: float = 2.0
) -> float:
    clf.predict(texts[:batch])  # warm-up
    n, start = 0, time.perf_counter()
    while True:
        for i in range(0, len(texts), batch):
            clf.predict(texts[i : i + batch])
        n += len(texts)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return n / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=REPO / "models")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    args = ap.parse_args()

    t0 = time.perf_counter()
    import numpy as np

    from pipeline.grade.classify import load_classifier, model_paths
    from pipeline.train.corpora import OPP_LABELS, ZH_LABELS, apply_split, load_opp115_split, load_viodroid
    from pipeline.train.model import score_corpus

    print(f"imports: {time.perf_counter() - t0:.2f} s")
    clfs = {}
    for lang in ("en", "zh"):
        t = time.perf_counter()
        clfs[lang] = load_classifier(lang, args.models)
        load_s = time.perf_counter() - t
        folder = model_paths(lang, args.models)["dir"]
        size = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
        print(
            f"{lang}: version {clfs[lang].version}, load {load_s:.2f} s, size {size:.1f} MB, "
            f"{clfs[lang].vectorizer.n_features} features, {len(clfs[lang].members)} member(s)"
        )
    if not args.shared.is_dir():
        print(f"{args.shared} absent: quality and speed on real data skipped")
        return

    test = load_opp115_split(args.shared, "test")
    m = score_corpus(clfs["en"].predict, test, OPP_LABELS)
    print(
        f"en standard test: macro-F1 {m['macro_f1']:.3f}  micro-F1 {m['micro_f1']:.3f}  (n={m['n']}; "
        "targets 0.84/0.88, milestone 0.80/0.85)"
    )
    doc = json.loads(
        (model_paths("zh", args.models)["dir"] / "split.json").read_text(
            encoding="utf-8"
        )
    )
    parts = apply_split(
        load_viodroid(args.shared), {k: doc[k] for k in ("train", "validation", "test")}
    )
    z = score_corpus(clfs["zh"].predict, parts["test"], ZH_LABELS)
    cr = float(np.mean([z["per_label"][f"CR{i}"]["f1"] for i in range(1, 27)]))
    print(
        f"zh test: CR macro-F1 {cr:.3f} (target 0.85)  all-33 macro-F1 {z['macro_f1']:.3f}  micro-F1 {z['micro_f1']:.3f}"
    )

    paragraphs = list(test.texts)
    sentences = [
        s for p in paragraphs for s in re.split(r"(?<=[.!?])\s+", p) if s.strip()
    ]
    for name, texts, lang in (
        ("en OPP-115 test paragraphs", paragraphs, "en"),
        ("en sentences split from them", sentences, "en"),
        ("zh test sentences", list(parts["test"].texts), "zh"),
    ):
        chars = sum(map(len, texts)) / len(texts)
        rate = _throughput(clfs[lang], texts)
        print(
            f"throughput {name} (mean {chars:.0f} chars): {rate:,.0f} segments/s on one core"
        )


if __name__ == "__main__":
    main()
