"""Train the segment classifiers from ``../shared/data`` and write them to ``models/``.

    >>> from pipeline.train.fit import train_models
    >>> summary = train_models(Path("../shared/data"), Path("models"))   # doctest: +SKIP

English: 12-label multi-label classifier on the OPP-115 "Majority" segment dataset with its
standard split (train on ``train``, calibrate and tune the per-label thresholds on
``validation``; ``test`` is only read to report). Chinese: 33 labels (CR1-CR26, PC1-PC7) on
VioDroid-Finder's labelled sentences with a seeded 70/15/15 split by sentence whose sentence
hashes are written to ``models/zh/split.json``.

The model is an ensemble of linear scorers over word + character n-gram TF-IDF features
(:mod:`pipeline.grade.features`): scikit-learn fits them, then only plain arrays and JSON are saved
(:func:`pipeline.train.model.save_model`), and :mod:`pipeline.grade.classify` reimplements inference in numpy.
Deterministic for a given ``seed``. Prints nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pipeline.errors import ModelError
from pipeline.grade.classify import model_paths
from pipeline.train.corpora import (
    OPP_LABELS,
    OPP_MAJORITY,
    VIODROID_CSV,
    ZH_LABELS,
    apply_split,
    file_sha256,
    load_opp115_policies,
    load_opp115_split,
    load_viodroid,
    split_ids,
    with_minority_votes,
)
from pipeline.train.model import RECIPES, Recipe, fit_model, save_model, score_corpus

# ---------------------------------------------------------------- entry point


def _split_note(recipe: Recipe) -> str:
    note = "standard split (Mousavi Nejad et al. 2020); "
    if recipe.cv_folds:
        note += (
            f"thresholds tuned on {recipe.cv_folds}-fold out-of-fold predictions of train+validation, "
            "final model fit on train+validation; test only reports"
        )
    else:
        note += (
            "train fits, validation calibrates and tunes thresholds, test only reports"
        )
    if recipe.minority_weight:
        note += (
            f"; labels chosen by 1 of 3 annotators (from opp-115/annotations) are weak positives "
            f"(weight {recipe.minority_weight})"
        )
    return note


def _train_en(shared_data: Path, models_dir: Path, seed: int) -> dict:
    parts = {
        s: load_opp115_split(shared_data, s) for s in ("train", "validation", "test")
    }
    if RECIPES["en"].minority_weight > 0:
        policies = load_opp115_policies(shared_data)
        parts = {k: with_minority_votes(v, policies) for k, v in parts.items()}
    model = fit_model(
        "en", OPP_LABELS, parts["train"], parts["validation"], RECIPES["en"], seed
    )
    files = [
        Path(shared_data) / OPP_MAJORITY / f"{s}_dataset.csv"
        for s in ("train", "validation", "test")
    ]
    metrics = {"test": score_corpus(model.predict, parts["test"], OPP_LABELS)}
    if not RECIPES["en"].cv_folds:
        metrics["validation"] = score_corpus(
            model.predict, parts["validation"], OPP_LABELS
        )
    extra = {
        "data": {
            "source": str(OPP_MAJORITY) + "/{train,validation,test}_dataset.csv",
            "split": _split_note(RECIPES["en"]),
            "sizes": {k: len(v) for k, v in parts.items()},
            "sha256": file_sha256(files),
            "licence": "OPP-115: research/teaching/scholarship only, in the spirit of CC BY-NC",
        },
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "metrics": metrics,
    }
    save_model(model, models_dir, extra)
    return {"language": "en", "model": model, "metrics": metrics, "data": extra["data"]}


def _train_zh(shared_data: Path, models_dir: Path, seed: int) -> dict:
    corpus = load_viodroid(shared_data)
    split = split_ids(corpus.texts, seed)
    parts = apply_split(corpus, split)
    model = fit_model(
        "zh", ZH_LABELS, parts["train"], parts["validation"], RECIPES["zh"], seed
    )
    metrics = {
        "validation": score_corpus(model.predict, parts["validation"], ZH_LABELS),
        "test": score_corpus(model.predict, parts["test"], ZH_LABELS),
    }
    data_sha = file_sha256([Path(shared_data) / VIODROID_CSV])
    paths = model_paths("zh", models_dir)
    paths["dir"].mkdir(parents=True, exist_ok=True)
    split_doc = {
        "about": "VioDroid-Finder labelled_dataset.csv, duplicate sentences merged (label union); "
        "ids are the first 16 hex digits of sha256(sentence UTF-8)",
        "seed": seed,
        "data_sha256": data_sha,
        **split,
    }
    (paths["dir"] / "split.json").write_text(
        json.dumps(split_doc, indent=0), encoding="utf-8"
    )
    extra = {
        "data": {
            "source": str(VIODROID_CSV),
            "split": f"seeded 70/15/15 by distinct sentence (seed {seed}); ids in models/zh/split.json",
            "sizes": {k: len(v) for k, v in parts.items()},
            "sha256": data_sha,
            "licence": "VioDroid-Finder repository: GNU AGPL-3.0",
        },
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "metrics": metrics,
    }
    save_model(model, models_dir, extra)
    return {"language": "zh", "model": model, "metrics": metrics, "data": extra["data"]}


def train_models(
    shared_data: Path,
    models_dir: Path,
    languages: Sequence[str] = ("en", "zh"),
    seed: int = 13,
) -> dict:
    """Train the requested classifiers, write them and ``MODEL_CARD.md`` to ``models_dir``.

    Returns ``{language: {"metrics": {...}, "data": {...}, "paths": {...}}}``. Prints nothing.
    """
    trainers = {"en": _train_en, "zh": _train_zh}
    for lang in languages:
        if lang not in trainers:
            raise ModelError(
                f"cannot train language {lang!r}; expected one of {sorted(trainers)}"
            )
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    out: dict = {}
    for lang in languages:
        res = trainers[lang](Path(shared_data), models_dir, seed)
        out[lang] = {
            "metrics": res["metrics"],
            "data": res["data"],
            "paths": {k: str(v) for k, v in model_paths(lang, models_dir).items()},
        }
    from pipeline.train.card import write_model_card

    write_model_card(models_dir)
    return out
