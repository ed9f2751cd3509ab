"""How sure a comparison of classifiers on one test split is: bootstrap intervals and McNemar's test."""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95
SIGNIFICANCE_LEVEL = 0.05


def accuracy_interval(correct: np.ndarray, seed: int, resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float]:
    """The percentile bootstrap 95% interval of accuracy: test rows resampled with replacement."""
    correct = np.asarray(correct, dtype=np.float64)
    draws = np.random.default_rng(seed).integers(0, len(correct), size=(resamples, len(correct)))
    accuracies = correct[draws].mean(axis=1)
    tail = (1.0 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(accuracies, [tail, 100 - tail])
    return float(low), float(high)


def mcnemar(first_correct: np.ndarray, second_correct: np.ndarray) -> dict:
    """McNemar's exact test on paired answers to the same test files: only the files exactly one model got right
    count; under "no difference" each of those is a fair coin."""
    first, second = np.asarray(first_correct, bool), np.asarray(second_correct, bool)
    only_first, only_second = int((first & ~second).sum()), int((~first & second).sum())
    discordant = only_first + only_second
    p_value = 1.0 if discordant == 0 else float(binomtest(only_first, discordant, 0.5).pvalue)
    return {"only_first_correct": only_first, "only_second_correct": only_second, "p_value": p_value,
            "significant": p_value < SIGNIFICANCE_LEVEL}
