"""Evaluate the trained classifiers; write ``models/metrics.json`` and ``models/MODEL_CARD.md``.

    >>> from pipeline.train.evaluate import evaluate_models, format_metrics
    >>> metrics = evaluate_models(Path("../shared/data"), Path("models"))   # doctest: +SKIP
    >>> print(format_metrics(metrics))                                     # doctest: +SKIP

Four evaluations:

``en_standard_test``
    the saved English model on the standard OPP-115 Majority ``test`` split.
``en_grouped_by_policy``
    the English recipe re-trained with a split *by policy*: 5-fold cross-validation over the
    115 OPP-115 policies (segments and majority labels rebuilt from ``opp-115/annotations``
    and ``sanitized_policies``: a label is kept when >= 2 of the 3 annotators chose it); in
    each fold 15% of the training policies tune the thresholds (instead of the recipe's inner
    k-fold, to keep it to five fits); scores pooled out of fold.
    The standard split shares policies between train and test, this one does not.
``en_policy_level``
    from the same out-of-fold predictions: for each policy and each of the 10 OPP-115
    categories, "does the policy address it" (any segment predicted) against the annotators'
    majority (any segment with a >= 2-of-3 label); accuracy and F1 per category.
``zh_test``
    the saved Chinese model on its held-out split (``models/zh/split.json``).

Library functions print nothing; :func:`format_metrics` renders the tables as text.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np

from pipeline.grade.classify import load_classifier, model_paths
from pipeline.errors import ModelError
from pipeline.train.fit import (
    OPP_LABELS,
    OTHER_TYPES,
    ZH_LABELS,
    MemberSpec,
    Recipe,
    apply_split,
    fit_model,
    load_opp115_policies,
    load_opp115_split,
    load_viodroid,
    policies_corpus,
    prf_table,
    score_corpus,
)

CATEGORIES = (
    "First Party Collection/Use",
    "Third Party Sharing/Collection",
    "User Choice/Control",
    "User Access, Edit and Deletion",
    "Data Retention",
    "Data Security",
    "Policy Change",
    "Do Not Track",
    "International and Specific Audiences",
    "Other",
)
GROUPED_FOLDS = 5


# ---------------------------------------------------------------- OPP-115 by policy


def _categories_of(labels: frozenset[str] | set[str]) -> set[str]:
    return {("Other" if lab in OTHER_TYPES else lab) for lab in labels}


def grouped_cross_validation(
    shared_data: Path, recipe: Recipe, seed: int = 13, folds: int = GROUPED_FOLDS
) -> tuple[dict, dict]:
    """Segment metrics pooled out of fold, and policy-level validity, for a split by policy."""
    policies = load_opp115_policies(shared_data)
    order = sorted(range(len(policies)), key=lambda i: policies[i].policy_id)
    random.Random(seed).shuffle(order)
    fold_of = {i: k % folds for k, i in enumerate(order)}
    pred: dict[int, list[set[str]]] = {}
    for k in range(folds):
        test_ix = [i for i in order if fold_of[i] == k]
        rest = [i for i in order if fold_of[i] != k]
        n_val = max(1, round(0.15 * len(rest)))
        val_ix, train_ix = rest[:n_val], rest[n_val:]
        model = fit_model(
            "en",
            OPP_LABELS,
            policies_corpus([policies[i] for i in train_ix]),
            policies_corpus([policies[i] for i in val_ix]),
            recipe,
            seed,
        )
        for i in test_ix:
            pred[i] = model.predict(list(policies[i].segments))
    Y, P = [], []
    for i, p in enumerate(policies):
        for ls, pr in zip(p.labels, pred[i], strict=True):
            Y.append([lab in ls for lab in OPP_LABELS])
            P.append([lab in pr for lab in OPP_LABELS])
    segment = prf_table(np.array(Y), np.array(P), OPP_LABELS)
    segment["protocol"] = (
        f"{folds}-fold cross-validation by policy over {len(policies)} OPP-115 policies (seed {seed}); "
        "15% of each fold's training policies tune thresholds; majority >= 2 of 3 annotators"
    )
    truth = np.array(
        [
            [c in set().union(*map(_categories_of, p.labels)) for c in CATEGORIES]
            for p in policies
        ]
    )
    said = np.array(
        [
            [c in set().union(*map(_categories_of, pred[i])) for c in CATEGORIES]
            for i, p in enumerate(policies)
        ]
    )
    table = prf_table(truth, said, CATEGORIES)
    for j, c in enumerate(CATEGORIES):
        table["per_label"][c]["accuracy"] = float((truth[:, j] == said[:, j]).mean())
        table["per_label"][c]["policies_addressing"] = int(truth[:, j].sum())
    table["accuracy"] = float((truth == said).mean())
    table["protocol"] = (
        "per policy and category: addressed = any segment predicted (out-of-fold, grouped CV) "
        "vs any segment with a >= 2-of-3 annotator label"
    )
    return segment, table


# ---------------------------------------------------------------- entry point


def _recipe_from_model(models_dir: Path) -> Recipe:
    meta = json.loads(
        model_paths("en", models_dir)["model"].read_text(encoding="utf-8")
    )
    r = dict(meta["recipe"])
    r["members"] = tuple(MemberSpec(**m) for m in r["members"])
    return Recipe(**r)


def evaluate_models(shared_data: Path, models_dir: Path) -> dict:
    """Evaluate both saved models; write ``metrics.json`` and refresh ``MODEL_CARD.md``. Prints nothing."""
    shared_data, models_dir = Path(shared_data), Path(models_dir)
    metrics: dict = {}
    en = load_classifier("en", models_dir)
    metrics["en_standard_test"] = score_corpus(
        en.predict, load_opp115_split(shared_data, "test"), OPP_LABELS
    )
    metrics["en_standard_test"]["protocol"] = (
        "saved model on OPP-115 Majority standard test split"
    )
    metrics["en_standard_test"]["model_version"] = en.version
    seed = int(en.card.get("seed", 13))
    try:
        recipe = _recipe_from_model(models_dir)
    except (KeyError, TypeError) as exc:
        raise ModelError(
            f"{models_dir}/en/model.json: no usable recipe ({exc!r})"
        ) from exc
    # the recipe's inner k-fold threshold tuning is replaced by one validation group of policies
    # (15% of each fold's training policies) to keep evaluation to five model fits
    recipe = replace(recipe, cv_folds=0)
    metrics["en_grouped_by_policy"], metrics["en_policy_level"] = (
        grouped_cross_validation(shared_data, recipe, seed)
    )
    zh = load_classifier("zh", models_dir)
    split_path = model_paths("zh", models_dir)["dir"] / "split.json"
    try:
        split_doc = json.loads(split_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(
            f"{split_path}: cannot read the Chinese split ({exc})"
        ) from exc
    parts = apply_split(
        load_viodroid(shared_data),
        {k: split_doc[k] for k in ("train", "validation", "test")},
    )
    zh_all = score_corpus(zh.predict, parts["test"], ZH_LABELS)
    cr = [lab for lab in ZH_LABELS if lab.startswith("CR")]
    pc = [lab for lab in ZH_LABELS if lab.startswith("PC")]
    zh_all["cr_macro_f1"] = float(
        np.mean([zh_all["per_label"][lab]["f1"] for lab in cr])
    )
    zh_all["pc_macro_f1"] = float(
        np.mean([zh_all["per_label"][lab]["f1"] for lab in pc])
    )
    zh_all["protocol"] = "saved model on the held-out split in models/zh/split.json"
    zh_all["model_version"] = zh.version
    metrics["zh_test"] = zh_all
    (models_dir / "metrics.json").write_text(
        json.dumps(metrics, indent=1, ensure_ascii=False), encoding="utf-8"
    )
    write_model_card(models_dir, metrics)
    return metrics


# ---------------------------------------------------------------- rendering


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
