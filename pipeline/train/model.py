"""The model recipe: an ensemble of linear scorers over TF-IDF features, fitted, calibrated, saved.

    model = fit_model(train, validation, labels, "en", recipe, seed=0)
    save_model(model, models_dir, "en", ...)        # plain arrays (arrays.npz) and JSON, no pickle

scikit-learn fits the members; only arrays and JSON are saved, and :mod:`pipeline.grade.classify`
reimplements inference in numpy. :func:`prf_table` and :func:`score_corpus` give the metrics.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pipeline.grade.classify import FORMAT_VERSION, MODEL_FORMAT, model_paths, sigmoid
from pipeline.grade.features import Vectorizer, fit_vectorizer
from pipeline.train.corpora import Corpus

MODEL_VERSION = "1.0.0"  # bump when the recipe (features, members, data) changes


# ---------------------------------------------------------------- model recipe


@dataclass(frozen=True)
class MemberSpec:
    """One linear member: ``kind`` is "lr" (logistic regression) or "svm" (linear SVM + Platt)."""

    kind: str
    C: float
    balanced: bool = True
    weight: float = 1.0


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a model (besides data and seed); saved in ``model.json``.

    ``minority_weight``: a label chosen by only one annotator counts as a positive with this
    weight (and a negative with ``1 - weight``); 0 trains on the majority labels alone.
    ``cv_folds``: 0 = fit on train, calibrate and tune thresholds on validation; k > 0 = calibrate
    and tune on k-fold out-of-fold predictions of train + validation, then fit on both.
    """

    char_lo: int
    char_hi: int
    min_df_words: int = 2
    min_df_chars: int = 2
    max_char_features: int | None = None
    word_weight: float = 1.0
    char_weight: float = 1.0
    members: tuple[MemberSpec, ...] = field(
        default_factory=lambda: (MemberSpec("lr", 10.0),)
    )
    minority_weight: float = 0.0
    cv_folds: int = 0


RECIPES: dict[str, Recipe] = {
    "en": Recipe(
        char_lo=2,
        char_hi=5,
        members=(MemberSpec("lr", 10.0),),
        minority_weight=0.15,
        cv_folds=5,
    ),
    "zh": Recipe(char_lo=1, char_hi=3, members=(MemberSpec("lr", 10.0),)),
}


def _make_estimator(spec: MemberSpec, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if spec.kind == "lr":
        return LogisticRegression(
            C=spec.C, solver="liblinear", random_state=seed, max_iter=1000
        )
    if spec.kind == "svm":
        return LinearSVC(C=spec.C, random_state=seed, max_iter=5000)
    raise ValueError(f"unknown member kind {spec.kind!r}")


class _Constant:
    """Stands in for an estimator when a label has a single class in the training data."""

    def __init__(self, positive: bool, n_features: int):
        self.coef_ = np.zeros((1, n_features))
        self.intercept_ = np.array([10.0 if positive else -10.0])

    def decision_function(self, X) -> np.ndarray:
        return np.full(X.shape[0], self.intercept_[0])


def _platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Fit ``sigmoid(a * score + b)`` to ``y`` (Platt scaling with a small ridge)."""
    from sklearn.linear_model import LogisticRegression

    if y.min() == y.max():
        return 1.0, 0.0
    lr = LogisticRegression(C=100.0, solver="lbfgs").fit(scores.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def tune_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """Threshold on ``p`` that maximises F1 on ``(p, y)``; the midpoint to the next lower score.

    Ties in F1 go to the threshold closest to 0.5. With no positives: 0.5.
    """
    if y.sum() == 0:
        return 0.5
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order].astype(np.float64)
    tp = np.cumsum(ys)
    k = np.arange(1, len(ps) + 1)
    f1 = 2 * tp / (k + ys.sum())
    # only cut where the next score is strictly lower
    distinct = np.r_[ps[1:] < ps[:-1], True]
    f1 = np.where(distinct, f1, -1.0)
    best = f1.max()
    cands = np.flatnonzero(f1 >= best - 1e-12)
    ths = [(ps[i] + ps[i + 1]) / 2 if i + 1 < len(ps) else ps[i] / 2 for i in cands]
    return float(min(ths, key=lambda t: abs(t - 0.5)))


@dataclass
class TrainedModel:
    """A model in memory: the vectoriser, the fitted scikit-learn estimators and calibration.

    :meth:`sklearn_proba` scores with scikit-learn's own ``decision_function`` -- the reference
    that the saved, pickle-free model must reproduce.
    """

    language: str
    labels: list[str]
    recipe: Recipe
    vectorizer: Vectorizer
    estimators: list[list]  # [member][label]
    calibration: list[
        tuple[np.ndarray, np.ndarray]
    ]  # per member: (scale, shift) per label
    thresholds: dict[str, float]
    seed: int

    def sklearn_proba(self, texts: Sequence[str]) -> np.ndarray:
        X = self.vectorizer.transform(list(texts))
        weights = np.array([m.weight for m in self.recipe.members], dtype=np.float64)
        weights = weights / weights.sum()
        out = np.zeros((X.shape[0], len(self.labels)))
        for w, ests, (scale, shift) in zip(
            weights, self.estimators, self.calibration, strict=True
        ):
            z = np.column_stack([e.decision_function(X) for e in ests])
            out += w * sigmoid(scale * z + shift)
        return out

    def predict(self, texts: Sequence[str]) -> list[set[str]]:
        P = self.sklearn_proba(texts)
        th = np.array([self.thresholds[lab] for lab in self.labels])
        return [{self.labels[j] for j in np.flatnonzero(row >= th)} for row in P]


def _fit_vectorizer(texts: Sequence[str], language: str, recipe: Recipe) -> Vectorizer:
    return fit_vectorizer(
        texts,
        language,
        char_lo=recipe.char_lo,
        char_hi=recipe.char_hi,
        min_df_words=recipe.min_df_words,
        min_df_chars=recipe.min_df_chars,
        max_char_features=recipe.max_char_features,
        word_weight=recipe.word_weight,
        char_weight=recipe.char_weight,
    )


def _fit_one(
    spec: MemberSpec, X, y: np.ndarray, weak: np.ndarray, weak_weight: float, seed: int
):
    """One binary scorer; weak (minority) positives enter twice: as 1 (weight w) and 0 (weight 1-w)."""
    import scipy.sparse as sp

    y = y.astype(np.int64)
    weak_rows = (
        np.flatnonzero(weak.astype(bool) & (y == 0))
        if weak_weight > 0
        else np.zeros(0, np.int64)
    )
    if y.sum() == 0 and weak_rows.shape[0] == 0 or y.sum() == y.shape[0]:
        return _Constant(bool(y.sum()), X.shape[1])
    yy = y.copy()
    w = np.ones(y.shape[0])
    yy[weak_rows] = 1
    w[weak_rows] = weak_weight
    if weak_rows.shape[0]:
        X = sp.vstack([X, X[weak_rows]], format="csr")
        yy = np.r_[yy, np.zeros(weak_rows.shape[0], np.int64)]
        w = np.r_[w, np.full(weak_rows.shape[0], 1.0 - weak_weight)]
    if (
        spec.balanced
    ):  # each class gets half of the total weight, as class_weight="balanced"
        pos, total = w[yy == 1].sum(), w.sum()
        w = np.where(yy == 1, w * total / (2 * pos), w * total / (2 * (total - pos)))
    return _make_estimator(spec, seed).fit(X, yy, sample_weight=w)


def _fit_members(
    language: str, labels: list[str], corpus: Corpus, recipe: Recipe, seed: int
):
    vec = _fit_vectorizer(corpus.texts, language, recipe)
    X = vec.transform(corpus.texts)
    Y, W = corpus.matrix(labels), corpus.matrix(labels, "minority")
    ests = [
        [
            _fit_one(spec, X, Y[:, j], W[:, j], recipe.minority_weight, seed)
            for j in range(len(labels))
        ]
        for spec in recipe.members
    ]
    return vec, ests


def _member_scores(
    vec: Vectorizer, estimators: list[list], texts: Sequence[str]
) -> list[np.ndarray]:
    X = vec.transform(texts)
    return [
        np.column_stack([e.decision_function(X) for e in ests]) for ests in estimators
    ]


def _kfold(n: int, k: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[i::k]) for i in range(k)]


def fit_model(
    language: str,
    labels: Sequence[str],
    train: Corpus,
    validation: Corpus,
    recipe: Recipe,
    seed: int = 13,
) -> TrainedModel:
    """Fit, calibrate (Platt, non-LR members) and tune per-label thresholds; see :class:`Recipe`."""
    labels = list(labels)
    if recipe.cv_folds > 0:
        data = train + validation
        Y = data.matrix(labels)
        scores = [np.zeros(Y.shape) for _ in recipe.members]
        for held in _kfold(len(data), recipe.cv_folds, seed):
            rest = np.setdiff1d(np.arange(len(data)), held)
            vec, ests = _fit_members(language, labels, data.subset(rest), recipe, seed)
            for acc, sc in zip(
                scores,
                _member_scores(vec, ests, [data.texts[i] for i in held]),
                strict=True,
            ):
                acc[held] = sc
        tune_y = Y
        vec, estimators = _fit_members(language, labels, data, recipe, seed)
    else:
        vec, estimators = _fit_members(language, labels, train, recipe, seed)
        scores = _member_scores(vec, estimators, validation.texts)
        tune_y = validation.matrix(labels)
    weights = np.array([m.weight for m in recipe.members], dtype=np.float64)
    weights = weights / weights.sum()
    calibration: list[tuple[np.ndarray, np.ndarray]] = []
    P = np.zeros(tune_y.shape)
    for w, spec, z in zip(weights, recipe.members, scores, strict=True):
        scale, shift = np.ones(len(labels)), np.zeros(len(labels))
        if spec.kind != "lr":
            for j in range(len(labels)):
                scale[j], shift[j] = _platt(z[:, j], tune_y[:, j])
        P += w * sigmoid(scale * z + shift)
        calibration.append((scale, shift))
    thresholds = {
        lab: tune_threshold(P[:, j], tune_y[:, j]) for j, lab in enumerate(labels)
    }
    return TrainedModel(
        language, labels, recipe, vec, estimators, calibration, thresholds, seed
    )


# ---------------------------------------------------------------- saving


def _recipe_json(recipe: Recipe) -> dict:
    d = asdict(recipe)
    d["members"] = [asdict(m) for m in recipe.members]
    return d


def save_model(
    model: TrainedModel, models_dir: Path, extra: dict | None = None
) -> dict[str, Path]:
    """Write ``models/<language>/{model.json,terms.json,arrays.npz}`` (no pickle anywhere)."""
    paths = model_paths(model.language, models_dir)
    paths["dir"].mkdir(parents=True, exist_ok=True)
    arrays = model.vectorizer.arrays()
    members = []
    for i, (spec, ests, (scale, shift)) in enumerate(
        zip(model.recipe.members, model.estimators, model.calibration, strict=True)
    ):
        arrays[f"m{i}_coef"] = np.column_stack(
            [np.ravel(e.coef_) for e in ests]
        ).astype(np.float32)
        arrays[f"m{i}_intercept"] = np.array(
            [float(np.ravel(e.intercept_)[0]) for e in ests]
        )
        arrays[f"m{i}_scale"] = np.asarray(scale, dtype=np.float64)
        arrays[f"m{i}_shift"] = np.asarray(shift, dtype=np.float64)
        members.append(
            {
                "name": spec.kind,
                "weight": spec.weight,
                "C": spec.C,
                "balanced": spec.balanced,
            }
        )
    np.savez_compressed(paths["arrays"], **arrays)
    paths["terms"].write_text(
        json.dumps(list(model.vectorizer.terms), ensure_ascii=False), encoding="utf-8"
    )
    from pipeline.grade.classify import _sha256

    meta = {
        "format": MODEL_FORMAT,
        "format_version": FORMAT_VERSION,
        "language": model.language,
        "version": MODEL_VERSION,
        "labels": model.labels,
        "thresholds": model.thresholds,
        "vectorizer": model.vectorizer.meta(),
        "members": members,
        "recipe": _recipe_json(model.recipe),
        "seed": model.seed,
        "sha256": {p.name: _sha256(p) for p in (paths["terms"], paths["arrays"])},
        **(extra or {}),
    }
    paths["model"].write_text(
        json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return paths


# ---------------------------------------------------------------- metrics


def prf_table(Y: np.ndarray, P: np.ndarray, labels: Sequence[str]) -> dict:
    """Per-label precision/recall/F1/support plus macro and micro F1 (0/0 counts as 0)."""
    Y = Y.astype(bool)
    P = P.astype(bool)
    per: dict[str, dict[str, float]] = {}
    for j, lab in enumerate(labels):
        tp = int((Y[:, j] & P[:, j]).sum())
        fp = int((~Y[:, j] & P[:, j]).sum())
        fn = int((Y[:, j] & ~P[:, j]).sum())
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[lab] = {
            "precision": prec,
            "recall": rec,
            "f1": f1,
            "support": int(Y[:, j].sum()),
        }
    tp = int((Y & P).sum())
    fp = int((~Y & P).sum())
    fn = int((Y & ~P).sum())
    micro = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    macro = float(np.mean([v["f1"] for v in per.values()])) if per else 0.0
    return {
        "per_label": per,
        "macro_f1": macro,
        "micro_f1": micro,
        "n": int(Y.shape[0]),
    }


def score_corpus(predict, corpus: Corpus, labels: Sequence[str]) -> dict:
    """Metrics of ``predict(texts) -> list[set]`` on ``corpus``."""
    pred = predict(list(corpus.texts))
    P = np.array([[lab in s for lab in labels] for s in pred], dtype=bool).reshape(
        len(corpus), len(labels)
    )
    return prf_table(corpus.matrix(labels), P, labels)
