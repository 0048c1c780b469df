"""Evaluate the trained classifiers; write ``models/metrics.json`` and ``models/MODEL_CARD.md``.

    >>> from pipeline.train.evaluate import evaluate_models
    >>> from pipeline.train.card import format_metrics
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

Library functions print nothing; :func:`pipeline.train.card.format_metrics` renders the tables as text.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np

from pipeline.errors import ModelError
from pipeline.grade.classify import load_classifier, model_paths
from pipeline.train.card import write_model_card
from pipeline.train.corpora import (
    OPP_LABELS,
    OTHER_TYPES,
    ZH_LABELS,
    apply_split,
    load_opp115_policies,
    load_opp115_split,
    load_viodroid,
    policies_corpus,
)
from pipeline.train.model import MemberSpec, Recipe, fit_model, prf_table, score_corpus

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
