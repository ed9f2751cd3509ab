"""How far confidence is from accuracy, and the temperature that brings them together.

    temperature = fit_temperature(validation_probabilities, validation_labels)
    calibration_report(test_probabilities, test_labels)   # {"ece", "bins": [...]} for metrics.json
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from imgclf.models.calibration import SMALLEST_PROBABILITY, apply_temperature

ECE_BINS = 15
TEMPERATURE_RANGE = (0.05, 20.0)


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    chosen = np.asarray(probabilities, dtype=np.float64)[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(chosen, SMALLEST_PROBABILITY, None)).mean())


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The T in TEMPERATURE_RANGE minimising the negative log-likelihood of `apply_temperature(p, T)` on held-out
    rows (Guo et al., 2017); 1.0 when there are none."""
    if not len(labels):
        return 1.0
    low, high = np.log(TEMPERATURE_RANGE)
    found = minimize_scalar(
        lambda log_t: negative_log_likelihood(apply_temperature(probabilities, float(np.exp(log_t))), labels),
        bounds=(low, high), method="bounded", options={"xatol": 1e-4},
    )
    return float(np.exp(found.x))


def calibration_report(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> dict:
    """Expected calibration error over `bins` equal-width confidence bins (top-1 confidence against top-1
    accuracy, weighted by each bin's share of rows), the negative log-likelihood, and each non-empty bin."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows, ece = [], 0.0
    for index in range(bins):
        inside = which == index
        if not inside.any():
            continue
        accuracy, mean_confidence = float(correct[inside].mean()), float(confidence[inside].mean())
        ece += inside.mean() * abs(accuracy - mean_confidence)
        rows.append({"lower": float(edges[index]), "upper": float(edges[index + 1]), "count": int(inside.sum()),
                     "accuracy": accuracy, "confidence": mean_confidence})
    return {"ece": float(ece), "nll": negative_log_likelihood(probabilities, labels), "bins": rows}


def calibration_metrics(raw: np.ndarray, labels: np.ndarray, temperature: float) -> dict:
    """The temperature and the calibration of the test answers before and after it."""
    return {"temperature": temperature, "before": calibration_report(raw, labels),
            "after": calibration_report(apply_temperature(raw, temperature), labels)}
