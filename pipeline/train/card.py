"""Metrics as text (for the CLI) and the model card written beside the models.

    print(format_metrics(metrics))            # the tables of evaluate_models, aligned
    write_model_card(Path("models"))          # models/MODEL_CARD.md from model.json and metrics.json

Written by :func:`pipeline.train.fit.train_models` and :func:`pipeline.train.evaluate.evaluate_models`.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.grade.classify import model_paths


def format_table(table: dict, title: str) -> str:
    """One metrics table (per label + macro/micro) as aligned text."""
    per = table["per_label"]
    width = max([len(k) for k in per] + [10])
    extra = "accuracy" in next(iter(per.values()), {})
    head = f"{'label':<{width}}  {'prec':>6} {'recall':>6} {'F1':>6} {'support':>7}" + (
        "  accuracy" if extra else ""
    )
    lines = [title, head, "-" * len(head)]
    for lab, v in per.items():
        row = f"{lab:<{width}}  {v['precision']:6.3f} {v['recall']:6.3f} {v['f1']:6.3f} {v['support']:7d}"
        if extra:
            row += f"  {v['accuracy']:8.3f}"
        lines.append(row)
    lines.append("-" * len(head))
    summary = f"macro-F1 {table['macro_f1']:.3f}   micro-F1 {table['micro_f1']:.3f}   n={table['n']}"
    for key in ("cr_macro_f1", "pc_macro_f1", "accuracy"):
        if key in table:
            summary += f"   {key.replace('_', '-')} {table[key]:.3f}"
    lines.append(summary)
    if table.get("protocol"):
        lines.append(f"({table['protocol']})")
    return "\n".join(lines)


TITLES = {
    "en_standard_test": "English, OPP-115 standard test split (segments)",
    "en_grouped_by_policy": "English, OPP-115 split by policy (segments, out-of-fold)",
    "en_policy_level": "English, policy-level validity (115 policies x 10 categories)",
    "zh_test": "Chinese, VioDroid held-out split",
}


def format_metrics(metrics: dict) -> str:
    """All tables in ``metrics`` (as returned by :func:`evaluate_models`) as text."""
    return "\n\n".join(
        format_table(metrics[k], TITLES.get(k, k))
        for k in metrics
        if "per_label" in metrics[k]
    )


def _md_table(table: dict) -> str:
    per = table["per_label"]
    extra = "accuracy" in next(iter(per.values()), {})
    lines = [
        "| label | precision | recall | F1 | support |"
        + (" accuracy |" if extra else ""),
        "|---|---:|---:|---:|---:|" + ("---:|" if extra else ""),
    ]
    for lab, v in per.items():
        row = f"| {lab} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
        if extra:
            row += f" {v['accuracy']:.3f} |"
        lines.append(row)
    summary = f"**macro-F1 {table['macro_f1']:.3f}, micro-F1 {table['micro_f1']:.3f}** (n = {table['n']})"
    for key in ("cr_macro_f1", "pc_macro_f1", "accuracy"):
        if key in table:
            summary += f", {key.replace('_', '-')} {table[key]:.3f}"
    if table.get("protocol"):
        summary += f". {table['protocol']}."
    return "\n".join(lines) + "\n\n" + summary


def write_model_card(models_dir: Path, metrics: dict | None = None) -> Path:
    """Write ``MODEL_CARD.md`` from the saved ``model.json`` files (and ``metrics`` or ``metrics.json``)."""
    models_dir = Path(models_dir)
    if metrics is None and (models_dir / "metrics.json").is_file():
        metrics = json.loads((models_dir / "metrics.json").read_text(encoding="utf-8"))
    metas = {}
    for lang in ("en", "zh"):
        p = model_paths(lang, models_dir)["model"]
        if p.is_file():
            metas[lang] = json.loads(p.read_text(encoding="utf-8"))
    out = ["# Model card: policyaudit segment classifiers", ""]
    out.append(
        "Written by `policyaudit train` (and refreshed by `policyaudit evaluate`). Two multi-label "
        "segment classifiers: an ensemble of linear models over word uni/bigram and character n-gram "
        "TF-IDF features, trained with scikit-learn and saved as plain arrays (`arrays.npz`, loaded "
        "with `allow_pickle=False`) and JSON. Inference is numpy/scipy only (`pipeline/grade/classify.py`); "
        "nothing is unpickled. No pretrained embeddings or downloaded weights are used: every weight "
        "was learnt from the data below."
    )
    out.append("")
    out.append(
        "Per-label decision thresholds are in `models/<lang>/model.json` under `thresholds` "
        "(each tuned to maximise that label's F1 on held-out predictions: see each model's split "
        "below); files are checked against "
        "the sha256 sums in `model.json` when loaded."
    )
    names = {
        "en": "English (OPP-115, 12 labels)",
        "zh": "Chinese (VioDroid-Finder, CR1-CR26 + PC1-PC7)",
    }
    for lang, meta in metas.items():
        data = meta.get("data", {})
        out += ["", f"## {names[lang]}", ""]
        out.append(
            f"- version: `{meta['version']}` (format {meta['format']} v{meta['format_version']}), trained {meta.get('trained_at', '?')}, seed {meta.get('seed')}"
        )
        out.append(f"- data: `{data.get('source')}`; sizes {data.get('sizes')}")
        out.append(f"- training-data sha256: `{data.get('sha256')}`")
        out.append(f"- split: {data.get('split')}")
        out.append(f"- recipe: `{json.dumps(meta.get('recipe'))}`")
        out.append(
            f"- features: {meta['vectorizer']['n_terms']} word terms + {meta['vectorizer']['n_char_ngrams']} character n-grams"
        )
        out.append(f"- licence of the data: {data.get('licence')}")
    out += ["", "## Licences and what they imply", ""]
    out.append(
        "- **OPP-115** (Wilson et al., ACL 2016; standard split by Mousavi Nejad et al., IFIP SEC 2020): "
        "annotations for research, teaching and scholarship only, in the spirit of CC BY-NC. The English "
        "weights are derived from it: treat `models/en/` as non-commercial research material, and cite "
        "the corpus. Do not ship it in a commercial product without permission from the authors."
    )
    out.append(
        "- **VioDroid-Finder** (das-lab, GNU AGPL-3.0 repository, no separate data licence): the Chinese "
        "weights are derived from AGPL-licensed material. Whether trained weights are a derivative work "
        "is unsettled; the cautious reading is that distributing `models/zh/` (or offering it over a "
        "network) carries AGPL-3.0 obligations (source and licence must accompany it). Keep it separable "
        "from the Apache-2.0 code, or retrain on data with a permissive licence before redistribution."
    )
    out.append(
        "- The data files are never copied into this repository; training reads them from `../shared/data`."
    )
    if metrics:
        out += [
            "",
            "## Metrics",
            "",
            "From `models/metrics.json` (written by `policyaudit evaluate`).",
        ]
        for key, table in metrics.items():
            if "per_label" in table:
                out += ["", f"### {TITLES.get(key, key)}", "", _md_table(table)]
    else:
        for lang, meta in metas.items():
            test = meta.get("metrics", {}).get("test")
            if test:
                out += [
                    "",
                    f"## Metrics at training time: {names[lang]}, test split",
                    "",
                    _md_table(test),
                ]
    path = models_dir / "MODEL_CARD.md"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path
