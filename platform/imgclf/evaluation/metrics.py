"""Test-set metrics and inference timing, as JSON-ready dicts (plain floats, ints and lists)."""

from __future__ import annotations

import statistics
import time
from typing import Callable, Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score, roc_curve

from imgclf.errors import ConfigError


def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray, labels: Sequence[str]) -> dict:
    """Accuracy, per-class and averaged precision/recall/F1, confusion matrix and ROC; predicted = argmax."""
    y_true, probabilities = _check_inputs(y_true, probabilities, labels)
    class_indexes = list(range(len(labels)))
    y_pred = probabilities.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=class_indexes, zero_division=0
    )
    per_class = {
        label: _scores(precision[k], recall[k], f1[k], support[k]) for k, label in enumerate(labels)
    }
    weights = support / support.sum()
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "per_class": per_class,
        "macro_avg": _scores(precision.mean(), recall.mean(), f1.mean(), support.sum()),
        "weighted_avg": _scores(weights @ precision, weights @ recall, weights @ f1, support.sum()),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=class_indexes).tolist(),
        "roc": _roc(y_true, probabilities, labels),
        "n_samples": int(len(y_true)),
    }


def time_per_image(
    predict: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    *,
    batch_size: int = 32,
    repeats: int = 5,
) -> dict:
    """Median wall time of `predict` on one image and per image of one batch, in milliseconds."""
    if images.ndim != 4 or len(images) == 0:
        raise ConfigError(f"images must be a non-empty (N, H, W, 3) array; got shape {images.shape}")
    if batch_size < 1 or repeats < 1:
        raise ConfigError(f"batch_size and repeats must be >= 1; got {batch_size} and {repeats}")
    used = min(batch_size, len(images))
    batch = images[:used]
    predict(images[:1])
    single = _median_seconds(predict, images[:1], repeats)
    batched = _median_seconds(predict, batch, repeats)
    return {
        "single_ms": single * 1000.0,
        "batch_ms_per_image": batched * 1000.0 / used,
        "batch_size": used,
    }


def _check_inputs(
    y_true: np.ndarray, probabilities: np.ndarray, labels: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    probabilities = np.asarray(probabilities, dtype=float)
    n_classes = len(labels)
    if n_classes < 2:
        raise ConfigError(f"labels must name at least 2 classes; got {list(labels)}")
    if y_true.ndim != 1 or len(y_true) == 0:
        raise ConfigError(f"y_true must be a non-empty 1-D array of class indexes; got shape {y_true.shape}")
    expected = (len(y_true), n_classes)
    if probabilities.shape != expected:
        raise ConfigError(
            f"probabilities must have shape (n_samples, n_labels) = {expected}; got {probabilities.shape}"
        )
    if not np.issubdtype(y_true.dtype, np.integer) or y_true.min() < 0 or y_true.max() >= n_classes:
        raise ConfigError(
            f"y_true must hold integer class indexes in [0, {n_classes - 1}]; "
            f"got dtype {y_true.dtype}, values {sorted(set(y_true.tolist()))[:10]}"
        )
    return y_true, probabilities


def _scores(precision: float, recall: float, f1: float, support: int) -> dict:
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "support": int(support),
    }


def _roc(y_true: np.ndarray, probabilities: np.ndarray, labels: Sequence[str]) -> dict:
    """One-vs-rest curves per class; binary AUC for 2 classes, else the mean of the defined per-class AUCs."""
    per_class = {label: _one_vs_rest(y_true == k, probabilities[:, k]) for k, label in enumerate(labels)}
    if len(labels) == 2:
        return {"auc": per_class[labels[1]]["auc"], "average": "binary", "per_class": per_class}
    defined = [curve["auc"] for curve in per_class.values() if curve["auc"] is not None]
    auc = float(np.mean(defined)) if defined else None
    return {"auc": auc, "average": "macro-ovr", "per_class": per_class}


def _one_vs_rest(is_positive: np.ndarray, scores: np.ndarray) -> dict:
    """AUC and curve of one class against the rest; None and empty curves without both outcomes."""
    if is_positive.all() or not is_positive.any():
        return {"auc": None, "fpr": [], "tpr": []}
    fpr, tpr, _ = roc_curve(is_positive, scores)
    return {
        "auc": float(roc_auc_score(is_positive, scores)),
        "fpr": fpr.tolist(),
        "tpr": tpr.tolist(),
    }


def _median_seconds(predict: Callable[[np.ndarray], np.ndarray], batch: np.ndarray, repeats: int) -> float:
    durations = []
    for _ in range(repeats):
        start = time.perf_counter()
        predict(batch)
        durations.append(time.perf_counter() - start)
    return statistics.median(durations)
