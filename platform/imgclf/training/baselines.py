"""Fitting and cross-validating the scikit-learn baselines."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_validate

from imgclf.config import BaselineSettings
from imgclf.models.baselines import BASELINE_BUILDERS

LOG = logging.getLogger("imgclf.training")


def cross_validate_baseline(
    kind: str, settings: BaselineSettings, seed: int, features: np.ndarray, labels: np.ndarray
) -> dict[str, Any]:
    """Stratified k-fold accuracy and macro F1 (k lowered to the smallest class size when it must be)."""
    folds = min(settings.cv_folds, int(np.bincount(labels).min()))
    if folds < settings.cv_folds:
        LOG.warning("%s: smallest class has %d images; using %d folds instead of %d", kind, folds, folds, settings.cv_folds)
    if folds < 2:
        return {"folds": folds, "accuracy_mean": None, "accuracy_std": None, "f1_macro_mean": None, "f1_macro_std": None}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_validate(
        BASELINE_BUILDERS[kind](settings, seed), features, labels, cv=splitter, scoring=("accuracy", "f1_macro")
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


def fit_baseline(kind: str, settings: BaselineSettings, seed: int, features: np.ndarray, labels: np.ndarray) -> Any:
    return BASELINE_BUILDERS[kind](settings, seed).fit(features, labels)
