"""Fitting and cross-validating the scikit-learn baselines (no TensorFlow here: Ray workers import this)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_predict, cross_validate

from imgclf.config import BaselineSettings
from imgclf.evaluation.calibration import fit_temperature
from imgclf.models.baselines import search_of

LOG = logging.getLogger("imgclf.training")


def fold_count(settings: BaselineSettings, labels: np.ndarray) -> int:
    """`settings.cv_folds`, lowered to the smallest class size when it must be (stratified folds)."""
    return min(settings.cv_folds, int(np.bincount(labels).min()))


def fold_splitter(folds: int, seed: int) -> StratifiedKFold:
    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)


def smallest_training_fold(settings: BaselineSettings, seed: int, labels: np.ndarray) -> int:
    """Rows in the smallest training part of the CV folds (all rows when there are too few for CV)."""
    folds = fold_count(settings, labels)
    if folds < 2:
        return len(labels)
    splits = fold_splitter(folds, seed).split(np.zeros((len(labels), 1)), labels)
    return min(len(train) for train, _ in splits)


def cross_validate_baseline(
    kind: str, settings: BaselineSettings, seed: int, features: np.ndarray, labels: np.ndarray
) -> dict[str, Any]:
    """Stratified k-fold accuracy and macro F1 (k lowered to the smallest class size when it must be)."""
    folds = fold_count(settings, labels)
    if folds < settings.cv_folds:
        LOG.warning("%s: smallest class has %d images; using %d folds instead of %d", kind, folds, folds, settings.cv_folds)
    if folds < 2:
        return {"folds": folds, "accuracy_mean": None, "accuracy_std": None, "f1_macro_mean": None, "f1_macro_std": None}
    scores = cross_validate(
        search_of(kind).build(settings, seed), features, labels, cv=fold_splitter(folds, seed),
        scoring=("accuracy", "f1_macro"),
    )
    accuracy, f1 = scores["test_accuracy"], scores["test_f1_macro"]
    return {
        "folds": folds,
        "accuracy_mean": float(accuracy.mean()),
        "accuracy_std": float(accuracy.std()),
        "f1_macro_mean": float(f1.mean()),
        "f1_macro_std": float(f1.std()),
        "accuracy_per_fold": [float(value) for value in accuracy],
    }


def fit_baseline(
    kind: str, settings: BaselineSettings, seed: int, features: np.ndarray, labels: np.ndarray
) -> tuple[Any, float]:
    """The estimator fitted on every row, and its calibration temperature fitted on out-of-fold probabilities
    (each row answered by a model that never saw it; 1.0 when there are too few rows for folds)."""
    estimator = search_of(kind).build(settings, seed)
    folds = fold_count(settings, labels)
    temperature = 1.0
    if folds >= 2:
        out_of_fold = cross_val_predict(estimator, features, labels, cv=fold_splitter(folds, seed), method="predict_proba")
        temperature = fit_temperature(out_of_fold, labels)
    return estimator.fit(features, labels), temperature
