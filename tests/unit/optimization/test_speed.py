"""Side-by-side throughput: every function is timed on the same batch, interleaved, after a warm-up call."""

from __future__ import annotations

import time

import numpy as np

from imgclf.optimization.speed import images_per_second, tiled


def test_rates_follow_the_time_each_call_takes() -> None:
    calls: list[str] = []

    def slow(batch: np.ndarray) -> None:
        calls.append("slow")
        time.sleep(0.02)

    def fast(batch: np.ndarray) -> None:
        calls.append("fast")
        time.sleep(0.005)

    rates = images_per_second({"slow": slow, "fast": fast}, np.zeros((8, 2, 2, 3), np.uint8), rounds=3)
    assert calls == ["slow", "fast"] * 4  # one warm-up each, then rounds interleaved
    assert 8 / 0.02 * 0.5 < rates["slow"] <= 8 / 0.02
    assert rates["fast"] > 2 * rates["slow"]


def test_tiled_cycles_through_a_small_split() -> None:
    images = np.arange(3)[:, None]
    assert tiled(images, 7)[:, 0].tolist() == [0, 1, 2, 0, 1, 2, 0]
