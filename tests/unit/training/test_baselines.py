"""Cross-validation and fitting of the scikit-learn baselines."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from imgclf.config import BaselineSettings
from imgclf.training.baselines import cross_validate_baseline, fit_baseline


@pytest.fixture(scope="module")
def digits_features():
    digits = load_digits()
    return digits.data[:400].astype(np.float32) / 16.0, digits.target[:400]


@pytest.mark.parametrize("kind", ["knn", "dt"])
def test_cross_validation_reports_every_fold(kind, digits_features):
    features, labels = digits_features
    cv = cross_validate_baseline(kind, BaselineSettings(cv_folds=5), 42, features, labels)
    assert cv["folds"] == 5
    assert len(cv["accuracy_per_fold"]) == 5
    assert cv["accuracy_mean"] == pytest.approx(np.mean(cv["accuracy_per_fold"]))
    assert 0.5 < cv["accuracy_mean"] <= 1.0 and cv["accuracy_std"] >= 0


def test_knn_beats_the_tree_on_digits(digits_features):
    features, labels = digits_features
    knn = cross_validate_baseline("knn", BaselineSettings(), 42, features, labels)
    tree = cross_validate_baseline("dt", BaselineSettings(), 42, features, labels)
    assert knn["accuracy_mean"] > tree["accuracy_mean"]


def test_folds_shrink_to_the_smallest_class():
    features = np.random.default_rng(0).normal(size=(13, 4))
    labels = np.array([0] * 10 + [1] * 3)
    cv = cross_validate_baseline("knn", BaselineSettings(cv_folds=5, knn_neighbors=1), 0, features, labels)
    assert cv["folds"] == 3 and len(cv["accuracy_per_fold"]) == 3


def test_same_seed_same_tree(digits_features):
    features, labels = digits_features
    first, first_temperature = fit_baseline("dt", BaselineSettings(), 7, features, labels)
    second, second_temperature = fit_baseline("dt", BaselineSettings(), 7, features, labels)
    np.testing.assert_array_equal(first.predict_proba(features), second.predict_proba(features))
    assert first_temperature == second_temperature


def test_the_temperature_is_fitted_on_answers_to_rows_the_model_did_not_see(digits_features):
    """A fully grown tree is sure of every training row (probability 1.0); on rows it never saw it is often
    wrong, so the out-of-fold temperature must soften it (T > 1), which scoring on training rows would not."""
    features, labels = digits_features
    tree, temperature = fit_baseline("dt", BaselineSettings(tree_max_depth=None), 7, features, labels)
    assert tree.predict_proba(features).max(axis=1).min() == 1.0
    assert temperature > 2.0
