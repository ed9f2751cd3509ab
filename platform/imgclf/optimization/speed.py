"""Throughput of several predict functions measured side by side: rounds interleaved so drift hits all alike."""

from __future__ import annotations

import statistics
import time
from typing import Callable, Mapping

import numpy as np


def images_per_second(predicts: Mapping[str, Callable[[np.ndarray], object]], batch: np.ndarray, *,
                      rounds: int = 5) -> dict[str, float]:
    """Images/s of each predict function on `batch`: one warm-up call each, then the median of `rounds` calls."""
    for predict in predicts.values():
        predict(batch)
    seconds: dict[str, list[float]] = {name: [] for name in predicts}
    for _ in range(rounds):
        for name, predict in predicts.items():
            started = time.perf_counter()
            predict(batch)
            seconds[name].append(time.perf_counter() - started)
    return {name: len(batch) / statistics.median(times) for name, times in seconds.items()}


def tiled(images: np.ndarray, count: int) -> np.ndarray:
    """`count` images taken cyclically from `images` (a benchmark batch from a small test split)."""
    return images[np.arange(count) % len(images)]
