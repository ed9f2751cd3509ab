"""Temperature scaling of class probabilities: the one function every inference path applies."""

from __future__ import annotations

import numpy as np

SMALLEST_PROBABILITY = 1e-12  # log(0) guard: a class a baseline gave exactly 0 stays at (about) 0


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(p) / T) row by row, as float32: the probabilities a network's logits divided by T would give.

    T > 1 softens over-confident answers, T < 1 sharpens; the ranking of classes (and so the label) never
    changes, and T = 1 returns the input unchanged.
    """
    if temperature == 1.0 or not len(probabilities):
        return probabilities
    logits = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), SMALLEST_PROBABILITY, None)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return (scaled / scaled.sum(axis=1, keepdims=True)).astype(np.float32)
