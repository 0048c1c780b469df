"""Trained segment classifiers, loaded without pickle.

    >>> from pipeline.grade.classify import load_classifier
    >>> clf = load_classifier("en")                      # or "zh"; models_dir=Path(...) to override
    >>> clf.predict(["We keep your data for 30 days."])  # doctest: +SKIP
    [{'Data Retention'}]

A model is a folder ``models/<language>/`` written by :func:`pipeline.train.fit.train_models`:

- ``model.json`` -- labels, per-label decision thresholds, version, feature settings, the
  ensemble members and their calibration, sha256 of ``arrays.npz`` and ``terms.json``;
- ``terms.json`` -- the word uni/bigram vocabulary, in column order;
- ``arrays.npz`` -- idf vectors, sorted char n-gram hashes, and per member a coefficient
  matrix (features x labels), intercepts and Platt calibration (scale, shift). Loaded with
  ``allow_pickle=False``.

Inference re-implements the transform in numpy/scipy (:class:`pipeline.grade.features.Vectorizer`):
TF-IDF features -> ``X @ W + b`` per member -> ``sigmoid(scale * z + shift)`` -> weighted mean
of the members -> label when ``p >= threshold[label]``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from pipeline.errors import ModelError
from pipeline.grade.features import Vectorizer
from pipeline.records import PolicyText, Segment
from pipeline.settings import Settings

log = logging.getLogger(__name__)

MODEL_FORMAT = "policyaudit.linear-ensemble"
FORMAT_VERSION = 1
LANGUAGES = ("en", "zh")
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    out = np.empty_like(z, dtype=np.float64)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    ez = np.exp(z[~pos])
    out[~pos] = ez / (1.0 + ez)
    return out


@dataclass(frozen=True)
class Member:
    """One linear scorer of the ensemble: ``p = sigmoid(scale * (X @ coef + intercept) + shift)``."""

    name: str
    weight: float
    coef: np.ndarray  # (n_features, n_labels) float32
    intercept: np.ndarray  # (n_labels,)
    scale: np.ndarray  # (n_labels,)
    shift: np.ndarray  # (n_labels,)


class Classifier:
    """A multi-label segment classifier (one language)."""

    def __init__(
        self,
        *,
        language: str,
        version: str,
        labels: Sequence[str],
        thresholds: dict[str, float],
        vectorizer: Vectorizer,
        members: Sequence[Member],
        card: dict | None = None,
    ) -> None:
        self.language = language
        self.version = version
        self.labels: list[str] = list(labels)
        self.thresholds: dict[str, float] = {
            lab: float(thresholds[lab]) for lab in self.labels
        }
        self.vectorizer = vectorizer
        self.members = tuple(members)
        self.card = card or {}
        self._index = vectorizer.word_index()
        self._th = np.array(
            [self.thresholds[lab] for lab in self.labels], dtype=np.float64
        )
        total = sum(m.weight for m in self.members)
        self._weights = [m.weight / total for m in self.members]

    def __repr__(self) -> str:
        return f"Classifier(language={self.language!r}, version={self.version!r}, labels={len(self.labels)})"

    def proba_matrix(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities as an array (``len(texts)`` x ``len(labels)``)."""
        if isinstance(texts, str):
            raise TypeError(
                "predict/predict_proba take a list of strings, not one string"
            )
        if len(texts) == 0:
            return np.zeros((0, len(self.labels)))
        X = self.vectorizer.transform(list(texts), self._index)
        out = np.zeros((X.shape[0], len(self.labels)))
        for w, m in zip(self._weights, self.members, strict=True):
            z = np.asarray(X @ m.coef, dtype=np.float64) + m.intercept
            out += w * sigmoid(m.scale * z + m.shift)
        return out

    def predict_proba(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Per text, a probability for every label."""
        P = self.proba_matrix(texts)
        return [dict(zip(self.labels, map(float, row), strict=True)) for row in P]

    def predict(self, texts: Sequence[str]) -> list[set[str]]:
        """Per text, the set of labels whose probability reaches the label's threshold."""
        P = self.proba_matrix(texts)
        hits = P >= self._th
        return [{self.labels[j] for j in np.flatnonzero(row)} for row in hits]


# ---------------------------------------------------------------- loading


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_paths(language: str, models_dir: Path | None = None) -> dict[str, Path]:
    """Where the files of one model live."""
    root = Path(models_dir) if models_dir is not None else DEFAULT_MODELS_DIR
    folder = root / language
    return {
        "dir": folder,
        "model": folder / "model.json",
        "terms": folder / "terms.json",
        "arrays": folder / "arrays.npz",
    }


def load_classifier(language: str, models_dir: Path | None = None) -> Classifier:
    """Load the trained classifier for ``language`` ("en" or "zh") from ``models_dir``.

    Raises :class:`pipeline.errors.ModelError` when a file is missing, altered (sha256
    mismatch) or inconsistent. Never unpickles anything.
    """
    if language not in LANGUAGES:
        raise ModelError(
            f"no classifier for language {language!r}; expected one of {LANGUAGES}"
        )
    paths = model_paths(language, models_dir)
    hint = "run `policyaudit train` to build the models"
    for key in ("model", "terms", "arrays"):
        if not paths[key].is_file():
            raise ModelError(f"{language} model file missing: {paths[key]} ({hint})")
    try:
        meta = json.loads(paths["model"].read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{paths['model']}: not valid JSON ({exc}); {hint}") from exc
    if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
        raise ModelError(f"{paths['model']}: not a {MODEL_FORMAT} model file")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"{paths['model']}: format_version {meta.get('format_version')!r}, this code reads {FORMAT_VERSION}; {hint}"
        )
    for key in ("terms", "arrays"):
        want = meta.get("sha256", {}).get(paths[key].name)
        if want != _sha256(paths[key]):
            raise ModelError(
                f"{paths[key]}: sha256 does not match {paths['model'].name}; the file is altered or corrupt"
            )
    try:
        terms = json.loads(paths["terms"].read_text(encoding="utf-8"))
        with np.load(paths["arrays"], allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        vectorizer = Vectorizer.from_parts(meta["vectorizer"], terms, arrays)
        labels = list(meta["labels"])
        n_feat, n_lab = vectorizer.n_features, len(labels)
        members = []
        for i, spec in enumerate(meta["members"]):
            member = Member(
                name=str(spec["name"]),
                weight=float(spec["weight"]),
                coef=arrays[f"m{i}_coef"],
                intercept=arrays[f"m{i}_intercept"].astype(np.float64),
                scale=arrays[f"m{i}_scale"].astype(np.float64),
                shift=arrays[f"m{i}_shift"].astype(np.float64),
            )
            if member.coef.shape != (n_feat, n_lab):
                raise ValueError(
                    f"member {i} coef has shape {member.coef.shape}, expected {(n_feat, n_lab)}"
                )
            for name in ("intercept", "scale", "shift"):
                if getattr(member, name).shape != (n_lab,):
                    raise ValueError(f"member {i} {name} has the wrong shape")
            members.append(member)
        if not members:
            raise ValueError("no ensemble members")
        thresholds = {lab: float(meta["thresholds"][lab]) for lab in labels}
        return Classifier(
            language=language,
            version=str(meta["version"]),
            labels=labels,
            thresholds=thresholds,
            vectorizer=vectorizer,
            members=members,
            card=meta,
        )
    except ModelError:
        raise
    except (KeyError, ValueError, TypeError, OSError) as exc:
        raise ModelError(
            f"{paths['dir']}: model files are inconsistent or corrupt: {exc!r}"
        ) from exc


# ---------------------------------------------------------------- the classifiers of an audit

CLASSIFY_CHUNK = 2000  # segments per classifier call


class SegmentClassifier(Protocol):
    labels: list[str]
    version: str
    thresholds: dict[str, float]

    def predict_proba(self, texts: list[str]) -> list[dict[str, float]]: ...


@dataclass
class Classifiers:
    """The segment classifiers available for grading, by language ("en", "zh")."""

    by_language: dict[str, SegmentClassifier] = field(default_factory=dict)

    @property
    def version(self) -> str | None:
        if not self.by_language:
            return None
        return "+".join(f"{lang}@{clf.version}" for lang, clf in sorted(self.by_language.items()))


def load_classifiers(settings: Settings) -> Classifiers:
    """Load the trained classifiers when enabled and present; grading falls back to rules without them."""
    if not settings.use_classifier:
        return Classifiers()
    out: dict[str, SegmentClassifier] = {}
    for lang in ("en", "zh"):
        try:
            out[lang] = load_classifier(lang, models_dir=settings.models_dir)
        except Exception as exc:  # noqa: BLE001 - a missing model means rules only, said in the log
            log.warning("no %s classifier (%s); grading %s policies with rules only", lang, exc, lang)
    return Classifiers(out)


def label_probabilities(
    classifiers: Classifiers, items: Mapping[int, tuple[PolicyText, list[Segment]]]
) -> dict[int, list[dict[str, float]]]:
    """Per-segment label probabilities of each item from the classifier of its language.

    Items without segments, or in a language without a classifier, are left out. Segments go
    to the classifier in chunks of :data:`CLASSIFY_CHUNK` (a batch of long policies is tens of
    thousands of segments).
    """
    probas: dict[int, list[dict[str, float]]] = {}
    for lang, clf in classifiers.by_language.items():
        members = [i for i, (policy, segs) in items.items() if policy.language == lang and segs]
        texts = [s.text for i in members for s in items[i][1]]
        if not texts:
            continue
        flat = []
        for k in range(0, len(texts), CLASSIFY_CHUNK):
            flat.extend(clf.predict_proba(texts[k : k + CLASSIFY_CHUNK]))
        pos = 0
        for i in members:
            n = len(items[i][1])
            probas[i] = flat[pos : pos + n]
            pos += n
    return probas

