"""Side-by-side throughput: every function is timed on the same batch, interleaved, after a warm-up call."""

from __future__ import annotations

import numpy as np
import pytest

from imgclf.optimization import speed
from imgclf.optimization.speed import images_per_second, tiled


class Clock:
    """A perf_counter that only the fake predict functions move: the rates do not depend on how busy the CPU is."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def test_rates_follow_the_time_each_call_takes(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(speed, "time", clock)
    calls: list[str] = []
    slow_seconds = iter([1.0, 0.02, 0.5, 0.02])  # a warm-up, then one stalled round of three

    def slow(batch: np.ndarray) -> None:
        calls.append("slow")
        clock.now += next(slow_seconds)

    def fast(batch: np.ndarray) -> None:
        calls.append("fast")
        clock.now += 0.005

    rates = images_per_second({"slow": slow, "fast": fast}, np.zeros((8, 2, 2, 3), np.uint8), rounds=3)
    assert calls == ["slow", "fast"] * 4  # one warm-up each, then rounds interleaved
    assert rates == {"slow": pytest.approx(8 / 0.02), "fast": pytest.approx(8 / 0.005)}  # medians: the stall is out


def test_tiled_cycles_through_a_small_split() -> None:
    images = np.arange(3)[:, None]
    assert tiled(images, 7)[:, 0].tolist() == [0, 1, 2, 0, 1, 2, 0]
