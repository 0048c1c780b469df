"""How well grades agree with careful reading: ``policyaudit evaluate --grades``.

    >>> dev = load_dev_set(Path("../shared/data"))                       # doctest: +SKIP
    >>> report = evaluate_grades(dev, load_rubric("rubrics/transparency.v2.yaml"))  # doctest: +SKIP

The development set (``ca4p-transparency-dev``: 40 CA4P policies, 19 criteria judged full /
partial / none by careful readers, an overall tier and score per policy, and each document's
type) is graded exactly as an audit grades it (read, segment, classify, grade), then compared:

* per criterion: exact agreement and quadratic-weighted kappa (none 0, partial 1, full 2);
* pooled kappa over all judgements, with a 95% bootstrap interval over policies;
* Spearman of the scores against the readers' scores, mean score offset, tier confusion,
  tier exact and within-one agreement; document-type accuracy.

The criterion rules were written with the dev set in view (that figure is in-sample: the
maintainers' held-out set is the honest test; :mod:`pipeline.train.span_truth` gives a check on the
443 other CA4P policies against levels derived from CA4P's own span annotations). What is *fitted* here, the criterion weights and
the tier thresholds (:func:`fit_weights`, :func:`fit_tiers`), is also reported cross-validated
by policy: folds of whole policies, fitted on the others' reader judgements and applied to the
held-out policies' machine levels.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from scipy.optimize import nnls
from scipy.stats import spearmanr

from pipeline.grade.classify import Classifiers, label_probabilities, load_classifiers
from pipeline.grade.grader import grade_policy
from pipeline.grade.rubric import load_rubric
from pipeline.read.reader import read_policy, segment_policies
from pipeline.records import FetchOutcome, FetchResult, Grade, Rubric
from pipeline.serve.corpus import corpus_site
from pipeline.settings import Settings
from pipeline.train.agreement import ORDINAL, agreement
from pipeline.train.opp_truth import CRITERIA_DERIVED, load_opp_truth, opp_dir
from pipeline.train.span_truth import evaluate_spans, format_span_check

DEV_DIR = "ca4p-transparency-dev"
#: rubric criterion id -> the dev set's criterion id
DEV_CRITERIA: Mapping[str, str] = {
    "updated_date": "dates",
    "scope": "scope",
    "controller_identity": "controller",
    "contact_channel": "contact",
    "information_collected": "collected",
    "purposes": "purpose",
    "consent_withdrawal": "consent",
    "user_rights": "rights",
    "third_party_sharing": "sharing",
    "retention_period": "retention",
    "security_measures": "security",
    "breach_notification": "breach",
    "minors": "minors",
    "cross_border": "crossborder",
    "policy_changes": "changes",
    "sensitive_info": "sensitive",
    "personalised_recommendation": "personalization",
    "cookies_tracking": "cookies",
    "third_party_sdks": "sdk",
}
CREDIT: Mapping[str, float] = {"none": 0.0, "partial": 0.5, "full": 1.0}
#: the readers' tier names -> rubric tier ids, best first
TIER_IDS: Mapping[str, str] = {"高": "high", "较高": "relatively_high", "中": "medium", "较低": "relatively_low", "低": "low"}
#: dev document types -> the project's document types
DOCTYPES: Mapping[str, str] = {
    "privacy_policy": "privacy_policy",
    "user_agreement": "user_agreement",
    "agreement_with_privacy_section": "agreement_with_privacy_section",
    "agreement_with_privacy_policy": "agreement_with_privacy_section",
}
FOLDS = 5
#: pulls fitted weights towards equal weights (points per unit of squared deviation)
WEIGHT_PRIOR = 0.1


@dataclass(frozen=True)
class DevPolicy:
    policy_id: str
    path: Path  # the raw CA4P file, audited as fetched
    levels: Mapping[str, str]  # dev criterion id -> none / partial / full
    tier: str  # rubric tier id
    score: float
    doctype: str


def load_dev_set(shared_data: Path) -> list[DevPolicy]:
    """The 40 dev policies with the readers' judgements. Raises FileNotFoundError naming the file."""
    root = shared_data / DEV_DIR
    raw = shared_data / "ca4p-483" / "raw_data"
    levels: dict[str, dict[str, str]] = {}
    overall: dict[str, tuple[str, float]] = {}
    with (root / "labels.csv").open(encoding="utf-8", newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            pid, crit, level = row["policy_id"], row["criterion"], row["level"]
            if crit == "overall":
                if level not in TIER_IDS:
                    raise ValueError(f"{root / 'labels.csv'}:{line}: unknown tier {level!r}")
                overall[pid] = (TIER_IDS[level], float(row["note"]))
            elif level in ORDINAL:
                levels.setdefault(pid, {})[crit] = level
            else:
                raise ValueError(f"{root / 'labels.csv'}:{line}: unknown level {level!r}")
    with (root / "doctypes.csv").open(encoding="utf-8", newline="") as fh:
        doctypes = {r["policy_id"]: DOCTYPES.get(r["doctype"], "other") for r in csv.DictReader(fh)}
    return [
        DevPolicy(pid, raw / f"{pid}.html", levels[pid], overall[pid][0], overall[pid][1], doctypes.get(pid, "privacy_policy"))
        for pid in sorted(levels)
    ]


# ---------------------------------------------------------------- agreement


# ---------------------------------------------------------------- weights and tiers


def fit_weights(criteria: Sequence[str], levels: Sequence[Mapping[str, str]], scores: Sequence[float], fixed_total: float = 100.0) -> dict[str, float]:
    """Non-negative weights summing to ``fixed_total`` so that sum(weight x credit) tracks ``scores``.

    Least squares on the readers' own levels and scores, pulled towards equal weights by
    :data:`WEIGHT_PRIOR`; weights are rounded to halves and the rounding error is given to the
    largest weight so they sum to ``fixed_total`` exactly.
    """
    k = len(criteria)
    x = np.array([[CREDIT[lv.get(c, "none")] for c in criteria] for lv in levels])
    y = np.array(scores, dtype=float)
    prior = fixed_total / k
    lam = np.sqrt(WEIGHT_PRIOR * len(y))
    big = 100.0
    a = np.vstack([x, lam * np.eye(k), big * np.ones((1, k))])
    b = np.concatenate([y, lam * prior * np.ones(k), [big * fixed_total]])
    w, _ = nnls(a, b)
    w = np.round(w * fixed_total / max(w.sum(), 1e-9) * 2) / 2
    w[np.argmax(w)] += fixed_total - w.sum()
    return {c: float(v) for c, v in zip(criteria, w, strict=True)}


def score_of(levels: Mapping[str, str], weights: Mapping[str, float]) -> float:
    return round(sum(w * CREDIT[levels.get(c, "none")] for c, w in weights.items()), 1)


def fit_tiers(tier_ids: Sequence[str], scores: Sequence[float], tiers: Sequence[str]) -> dict[str, float]:
    """Min scores per tier (best first; the last is 0) that best reproduce the readers' tiers.

    Each threshold is the midpoint between the highest score of the tier below and the lowest
    of the tier above, searched jointly over candidate cut points for the fewest misplaced
    policies (ties: the midpoint)."""
    order = list(tier_ids)
    rank = {t: i for i, t in enumerate(order)}
    pairs = sorted(zip(scores, (rank[t] for t in tiers), strict=True))
    cuts: dict[str, float] = {order[-1]: 0.0}
    lower = 0.0
    for r in range(len(order) - 2, -1, -1):  # from the second lowest tier up
        best: tuple[int, float] | None = None
        candidates = sorted({s for s, _ in pairs if s > lower} | {lower + 0.5})
        for cut in candidates:
            errors = sum(1 for s, t in pairs if (s >= cut) != (t <= r))
            if best is None or errors < best[0]:
                best = (errors, cut)
        assert best is not None
        # midpoint between the cut and the highest score below it
        below = [s for s, _ in pairs if s < best[1]]
        cut = round((best[1] + max(below)) / 2, 1) if below else best[1]
        cuts[order[r]] = max(cut, lower + 0.5)
        lower = cuts[order[r]]
    return {t: cuts[t] for t in order}


def tier_of(score: float, thresholds: Mapping[str, float]) -> str:
    for tid, cut in thresholds.items():  # best first
        if score >= cut:
            return tid
    return list(thresholds)[-1]


def tier_agreement(truth: Sequence[str], pred: Sequence[str], order: Sequence[str]) -> dict:
    rank = {t: i for i, t in enumerate(order)}
    diffs = [abs(rank[a] - rank[b]) for a, b in zip(truth, pred, strict=True)]
    confusion = [[sum(1 for a, b in zip(truth, pred, strict=True) if a == ti and b == tj) for tj in order] for ti in order]
    return {
        "exact": round(float(np.mean([d == 0 for d in diffs])), 3),
        "within_one": round(float(np.mean([d <= 1 for d in diffs])), 3),
        "confusion": {"rows_truth_cols_pred": list(order), "counts": confusion},
    }


def score_agreement(truth: Sequence[float], pred: Sequence[float]) -> dict:
    return {
        "spearman": round(float(spearmanr(pred, truth)[0]), 3),
        "mean_offset": round(float(np.mean(np.array(pred) - np.array(truth))), 2),
        "mean_abs_error": round(float(np.mean(np.abs(np.array(pred) - np.array(truth)))), 2),
    }


def folds_by_policy(ids: Sequence[str], k: int = FOLDS, seed: int = 13) -> list[list[str]]:
    shuffled = sorted(ids)
    random.Random(seed).shuffle(shuffled)
    return [shuffled[i::k] for i in range(k)]


# ---------------------------------------------------------------- the whole evaluation


GradeFn = Callable[[Path], tuple[Grade, str | None]]  # raw file -> (grade, document type)


def evaluate_grades(dev: Sequence[DevPolicy], rubric: Rubric, grade_file: GradeFn) -> dict:
    """Grade every dev policy with ``grade_file`` and compare with the readers (module docstring)."""
    inv = {v: k for k, v in DEV_CRITERIA.items()}
    truth = {p.policy_id: dict(p.levels) for p in dev}
    pred: dict[str, dict[str, str]] = {}
    scores: dict[str, float] = {}
    tiers: dict[str, str] = {}
    doctype_pred: dict[str, str | None] = {}
    machine_levels: dict[str, dict[str, str]] = {}  # rubric criterion id -> level, incl. policy_exists
    for p in dev:
        g, doctype = grade_file(p.path)
        doctype_pred[p.policy_id] = doctype
        by_id = {c.criterion_id: c.level.value for c in g.criteria}
        machine_levels[p.policy_id] = by_id
        pred[p.policy_id] = {DEV_CRITERIA[c]: lv for c, lv in by_id.items() if c in DEV_CRITERIA}
        scores[p.policy_id] = g.score if g.score is not None else 0.0
        tiers[p.policy_id] = g.tier or rubric.lowest_tier.id
    ids = [p.policy_id for p in dev]
    order = [t.id for t in rubric.tiers]
    reader_scores = [p.score for p in dev]
    out: dict = {
        "dataset": DEV_DIR,
        "rubric": f"{rubric.id}@{rubric.version}",
        "criteria_in_sample": agreement(truth, pred),
        "scores_in_sample": score_agreement(reader_scores, [scores[i] for i in ids]),
        "tiers_in_sample": tier_agreement([p.tier for p in dev], [tiers[i] for i in ids], order),
        "doctype": {
            "accuracy": round(float(np.mean([doctype_pred[p.policy_id] == p.doctype for p in dev])), 3),
            "correct": sum(doctype_pred[p.policy_id] == p.doctype for p in dev),
            "n": len(dev),
            "errors": {p.policy_id: [p.doctype, doctype_pred[p.policy_id]] for p in dev if doctype_pred[p.policy_id] != p.doctype},
        },
    }
    out["cross_validated"] = _cross_validate(dev, rubric, machine_levels, inv)
    return out


def _reader_levels(p: DevPolicy, inv: Mapping[str, str]) -> dict[str, str]:
    """The readers' levels keyed by rubric criterion id, with policy_exists from the document type."""
    levels = {inv[c]: lv for c, lv in p.levels.items() if c in inv}
    levels["policy_exists"] = {"privacy_policy": "full", "agreement_with_privacy_section": "partial"}.get(p.doctype, "none")
    return levels


def _cross_validate(dev: Sequence[DevPolicy], rubric: Rubric, machine: Mapping[str, Mapping[str, str]], inv: Mapping[str, str]) -> dict:
    """Weights and tiers fitted on 4/5 of the policies (readers' judgements), applied to the rest."""
    criteria = [c.id for c in rubric.criteria]
    order = [t.id for t in rubric.tiers]
    by_id = {p.policy_id: p for p in dev}
    cv_scores: dict[str, float] = {}
    cv_tiers: dict[str, str] = {}
    for fold in folds_by_policy(list(by_id)):
        train = [by_id[i] for i in by_id if i not in fold]
        w = fit_weights(criteria, [_reader_levels(p, inv) for p in train], [p.score for p in train])
        train_scores = [score_of(_reader_levels(p, inv), w) for p in train]
        th = fit_tiers(order, train_scores, [p.tier for p in train])
        for i in fold:
            cv_scores[i] = score_of(machine[i], w)
            cv_tiers[i] = tier_of(cv_scores[i], th)
    ids = sorted(by_id)
    full_w = fit_weights(criteria, [_reader_levels(by_id[i], inv) for i in ids], [by_id[i].score for i in ids])
    full_th = fit_tiers(order, [score_of(_reader_levels(by_id[i], inv), full_w) for i in ids], [by_id[i].tier for i in ids])
    return {
        "folds": FOLDS,
        "scores": score_agreement([by_id[i].score for i in ids], [cv_scores[i] for i in ids]),
        "tiers": tier_agreement([by_id[i].tier for i in ids], [cv_tiers[i] for i in ids], order),
        "fitted_on_all": {"weights": full_w, "tier_min_scores": full_th},
    }


def format_grade_metrics(m: Mapping) -> str:
    """The evaluation as text tables."""
    lines = [f"Grades against careful reading: {m['dataset']} ({m['criteria_in_sample']['policies']} policies), rubric {m['rubric']}", ""]
    lines.append(f"{'criterion':16s} {'exact':>6s} {'kappa':>6s}  truth f/p/n   machine f/p/n")
    for c, r in m["criteria_in_sample"]["criteria"].items():
        lines.append(f"{c:16s} {r['exact']:6.2f} {r['kappa']:6.2f}  {'/'.join(map(str, r['truth_fpn'])):12s} {'/'.join(map(str, r['pred_fpn']))}")
    a = m["criteria_in_sample"]
    lines.append(f"{'POOLED':16s} {a['pooled_exact']:6.2f} {a['pooled_kappa']:6.2f}  95% CI {a['pooled_kappa_ci95']} over policies; {a['judgements']} judgements")
    s, t = m["scores_in_sample"], m["tiers_in_sample"]
    lines.append("")
    lines.append(f"in sample (rubric's own weights/tiers): Spearman {s['spearman']}, mean offset {s['mean_offset']:+}, MAE {s['mean_abs_error']}; tier exact {t['exact']}, within one {t['within_one']}")
    cv = m["cross_validated"]
    lines.append(
        f"cross-validated by policy ({cv['folds']} folds; weights and tiers fitted on the other folds): Spearman {cv['scores']['spearman']}, "
        f"mean offset {cv['scores']['mean_offset']:+}, MAE {cv['scores']['mean_abs_error']}; tier exact {cv['tiers']['exact']}, within one {cv['tiers']['within_one']}"
    )
    d = m["doctype"]
    lines.append(f"document type: {d['correct']} of {d['n']} right" + (f"; errors {d['errors']}" if d["errors"] else ""))
    if "english" in m:
        e = m["english"]
        lines += ["", f"English: {e['dataset']}, {e['policies']} policies"]
        for c, r in e["criteria"].items():
            lines.append(f"{c:16s} {r['exact']:6.2f} {r['kappa']:6.2f}  {'/'.join(map(str, r['truth_fpn'])):12s} {'/'.join(map(str, r['pred_fpn']))}")
        lines.append(f"{'POOLED':16s} {e['pooled_exact']:6.2f} {e['pooled_kappa']:6.2f}  95% CI {e['pooled_kappa_ci95']}; {e['judgements']} judgements")
        if "halves" in e:
            h = e["halves"]
            lines.append(
                "halves (" + e.get("halves_rule", "") + "): "
                + "; ".join(f"{n} {h[n]['policies']} policies pooled kappa {h[n]['pooled_kappa']}" for n in ("tuning", "held_out"))
            )
    if "ca4p_spans" in m:
        lines += format_span_check(m["ca4p_spans"])
    return "\n".join(lines)


# ---------------------------------------------------------------- running it on the real data


def dev_levels(g: Grade) -> dict[str, str]:
    """A grade's levels keyed by the dev set's criterion ids."""
    return {DEV_CRITERIA[c.criterion_id]: c.level.value for c in g.criteria if c.criterion_id in DEV_CRITERIA}


def grade_body(body: bytes, rubric: Rubric, classifiers: Classifiers, content_type: str = "text/html; charset=utf-8") -> Grade:
    """Read, segment, classify and grade one document exactly as an audit does."""
    fetch = FetchResult("file:", FetchOutcome.OK, datetime.now(UTC), content_type=content_type, body=body, size=len(body))
    policy = read_policy(fetch)
    segments, _err = segment_policies([policy])[0]
    labels = label_probabilities(classifiers, {0: (policy, segments)}).get(0)
    return grade_policy(policy, segments, rubric, classifiers, labels)


def evaluate_english(shared_data: Path, rubric: Rubric, classifiers: Classifiers) -> dict:
    """The same criteria on the 115 OPP-115 policies, against truth derived from the annotators'
    practice attributes (:mod:`pipeline.train.opp_truth`; criteria it cannot decide are left out)."""
    truth = load_opp_truth(shared_data)
    routes, _rows = corpus_site("opp115", opp_dir(shared_data) / "sanitized_policies")
    pred: dict[str, dict[str, str]] = {}
    for stem in sorted(truth):
        route = routes.get(f"/opp115/{stem}.html")
        if route is None:
            continue
        g = grade_body(route.body, rubric, classifiers)
        pred[stem] = dev_levels(g)
    graded = {s: truth[s] for s in pred}
    out = agreement(graded, pred)
    out["dataset"] = "opp-115 (criterion truth derived from practice attributes, 2 of 3 annotators)"
    out["derivation"] = dict(CRITERIA_DERIVED)
    out["halves"] = {
        name: agreement({s: graded[s] for s in stems}, {s: pred[s] for s in stems})
        for name, stems in english_halves(graded).items()
    }
    out["halves_rule"] = HALVES_RULE
    return out


HALVES_RULE = "stems sorted as strings; even positions (0, 2, 4, ...) tuning, odd positions held out"


def english_halves(stems: Iterable[str]) -> dict[str, list[str]]:
    """The OPP-115 policies split in two fixed halves: ``tuning`` and ``held_out``.

    The rule (chosen before any result was looked at, and never to be changed to suit one):
    sort the policy stems (``<uid>_<site>``) as strings; the policies at even positions
    (0, 2, 4, ...) are the tuning half, those at odd positions the held-out half. English rule
    patterns are written looking at mismatches of the tuning half only; the held-out half's
    agreement is the honest figure for them.
    """
    ordered = sorted(stems)
    return {"tuning": ordered[0::2], "held_out": ordered[1::2]}


def run_grade_evaluation(shared_data: Path, rubric_path: Path, models_dir: Path, out: Path | None = None) -> dict:
    """Evaluate ``rubric_path`` on the Chinese dev set, the English OPP-115 truth and the CA4P span
    levels of the policies outside the dev set; write the JSON
    to ``out`` (default ``models_dir/grades_metrics.json``, which also publishes the summary beside the
    rubric for the methodology page)."""
    rubric = load_rubric(rubric_path)
    classifiers = load_classifiers(Settings(models_dir=models_dir, use_classifier=True))  # rules only without models

    graded: dict[Path, Grade] = {}  # the dev policies are graded once for both Chinese checks

    def grade_file(path: Path) -> tuple[Grade, str | None]:
        if path not in graded:
            graded[path] = grade_body(path.read_bytes(), rubric, classifiers)
        return graded[path], graded[path].doctype

    dev = load_dev_set(shared_data)
    metrics = evaluate_grades(dev, rubric, grade_file)
    metrics["model_version"] = classifiers.version
    metrics["rubric_file"] = rubric_path.name
    metrics["english"] = evaluate_english(shared_data, rubric, classifiers)
    readers = {p.policy_id: dict(p.levels) for p in dev}
    metrics["ca4p_spans"] = evaluate_spans(shared_data, readers, lambda path: dev_levels(grade_file(path)[0]))
    dest = out or models_dir / "grades_metrics.json"
    _write_json(dest, metrics)
    if out is None:  # the published summary travels with the rubric file (the methodology page shows it)
        _write_json(agreement_path(rubric_path), agreement_summary(metrics))
    return metrics


def _write_json(dest: Path, data: Mapping) -> None:
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(dest)


def agreement_path(rubric_path: Path) -> Path:
    """``rubrics/transparency.v2.yaml`` -> ``rubrics/transparency.v2.agreement.json``."""
    return rubric_path.with_name(rubric_path.stem + ".agreement.json")


def agreement_summary(m: Mapping) -> dict:
    """The figures a methodology page states, from a full evaluation."""
    a, cv = m["criteria_in_sample"], m["cross_validated"]
    return {
        "rubric": m["rubric"],
        "dataset": m["dataset"],
        "policies": a["policies"],
        "judgements": a["judgements"],
        "pooled_kappa": a["pooled_kappa"],
        "pooled_kappa_ci95": a["pooled_kappa_ci95"],
        "criteria_kappa": {c: r["kappa"] for c, r in a["criteria"].items()},
        "cv_spearman": cv["scores"]["spearman"],
        "cv_mean_offset": cv["scores"]["mean_offset"],
        "cv_tier_exact": cv["tiers"]["exact"],
        "cv_tier_within_one": cv["tiers"]["within_one"],
        "doctype_correct": m["doctype"]["correct"],
        "english_pooled_kappa": m["english"]["pooled_kappa"] if "english" in m else None,
        "english_policies": m["english"]["policies"] if "english" in m else None,
        "english_held_out_kappa": m["english"]["halves"]["held_out"]["pooled_kappa"] if "halves" in m.get("english", {}) else None,
        "held_out_spans": _held_out_summary(m["ca4p_spans"]) if "ca4p_spans" in m else None,
        "command": "policyaudit evaluate --grades --data ../shared/data --rubric rubrics/" + m.get("rubric_file", ""),
    }


def _held_out_summary(s: Mapping) -> dict:
    m = s["machine_vs_spans_held_out"]
    return {"policies": m["policies"], "criteria_kappa": {c: r["kappa"] for c, r in m["criteria"].items() if c != "sharing"}}
