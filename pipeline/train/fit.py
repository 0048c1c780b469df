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
(:func:`save_model`), and :mod:`pipeline.grade.classify` reimplements inference in numpy.
Deterministic for a given ``seed``. Prints nothing.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import random
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from pipeline.grade.classify import FORMAT_VERSION, MODEL_FORMAT, model_paths, sigmoid
from pipeline.errors import ModelError
from pipeline.grade.features import Vectorizer, fit_vectorizer

MODEL_VERSION = "1.0.0"  # bump when the recipe (features, members, data) changes

OPP_MAJORITY = Path("opp-115-polisis-benchmark/datasets/Majority")
OPP_LABELS = (
    "Data Retention",
    "Data Security",
    "Do Not Track",
    "First Party Collection/Use",
    "International and Specific Audiences",
    "Introductory/Generic",
    "Policy Change",
    "Practice not covered",
    "Privacy contact information",
    "Third Party Sharing/Collection",
    "User Access, Edit and Deletion",
    "User Choice/Control",
)
VIODROID_CSV = Path("viodroid-finder-zh/dataset/labelled_dataset.csv")
ZH_LABELS = tuple(f"CR{i}" for i in range(1, 27)) + tuple(f"PC{i}" for i in range(1, 8))

csv.field_size_limit(1 << 24)


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class Corpus:
    """Unique texts with their label sets (one entry per distinct text).

    ``minority`` (optional, same length) holds labels that some annotator chose but not a
    majority; training can count them as weak positives (``Recipe.minority_weight``).
    """

    texts: tuple[str, ...]
    labels: tuple[frozenset[str], ...]
    minority: tuple[frozenset[str], ...] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def matrix(self, label_names: Sequence[str], which: str = "labels") -> np.ndarray:
        sets = (
            self.labels
            if which == "labels"
            else (self.minority or tuple(frozenset() for _ in self.texts))
        )
        return np.array(
            [[lab in s for lab in label_names] for s in sets], dtype=np.int8
        ).reshape(len(self.texts), len(label_names))

    def subset(self, idx: Sequence[int]) -> Corpus:
        minority = (
            None if self.minority is None else tuple(self.minority[i] for i in idx)
        )
        return Corpus(
            tuple(self.texts[i] for i in idx),
            tuple(self.labels[i] for i in idx),
            minority,
        )

    def __add__(self, other: Corpus) -> Corpus:
        minority = None
        if self.minority is not None and other.minority is not None:
            minority = self.minority + other.minority
        return Corpus(self.texts + other.texts, self.labels + other.labels, minority)


def text_id(text: str) -> str:
    """Stable id of a sentence: first 16 hex digits of sha256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _require(path: Path) -> Path:
    if not path.is_file():
        raise ModelError(
            f"training data not found: {path} (is ../shared/data present?)"
        )
    return path


def load_opp115_split(shared_data: Path, split: str) -> Corpus:
    """One split ("train", "validation", "test") of the OPP-115 Majority dataset, grouped by text."""
    path = _require(Path(shared_data) / OPP_MAJORITY / f"{split}_dataset.csv")
    groups: dict[str, set[str]] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if len(row) != 2:
                raise ModelError(
                    f"{path}:{lineno}: expected 2 columns (segment_text,label), got {len(row)}"
                )
            text, label = row
            if label not in OPP_LABELS:
                raise ModelError(f"{path}:{lineno}: unknown label {label!r}")
            groups.setdefault(text, set()).add(label)
    return Corpus(tuple(groups), tuple(frozenset(v) for v in groups.values()))


def load_viodroid(shared_data: Path) -> Corpus:
    """VioDroid-Finder sentences (``sentence,PC,CR`` with CR ``#``-joined), duplicates merged (label union)."""
    path = _require(Path(shared_data) / VIODROID_CSV)
    groups: dict[str, set[str]] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if len(row) != 3:
                raise ModelError(
                    f"{path}:{lineno}: expected 3 columns (sentence,PC,CR), got {len(row)}"
                )
            text, pc, cr = row
            labels = {pc.strip()} | {c.strip() for c in cr.split("#") if c.strip()}
            unknown = labels - set(ZH_LABELS)
            if unknown:
                raise ModelError(f"{path}:{lineno}: unknown label(s) {sorted(unknown)}")
            groups.setdefault(text, set()).update(labels)
    return Corpus(tuple(groups), tuple(frozenset(v) for v in groups.values()))


def split_ids(
    texts: Sequence[str], seed: int, fractions: tuple[float, float] = (0.7, 0.15)
) -> dict[str, list[str]]:
    """Seeded train/validation/test split of distinct texts, as sorted lists of :func:`text_id`."""
    ids = sorted({text_id(t) for t in texts})
    random.Random(seed).shuffle(ids)
    n_train = round(len(ids) * fractions[0])
    n_val = round(len(ids) * fractions[1])
    parts = {
        "train": ids[:n_train],
        "validation": ids[n_train : n_train + n_val],
        "test": ids[n_train + n_val :],
    }
    return {k: sorted(v) for k, v in parts.items()}


def apply_split(corpus: Corpus, split: dict[str, list[str]]) -> dict[str, Corpus]:
    where = {i: name for name, ids in split.items() for i in ids}
    idx: dict[str, list[int]] = {name: [] for name in split}
    for i, t in enumerate(corpus.texts):
        name = where.get(text_id(t))
        if name is None:
            raise ModelError(
                f"sentence {text_id(t)} is in no split; the split file does not match the data"
            )
        idx[name].append(i)
    return {name: corpus.subset(ix) for name, ix in idx.items()}


def file_sha256(paths: Sequence[Path]) -> str:
    """sha256 over the named files' bytes (in the given order)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()


# ---------------------------------------------------------------- OPP-115 annotations (per policy)

OPP_DIR = Path("opp-115")
OTHER_TYPES = (
    "Introductory/Generic",
    "Practice not covered",
    "Privacy contact information",
)
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Policy:
    """One OPP-115 policy: segments, their majority (>= 2 of 3) labels and minority (1 of 3) labels.

    Labels use the 12-label scheme plus "Other" (any Other type) for policy-level categories.
    """

    policy_id: str
    name: str
    segments: tuple[str, ...]
    labels: tuple[frozenset[str], ...]
    minority: tuple[frozenset[str], ...]


def segment_text(raw: str) -> str:
    """Plain text of one ``|||``-separated segment of a sanitized OPP-115 policy."""
    return " ".join(html.unescape(_TAG.sub(" ", raw)).split())


def load_opp115_policies(shared_data: Path) -> list[Policy]:
    """All 115 policies from ``opp-115/annotations`` + ``sanitized_policies``, sorted by file name."""
    root = Path(shared_data) / OPP_DIR
    ann_dir, pol_dir = root / "annotations", root / "sanitized_policies"
    if not ann_dir.is_dir() or not pol_dir.is_dir():
        raise ModelError(f"OPP-115 not found under {root} (is ../shared/data present?)")
    policies = []
    for ann in sorted(ann_dir.glob("*.csv")):
        html_path = _require(pol_dir / f"{ann.stem}.html")
        segments = [
            segment_text(s) for s in html_path.read_text(encoding="utf-8").split("|||")
        ]
        votes: dict[tuple[int, str], set[str]] = {}
        with ann.open(newline="", encoding="utf-8") as f:
            for lineno, row in enumerate(csv.reader(f), 1):
                if len(row) < 7:
                    raise ModelError(
                        f"{ann}:{lineno}: expected >= 7 columns, got {len(row)}"
                    )
                annotator, seg, category = row[2], int(row[4]), row[5]
                if category == "Other":
                    try:
                        value = json.loads(row[6]).get("Other Type", {}).get("value")
                    except (json.JSONDecodeError, AttributeError) as exc:
                        raise ModelError(
                            f"{ann}:{lineno}: bad attribute JSON ({exc})"
                        ) from exc
                    if value in OTHER_TYPES:
                        votes.setdefault((seg, value), set()).add(annotator)
                votes.setdefault((seg, category), set()).add(annotator)
        major: list[set[str]] = [set() for _ in segments]
        minor: list[set[str]] = [set() for _ in segments]
        for (seg, label), who in votes.items():
            if 0 <= seg < len(segments):
                (major if len(who) >= 2 else minor)[seg].add(label)
        keep = [i for i, t in enumerate(segments) if t]
        pid, _, name = ann.stem.partition("_")
        policies.append(
            Policy(
                pid,
                name,
                tuple(segments[i] for i in keep),
                tuple(frozenset(major[i]) for i in keep),
                tuple(frozenset(minor[i]) for i in keep),
            )
        )
    return policies


def _match_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower().replace('""', '"'))


def policies_corpus(policies: Sequence[Policy]) -> Corpus:
    """Segments of ``policies`` as a corpus in the 12-label scheme (with minority labels)."""
    keep = set(OPP_LABELS)
    texts, labels, minority = [], [], []
    for p in policies:
        for t, ls, ms in zip(p.segments, p.labels, p.minority, strict=True):
            texts.append(t)
            labels.append(frozenset(ls & keep))
            minority.append(frozenset(ms & keep))
    return Corpus(tuple(texts), tuple(labels), tuple(minority))


def with_minority_votes(corpus: Corpus, policies: Sequence[Policy]) -> Corpus:
    """Attach minority (1-of-3) labels to the standard-split segments by matching their text to OPP-115.

    A text found in several policies takes the union; an unmatched text gets none.
    """
    found: dict[str, set[str]] = {}
    keep = set(OPP_LABELS)
    for p in policies:
        for t, ms in zip(p.segments, p.minority, strict=True):
            found.setdefault(_match_key(t), set()).update(ms & keep)
    minority = tuple(
        frozenset(found.get(_match_key(t), set()) - ls)
        for t, ls in zip(corpus.texts, corpus.labels, strict=True)
    )
    return Corpus(corpus.texts, corpus.labels, minority)


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
