"""The labelled corpora the classifiers learn from, read from ``../shared/data`` at run time.

    load_opp115_split(shared, "train")      # OPP-115 Majority segments (12 labels), standard split
    load_viodroid(shared)                   # VioDroid-Finder sentences (CR1-CR26, PC1-PC7)
    load_opp115_policies(shared)            # OPP-115 per policy, from the raw annotations

Nothing is copied into the repository; a missing file raises :class:`~pipeline.errors.ModelError`
saying which.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import ModelError

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
