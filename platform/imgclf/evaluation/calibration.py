"""How far confidence is from accuracy, and the temperature that brings them together.

    temperature = fit_temperature(validation_probabilities, validation_labels)
    calibration_report(test_probabilities, test_labels)   # {"ece", "nll", "noise", "bins": [...]} for metrics.json

An ECE measured on few rows is mostly sampling noise: `noise` says how large an ECE a perfectly calibrated model
with the same confidences would show on as many rows, so a reader can tell a real gap from chance.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from scipy.optimize import minimize_scalar

from imgclf.models.calibration import SMALLEST_PROBABILITY, apply_temperature

ECE_BINS = 15
NOISE_DRAWS = 1000
NOISE_CHUNK = 100  # draws per matrix product, so memory stays ~NOISE_CHUNK × rows floats
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
    accuracy, weighted by each bin's share of rows), the negative log-likelihood, the ECE's `noise` and each
    non-empty bin."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    members = bin_members(confidence, bins)
    counts, right, expected = members.sum(axis=0), correct @ members, confidence @ members
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = [{"lower": float(edges[index]), "upper": float(edges[index + 1]), "count": int(counts[index]),
             "accuracy": float(right[index] / counts[index]), "confidence": float(expected[index] / counts[index])}
            for index in np.flatnonzero(counts)]
    return {"ece": float(binned_ece(correct, confidence, members)), "nll": negative_log_likelihood(probabilities, labels),
            "noise": ece_noise(confidence, bins), "bins": rows}


def bin_members(confidence: np.ndarray, bins: int) -> np.ndarray:
    """Rows × bins, 1 where a row's confidence falls in the bin (equal-width bins; a bin holds its upper edge)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    return np.eye(bins)[np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)]


def binned_ece(correct: np.ndarray, confidence: np.ndarray, members: np.ndarray) -> np.ndarray:
    """The ECE of right/wrong answers (rows, or draws × rows) at these confidences: the gap between right answers
    and summed confidence in each bin, summed over bins, per row."""
    return np.abs(correct @ members - confidence @ members).sum(axis=-1) / len(confidence)


def ece_noise(confidence: np.ndarray, bins: int = ECE_BINS, draws: int = NOISE_DRAWS, seed: int = 0) -> dict:
    """The ECE that a perfectly calibrated model with these top-1 confidences would show on this many rows: each
    draw marks every row right with probability equal to its confidence (consistency resampling, Bröcker and
    Smith 2007). {"mean", "p95"} over `draws`; an ECE below "p95", or a change smaller than it, is within noise."""
    if not len(confidence):
        return {"mean": 0.0, "p95": 0.0}
    members = bin_members(confidence, bins)
    rng = np.random.default_rng(seed)
    eces = np.concatenate([binned_ece(rng.random((min(NOISE_CHUNK, draws - start), len(confidence))) < confidence,
                                      confidence, members)
                           for start in range(0, draws, NOISE_CHUNK)])
    return {"mean": float(eces.mean()), "p95": float(np.quantile(eces, 0.95))}


def calibration_metrics(raw: np.ndarray, labels: np.ndarray, temperature: float) -> dict:
    """The temperature and the calibration of the test answers before and after it."""
    return {"temperature": temperature, "before": calibration_report(raw, labels),
            "after": calibration_report(apply_temperature(raw, temperature), labels)}


def calibration_note(calibrations: Mapping[str, Mapping[str, Any]], test_images: int) -> str:
    """For a run's report.md: each model's calibrated ECE (from `calibration_metrics`, by model name) against its
    noise, and what that means."""
    lines = [f"Each model's ECE after its temperature, against its noise: the ECE that a perfectly calibrated model "
             f"with the same confidences reaches or exceeds 5% of the time on these {test_images} test images "
             f"({NOISE_DRAWS:,} draws of its answers, {ECE_BINS} bins). Within it, the test split cannot tell the model "
             "from a calibrated one, nor a smaller change in ECE from chance. Reliability diagrams: "
             "`plots/*-reliability.png`.", ""]
    for name, calibration in calibrations.items():
        after = calibration["after"]
        verdict = "within" if after["ece"] <= after["noise"]["p95"] else "beyond"
        lines.append(f"- `{name}`: {after['ece']:.4f} ({verdict} its noise, {after['noise']['p95']:.4f})")
    return "\n".join(lines)
