"""Agreement of machine levels with a reference: quadratic-weighted kappa per criterion and pooled.

    agreement({"p1": {"purpose": "full"}}, {"p1": {"purpose": "partial"}})

Levels are ordinal (none 0, partial 1, full 2). The pooled kappa comes with a 95% bootstrap interval
over policies (whole policies are resampled, as judgements within a policy are not independent).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import cohen_kappa_score

ORDINAL: Mapping[str, int] = {"none": 0, "partial": 1, "full": 2}
BOOTSTRAP = 1000


def qwk(truth: Sequence[int], pred: Sequence[int]) -> float:
    """Quadratic-weighted kappa on the three levels (1.0 when both raters are constant and equal)."""
    if len(set(truth) | set(pred)) == 1:
        return 1.0
    return float(cohen_kappa_score(truth, pred, weights="quadratic", labels=[0, 1, 2]))


def agreement(truth: Mapping[str, Mapping[str, str]], pred: Mapping[str, Mapping[str, str]], seed: int = 0) -> dict:
    """Per-criterion and pooled agreement of ``pred`` with ``truth`` (policy -> criterion -> level)."""
    policies = sorted(truth)
    criteria = sorted({c for p in policies for c in truth[p]})
    per: dict[str, dict] = {}
    pooled_t: list[int] = []
    pooled_p: list[int] = []
    for c in criteria:
        t = [ORDINAL[truth[p][c]] for p in policies if c in truth[p]]
        q = [ORDINAL[pred[p].get(c, "none")] for p in policies if c in truth[p]]
        pooled_t += t
        pooled_p += q
        per[c] = {
            "n": len(t),
            "exact": round(float(np.mean(np.array(t) == np.array(q))), 3),
            "kappa": round(qwk(t, q), 3),
            "truth_fpn": [t.count(2), t.count(1), t.count(0)],
            "pred_fpn": [q.count(2), q.count(1), q.count(0)],
        }
    rng = random.Random(seed)
    draws = []
    for _ in range(BOOTSTRAP):
        sample = [rng.choice(policies) for _ in policies]
        bt = [ORDINAL[truth[p][c]] for p in sample for c in truth[p]]
        bp = [ORDINAL[pred[p].get(c, "none")] for p in sample for c in truth[p]]
        draws.append(qwk(bt, bp))
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return {
        "criteria": per,
        "pooled_kappa": round(qwk(pooled_t, pooled_p), 3),
        "pooled_kappa_ci95": [round(float(lo), 3), round(float(hi), 3)],
        "pooled_exact": round(float(np.mean(np.array(pooled_t) == np.array(pooled_p))), 3),
        "judgements": len(pooled_t),
        "policies": len(policies),
    }
