"""Segment classifiers: pickle-free save/load, faithful inference, errors, quality floors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import ModelError
from pipeline.grade.classify import load_classifier, model_paths
from pipeline.grade.features import char_ngram_hashes, fit_vectorizer, normalise
from pipeline.train.corpora import OPP_LABELS, ZH_LABELS, Corpus, split_ids
from pipeline.train.model import MemberSpec, Recipe, fit_model, save_model, tune_threshold

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"
SHARED = REPO.parent / "shared" / "data"

# Text written for these tests (not from any real policy).
_FIXTURE = [
    ("We keep your account records for two years and then delete them.", {"keep"}),
    ("Records of your orders are stored for seven years for tax reasons.", {"keep"}),
    ("Log files are retained for ninety days before they are erased.", {"keep"}),
    ("We hold backup copies for a limited period only.", {"keep"}),
    ("We share your email address with our advertising partners.", {"share"}),
    ("Partners may receive your purchase history to show you offers.", {"share"}),
    ("Your location is disclosed to analytics providers we work with.", {"share"}),
    ("We sell aggregated data to marketing companies.", {"share"}),
    (
        "We share order records with couriers and keep them for a year.",
        {"share", "keep"},
    ),
    (
        "Analytics partners get logs, which we retain for thirty days.",
        {"share", "keep"},
    ),
    ("You can contact our privacy office by post or by email.", {"contact"}),
    (
        "Questions about this notice can be sent to our data protection officer.",
        {"contact"},
    ),
    ("Write to the privacy team at our head office with any request.", {"contact"}),
    ("This notice explains how the service works.", set()),
    ("Thank you for reading our terms.", set()),
    ("The service is available in several countries.", set()),
]
_LABELS = ["contact", "keep", "share"]


def _corpus(rows) -> Corpus:
    return Corpus(tuple(t for t, _ in rows), tuple(frozenset(ls) for _, ls in rows))


@pytest.fixture(scope="module")
def small_model():
    recipe = Recipe(
        char_lo=2,
        char_hi=4,
        min_df_words=1,
        min_df_chars=1,
        members=(MemberSpec("lr", 5.0), MemberSpec("svm", 0.5, weight=0.5)),
    )
    train, val = _corpus(_FIXTURE[::2] + _FIXTURE[1::4]), _corpus(_FIXTURE[1::2])
    return fit_model("en", _LABELS, train, val, recipe, seed=3)


@pytest.fixture()
def saved(small_model, tmp_path):
    save_model(small_model, tmp_path)
    return tmp_path


def _needs_models(language: str) -> None:
    if not model_paths(language, MODELS)["model"].is_file():
        pytest.skip(f"no trained {language} model in {MODELS}; run `policyaudit train`")


def _needs_shared() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the labelled datasets live in ../shared/data")


# ---------------------------------------------------------------- save / load without pickle


def test_loaded_model_reproduces_sklearn_probabilities_and_predictions(
    small_model, saved
):
    clf = load_classifier("en", models_dir=saved)
    texts = [t for t, _ in _FIXTURE] + [
        "We retain logs for a year and share them with partners.",
        "",
        "？！",
    ]
    ref = small_model.sklearn_proba(texts)
    got = np.array([[d[lab] for lab in clf.labels] for d in clf.predict_proba(texts)])
    assert got.shape == (len(texts), 3)
    np.testing.assert_allclose(got, ref, atol=1e-6)
    assert clf.predict(texts) == small_model.predict(texts)


def test_cross_validated_model_with_weak_labels_saves_and_loads_faithfully(tmp_path):
    rows = _FIXTURE * 2
    weak = tuple(
        frozenset({"contact"}) if "notice" in t else frozenset() for t, _ in rows
    )
    corpus = Corpus(
        tuple(f"{t} ({i})" for i, (t, _) in enumerate(rows)),
        tuple(frozenset(ls) for _, ls in rows),
        weak,
    )
    recipe = Recipe(
        char_lo=1,
        char_hi=3,
        min_df_words=1,
        min_df_chars=1,
        minority_weight=0.2,
        cv_folds=2,
        members=(MemberSpec("svm", 1.0),),
    )
    model = fit_model(
        "en",
        _LABELS,
        corpus.subset(range(20)),
        corpus.subset(range(20, 32)),
        recipe,
        seed=5,
    )
    save_model(model, tmp_path)
    clf = load_classifier("en", models_dir=tmp_path)
    texts = list(corpus.texts)
    got = np.array([[d[lab] for lab in clf.labels] for d in clf.predict_proba(texts)])
    np.testing.assert_allclose(got, model.sklearn_proba(texts), atol=1e-6)
    assert clf.predict(texts) == model.predict(texts)
    assert (
        json.loads(model_paths("en", tmp_path)["model"].read_text())["recipe"][
            "cv_folds"
        ]
        == 2
    )


def test_loaded_model_exposes_labels_thresholds_and_version(small_model, saved):
    clf = load_classifier("en", models_dir=saved)
    assert clf.labels == _LABELS
    assert clf.thresholds == small_model.thresholds
    assert set(clf.thresholds) == set(_LABELS)
    assert isinstance(clf.version, str) and re.fullmatch(r"\d+\.\d+\.\d+", clf.version)


def test_saved_arrays_load_with_allow_pickle_false(saved):
    with np.load(model_paths("en", saved)["arrays"], allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)
        assert "m0_coef" in npz.files and "vec_char_hashes" in npz.files


def test_training_the_same_data_twice_gives_identical_models(small_model):
    recipe = small_model.recipe
    train, val = _corpus(_FIXTURE[::2] + _FIXTURE[1::4]), _corpus(_FIXTURE[1::2])
    again = fit_model("en", _LABELS, train, val, recipe, seed=3)
    assert again.thresholds == small_model.thresholds
    assert again.vectorizer.terms == small_model.vectorizer.terms
    texts = [t for t, _ in _FIXTURE]
    np.testing.assert_array_equal(
        again.sklearn_proba(texts), small_model.sklearn_proba(texts)
    )


def test_predict_rejects_a_single_string(saved):
    clf = load_classifier("en", models_dir=saved)
    with pytest.raises(TypeError, match="list of strings"):
        clf.predict("We keep data.")
    assert clf.predict([]) == []


# ---------------------------------------------------------------- errors


def test_missing_model_raises_model_error_naming_the_file(tmp_path):
    with pytest.raises(ModelError, match=r"model file missing: .*en.*model\.json"):
        load_classifier("en", models_dir=tmp_path)


def test_unknown_language_raises_model_error(saved):
    with pytest.raises(ModelError, match="no classifier for language 'fr'"):
        load_classifier("fr", models_dir=saved)


def test_altered_arrays_file_raises_model_error(saved):
    arrays = model_paths("en", saved)["arrays"]
    data = bytearray(arrays.read_bytes())
    data[len(data) // 2] ^= 0xFF
    arrays.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256 does not match"):
        load_classifier("en", models_dir=saved)


def test_pickled_object_array_is_refused_even_with_matching_checksum(saved):
    paths = model_paths("en", saved)
    with np.load(paths["arrays"], allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["m0_intercept"] = np.array([{"evil": 1}] * 3, dtype=object)
    np.savez(paths["arrays"], **arrays)
    meta = json.loads(paths["model"].read_text())
    import hashlib

    meta["sha256"]["arrays.npz"] = hashlib.sha256(
        paths["arrays"].read_bytes()
    ).hexdigest()
    paths["model"].write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="inconsistent or corrupt"):
        load_classifier("en", models_dir=saved)


def test_truncated_model_json_raises_model_error(saved):
    path = model_paths("en", saved)["model"]
    path.write_text(path.read_text()[:50])
    with pytest.raises(ModelError, match="not valid JSON"):
        load_classifier("en", models_dir=saved)


def test_coefficient_shape_mismatch_raises_model_error(saved, tmp_path):
    other = tmp_path / "copy"
    shutil.copytree(saved, other)
    paths = model_paths("en", other)
    meta = json.loads(paths["model"].read_text())
    meta["labels"] = meta["labels"] + ["extra"]
    meta["thresholds"]["extra"] = 0.5
    paths["model"].write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="shape"):
        load_classifier("en", models_dir=other)


# ---------------------------------------------------------------- features and tuning


@pytest.mark.parametrize(
    "texts", [["ab", "cd"], ["a", "", "xyz abc"], ["隐私 政策", "数据"]]
)
def test_char_ngrams_never_cross_from_one_text_into_the_next(texts):
    docs, hashes = char_ngram_hashes([normalise(t) for t in texts], 1, 3)
    for i, t in enumerate(texts):
        _alone_docs, alone = char_ngram_hashes([normalise(t)], 1, 3)
        assert sorted(hashes[docs == i].tolist()) == sorted(alone.tolist())


def test_vectorizer_rows_are_unit_length_per_block():
    vec = fit_vectorizer(
        ["we keep data", "we share data", "keep it"],
        "en",
        min_df_words=1,
        min_df_chars=1,
    )
    X = vec.transform(["we keep data", "nothing known here 42"])
    n_words = len(vec.terms)
    words, chars = X[:, :n_words].toarray(), X[:, n_words:].toarray()
    assert np.isclose(np.linalg.norm(words[0]), 1.0) and np.isclose(
        np.linalg.norm(chars[0]), 1.0
    )
    assert np.linalg.norm(words[1]) == 0.0  # no known word


def test_tune_threshold_separates_perfectly_separable_scores():
    p = np.array([0.9, 0.8, 0.3, 0.2, 0.1])
    y = np.array([1, 1, 0, 0, 0])
    th = tune_threshold(p, y)
    assert 0.3 < th < 0.8
    assert tune_threshold(p, np.zeros(5, int)) == 0.5


def test_split_ids_are_disjoint_seeded_and_cover_every_text():
    texts = [f"句子{i}" for i in range(100)]
    a, b = split_ids(texts, 13), split_ids(texts, 13)
    assert a == b
    assert split_ids(texts, 14) != a
    sets = [set(a[k]) for k in ("train", "validation", "test")]
    assert sum(map(len, sets)) == 100 and len(set().union(*sets)) == 100
    assert len(sets[0]) == 70 and len(sets[1]) == 15


# ---------------------------------------------------------------- the trained models in models/


@pytest.mark.parametrize(
    ("language", "labels"), [("en", list(OPP_LABELS)), ("zh", list(ZH_LABELS))]
)
def test_repo_model_has_the_dataset_labels_and_thresholds(language, labels):
    _needs_models(language)
    clf = load_classifier(language)
    assert clf.labels == labels
    assert set(clf.thresholds) == set(labels)
    assert all(0.0 < v < 1.0 for v in clf.thresholds.values())
    assert isinstance(clf.version, str) and clf.version


@pytest.mark.parametrize(
    ("language", "text", "label"),
    [
        (
            "en",
            "We retain your personal information for five years after your account is closed.",
            "Data Retention",
        ),
        (
            "en",
            "We use encryption and firewalls to protect your information from unauthorised access.",
            "Data Security",
        ),
        (
            "en",
            "Our services are not directed to children under 13 and we do not knowingly collect their data.",
            "International and Specific Audiences",
        ),
        (
            "zh",
            "我们会采取加密技术等安全措施保护您的个人信息，防止数据遭到未经授权的访问。",
            "CR15",
        ),
        (
            "zh",
            "如您对本政策有任何疑问，可以通过电子邮件与我们的个人信息保护负责人联系。",
            "CR4",
        ),
    ],
)
def test_repo_model_ranks_the_obvious_label_first(language, text, label):
    _needs_models(language)
    clf = load_classifier(language)
    proba = clf.predict_proba([text])[0]
    # Chinese sentences carry a category (PC) and rules (CR): rank within the label's own kind
    same_kind = {
        k: v for k, v in proba.items() if k[:2] == label[:2] or language == "en"
    }
    top = max(same_kind, key=same_kind.get)
    assert top == label, (
        f"top label {top} ({proba[top]:.2f}); {label} {proba[label]:.2f}"
    )
    assert label in clf.predict([text])[0]


def test_zh_split_file_holds_only_hashes():
    _needs_models("zh")
    doc = json.loads((MODELS / "zh" / "split.json").read_text(encoding="utf-8"))
    ids = doc["train"] + doc["validation"] + doc["test"]
    assert ids and all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_model_files_stay_under_50_mb():
    for language in ("en", "zh"):
        folder = model_paths(language, MODELS)["dir"]
        if folder.is_dir():
            size = sum(p.stat().st_size for p in folder.iterdir())
            assert size <= 50 * 1024 * 1024, f"{folder} is {size / 1e6:.1f} MB"


# ---------------------------------------------------------------- quality floors


def _floors() -> dict:
    return json.loads((MODELS / "floors.json").read_text(encoding="utf-8"))


def _check(metrics: dict, floors: dict) -> list[str]:
    low = []
    for key, floor in floors.items():
        value = metrics.get(key)
        if value is None or value < floor:
            low.append(f"{key}: {value} < floor {floor}")
    return low


@pytest.mark.parametrize("language", ["en", "zh"])
def test_saved_model_metrics_are_not_below_floors(language):
    """Recomputes the test-split metrics of the saved models and compares with models/floors.json."""
    _needs_shared()
    _needs_models(language)
    from pipeline.train.corpora import apply_split, load_opp115_split, load_viodroid
    from pipeline.train.model import score_corpus

    clf = load_classifier(language)
    if language == "en":
        metrics = score_corpus(
            clf.predict, load_opp115_split(SHARED, "test"), OPP_LABELS
        )
        key = "en_standard_test"
    else:
        doc = json.loads((MODELS / "zh" / "split.json").read_text(encoding="utf-8"))
        parts = apply_split(
            load_viodroid(SHARED), {k: doc[k] for k in ("train", "validation", "test")}
        )
        metrics = score_corpus(clf.predict, parts["test"], ZH_LABELS)
        cr = [lab for lab in ZH_LABELS if lab.startswith("CR")]
        metrics["cr_macro_f1"] = float(
            np.mean([metrics["per_label"][lab]["f1"] for lab in cr])
        )
        key = "zh_test"
    assert not _check(metrics, _floors()[key])


def test_recorded_evaluation_metrics_are_not_below_floors():
    """The grouped-by-policy and policy-level numbers written by `policyaudit evaluate`."""
    path = MODELS / "metrics.json"
    if not path.is_file():
        pytest.skip("models/metrics.json absent; run `policyaudit evaluate`")
    metrics = json.loads(path.read_text(encoding="utf-8"))
    floors = _floors()
    low = [
        f"{k}.{msg}"
        for k in floors
        if k in metrics
        for msg in _check(metrics[k], floors[k])
    ]
    assert not low
    assert set(floors) <= set(metrics)
