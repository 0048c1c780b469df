"""Text features for the segment classifiers: word n-grams and hashed character n-grams, TF-IDF.

Used by training (:mod:`pipeline.train.fit`) *and* inference (:mod:`pipeline.grade.classify`), so both see
exactly the same numbers. Everything here is numpy/scipy; a fitted vectoriser is plain data
(a term list, a sorted array of 64-bit n-gram hashes, idf arrays) that is saved to ``.npz`` /
JSON and loaded without pickle.

Two feature blocks, each TF-IDF weighted (sublinear tf, smoothed idf) and L2-normalised on
its own, then scaled by a block weight and stacked side by side:

- **words**: English ``\\b\\w\\w+\\b`` tokens of the lower-cased text (digits folded to ``0``);
  Chinese jieba words (:mod:`pipeline.grade.zhwords`). Unigrams and bigrams, looked up in a term vocabulary.
- **chars**: character n-grams (``lo..hi``) of the normalised text, padded with a space,
  computed *vectorised* for a whole batch with a 64-bit polynomial hash and looked up by
  binary search in the sorted hash vocabulary. This keeps inference at thousands of
  segments per second in pure numpy.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from pipeline.grade.zhwords import cut as zh_cut

_WS = re.compile(r"\s+")
_DIGITS = re.compile(r"\d")
_WORD_EN = re.compile(r"\b\w\w+\b")
_SEP = "\x00"  # between documents in a batch; removed from the texts themselves
_HASH_MULT = np.uint64(0x100000001B3)  # FNV-64 prime
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_LEN_SALT = np.uint64(0x9E3779B97F4A7C15)


_DIGIT_FOLD = str.maketrans(
    {
        **{c: "0" for c in "123456789"},
        **{chr(0xFF10 + i): "0" for i in range(10)},
        _SEP: " ",
    }
)


def normalise(text: str) -> str:
    """Lower-case, fold ASCII and full-width digits to ``0``, collapse whitespace, drop NULs."""
    return " ".join(text.lower().translate(_DIGIT_FOLD).split())


# ---------------------------------------------------------------- word tokens


def word_tokens(norm: str, language: str) -> list[str]:
    """Unigrams and bigrams of an already :func:`normalise`-d text (bigrams joined by a space)."""
    if language == "zh":
        toks = [t for t in zh_cut(norm) if t.strip()]
    else:
        toks = _WORD_EN.findall(norm)
    return toks + [f"{a} {b}" for a, b in itertools.pairwise(toks)]


# ---------------------------------------------------------------- hashed char n-grams


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads the polynomial hash over all 64 bits."""
    h = h ^ (h >> np.uint64(30))
    h = h * _MIX_1
    h = h ^ (h >> np.uint64(27))
    h = h * _MIX_2
    return h ^ (h >> np.uint64(31))


def char_ngram_hashes(
    norms: Sequence[str], lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray]:
    """All character n-grams (``lo <= n <= hi``) of every text, as (doc index, 64-bit hash) arrays.

    ``norms`` are :func:`normalise`-d texts; each is padded with one space on each side and
    n-grams never cross from one text into the next.
    """
    if not norms:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    docs = [f" {t} " for t in norms]
    joined = _SEP.join(docs)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    # document id of each position; the separator after each document gets -1
    owner = np.repeat(np.arange(len(docs), dtype=np.int64), lengths + 1)
    owner[np.cumsum(lengths + 1) - 1] = -1
    owner = owner[: codes.shape[0]]
    total = codes.shape[0]
    h = np.zeros(total, dtype=np.uint64)
    out_docs: list[np.ndarray] = []
    out_hashes: list[np.ndarray] = []
    with np.errstate(over="ignore"):
        for n in range(1, hi + 1):
            m = total - n + 1
            if m <= 0:
                break
            h = h[:m] * _HASH_MULT + codes[n - 1 : n - 1 + m]
            if n < lo:
                continue
            first = owner[:m]
            valid = (first >= 0) & (first == owner[n - 1 : n - 1 + m])
            out_docs.append(first[valid])
            out_hashes.append(_mix(h[valid] ^ (np.uint64(n) * _LEN_SALT)))
    return np.concatenate(out_docs), np.concatenate(out_hashes)


_TABLE_BITS = 21


def slot_table(sorted_hashes: np.ndarray) -> np.ndarray:
    """Direct-address table on the low 21 bits: the index of the only hash in a slot, -1 if
    none, -2 if several share the slot (those fall back to binary search)."""
    size = 1 << _TABLE_BITS
    slots = (sorted_hashes & np.uint64(size - 1)).astype(np.int64)
    counts = np.bincount(slots, minlength=size)
    table = np.full(size, -1, dtype=np.int64)
    alone = counts[slots] == 1
    table[slots[alone]] = np.flatnonzero(alone)
    table[counts > 1] = -2
    return table


def lookup_sorted(
    sorted_hashes: np.ndarray, queries: np.ndarray, table: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """For each query hash: (found?, its index in ``sorted_hashes``)."""
    n = queries.shape[0]
    if sorted_hashes.shape[0] == 0 or n == 0:
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)
    if table is None:
        table = slot_table(sorted_hashes)
    where = table[(queries & np.uint64((1 << _TABLE_BITS) - 1)).astype(np.int64)]
    shared = np.flatnonzero(where == -2)
    if shared.shape[0]:
        pos = np.searchsorted(sorted_hashes, queries[shared])
        pos[pos >= sorted_hashes.shape[0]] = 0
        where[shared] = pos
    np.maximum(where, 0, out=where)
    return sorted_hashes[where] == queries, where


# ---------------------------------------------------------------- TF-IDF


def _tfidf_rows(
    rows: np.ndarray, cols: np.ndarray, n_docs: int, idf: np.ndarray
) -> sp.csr_matrix:
    """Sublinear TF-IDF, L2-normalised rows, from (doc, feature) occurrence pairs."""
    n_feat = idf.shape[0]
    key = np.sort(rows.astype(np.int64) * max(n_feat, 1) + cols.astype(np.int64))
    first = (
        np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        if key.shape[0]
        else np.zeros(0, np.int64)
    )
    tf = np.diff(np.r_[first, key.shape[0]])
    key = key[first]
    r = key // max(n_feat, 1)
    c = key - r * max(n_feat, 1)
    data = (1.0 + np.log(tf.astype(np.float64))) * idf[c]
    sq = np.bincount(r, weights=data * data, minlength=n_docs)
    norms = np.sqrt(sq)
    norms[norms == 0.0] = 1.0
    data /= norms[r]
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n_docs), out=indptr[1:])
    return sp.csr_matrix((data, c, indptr), shape=(n_docs, n_feat))


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values (plain sort + diff: faster than ``np.unique`` on large int arrays)."""
    if a.shape[0] == 0:
        return a
    a = np.sort(a)
    return a[np.r_[True, a[1:] != a[:-1]]]


def _smooth_idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    return np.log((1.0 + n_docs) / (1.0 + df)) + 1.0


@dataclass(frozen=True)
class Vectorizer:
    """A fitted feature extractor: plain arrays, saved to ``.npz`` without pickle.

    ``terms`` are word uni/bigrams (in column order), ``char_hashes`` the sorted 64-bit
    hashes of the kept character n-grams; ``word_idf``/``char_idf`` the matching idf.
    """

    language: str
    terms: tuple[str, ...]
    word_idf: np.ndarray
    char_hashes: np.ndarray
    char_idf: np.ndarray
    char_lo: int
    char_hi: int
    word_weight: float = 1.0
    char_weight: float = 1.0

    @property
    def n_features(self) -> int:
        return len(self.terms) + int(self.char_hashes.shape[0])

    def word_index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.terms)}

    def transform(
        self, texts: Sequence[str], _index: dict[str, int] | None = None
    ) -> sp.csr_matrix:
        """Feature matrix (``len(texts)`` x ``n_features``), float64 CSR with sorted indices."""
        index = _index if _index is not None else self.word_index()
        norms = [normalise(t) for t in texts]
        n = len(norms)
        rows: list[int] = []
        cols: list[int] = []
        get = index.get
        for i, norm in enumerate(norms):
            hits = [
                j for j in map(get, word_tokens(norm, self.language)) if j is not None
            ]
            rows.extend([i] * len(hits))
            cols.extend(hits)
        words = _tfidf_rows(
            np.asarray(rows, np.int64), np.asarray(cols, np.int64), n, self.word_idf
        )
        docs, hashes = char_ngram_hashes(norms, self.char_lo, self.char_hi)
        found, where = lookup_sorted(self.char_hashes, hashes, self._table())
        chars = _tfidf_rows(docs[found], where[found], n, self.char_idf)
        return sp.hstack(
            [words * self.word_weight, chars * self.char_weight],
            format="csr",
            dtype=np.float64,
        )

    def _table(self) -> np.ndarray:
        table = self.__dict__.get("_slot_table")
        if table is None:
            table = slot_table(self.char_hashes)
            object.__setattr__(self, "_slot_table", table)
        return table

    # ------------------------------------------------------------ (de)serialisation

    def arrays(self, prefix: str = "vec_") -> dict[str, np.ndarray]:
        return {
            f"{prefix}word_idf": self.word_idf.astype(np.float64),
            f"{prefix}char_hashes": self.char_hashes.astype(np.uint64),
            f"{prefix}char_idf": self.char_idf.astype(np.float64),
        }

    def meta(self) -> dict:
        return {
            "language": self.language,
            "char_lo": self.char_lo,
            "char_hi": self.char_hi,
            "word_weight": self.word_weight,
            "char_weight": self.char_weight,
            "n_terms": len(self.terms),
            "n_char_ngrams": int(self.char_hashes.shape[0]),
        }

    @classmethod
    def from_parts(
        cls, meta: dict, terms: Sequence[str], arrays: dict, prefix: str = "vec_"
    ) -> Vectorizer:
        vec = cls(
            language=str(meta["language"]),
            terms=tuple(terms),
            word_idf=np.asarray(arrays[f"{prefix}word_idf"], dtype=np.float64),
            char_hashes=np.asarray(arrays[f"{prefix}char_hashes"], dtype=np.uint64),
            char_idf=np.asarray(arrays[f"{prefix}char_idf"], dtype=np.float64),
            char_lo=int(meta["char_lo"]),
            char_hi=int(meta["char_hi"]),
            word_weight=float(meta["word_weight"]),
            char_weight=float(meta["char_weight"]),
        )
        problems = []
        if vec.word_idf.shape != (len(vec.terms),):
            problems.append(
                f"word_idf has shape {vec.word_idf.shape}, expected ({len(vec.terms)},)"
            )
        if vec.char_idf.shape != vec.char_hashes.shape:
            problems.append("char_idf and char_hashes differ in length")
        if vec.char_hashes.shape[0] > 1 and not np.all(
            vec.char_hashes[1:] > vec.char_hashes[:-1]
        ):
            problems.append("char_hashes are not strictly increasing")
        if int(meta.get("n_terms", len(vec.terms))) != len(vec.terms):
            problems.append("term count does not match the metadata")
        if problems:
            raise ValueError("; ".join(problems))
        return vec


def fit_vectorizer(
    texts: Sequence[str],
    language: str,
    *,
    char_lo: int = 2,
    char_hi: int = 5,
    min_df_words: int = 2,
    min_df_chars: int = 2,
    max_char_features: int | None = None,
    word_weight: float = 1.0,
    char_weight: float = 1.0,
) -> Vectorizer:
    """Learn the vocabularies and idf from ``texts`` (deterministic: ties broken by term/hash)."""
    n = len(texts)
    norms = [normalise(t) for t in texts]
    df: dict[str, int] = {}
    for norm in norms:
        for tok in set(word_tokens(norm, language)):
            df[tok] = df.get(tok, 0) + 1
    terms = sorted(t for t, c in df.items() if c >= min_df_words)
    word_idf = _smooth_idf(np.array([df[t] for t in terms], dtype=np.float64), n)

    docs, hashes = char_ngram_hashes(norms, char_lo, char_hi)
    uniq, inverse = np.unique(hashes, return_inverse=True)
    pairs = _sorted_unique(inverse.astype(np.int64) * max(n, 1) + docs)
    cdf = np.bincount(pairs // max(n, 1), minlength=uniq.shape[0])
    keep = cdf >= min_df_chars
    uniq, cdf = uniq[keep], cdf[keep]
    if max_char_features is not None and uniq.shape[0] > max_char_features:
        order = np.lexsort((uniq, -cdf))[:max_char_features]
        order.sort()
        uniq, cdf = uniq[order], cdf[order]
    char_idf = _smooth_idf(cdf.astype(np.float64), n)
    return Vectorizer(
        language=language,
        terms=tuple(terms),
        word_idf=word_idf,
        char_hashes=uniq.astype(np.uint64),
        char_idf=char_idf,
        char_lo=char_lo,
        char_hi=char_hi,
        word_weight=word_weight,
        char_weight=char_weight,
    )
