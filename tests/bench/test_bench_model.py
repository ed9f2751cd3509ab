"""The model section's arithmetic: images/s at the median batch time, top-1 accuracy, bf16 against fp32, and the
targets."""

from __future__ import annotations

import math

import numpy as np

from bench.model import (
    TARGET_MAX_ACCURACY_LOSS_POINTS,
    TARGET_SPEEDUP,
    bf16_against_fp32,
    images_per_s,
    meets_targets,
    top1_accuracy,
)


def test_images_per_second_are_the_batch_over_its_median_time() -> None:
    assert images_per_s(32, {"fp32": [4.0, 2.0, 8.0], "bf16": [1.0, 3.0, 2.0, 10.0]}) == {"fp32": 8.0, "bf16": 12.8}


def test_top1_accuracy_is_the_share_of_rows_whose_most_probable_class_is_the_label() -> None:
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3], [0.4, 0.35, 0.25]])
    assert top1_accuracy(probabilities, np.array([0, 2, 1, 1])) == 0.75


def test_bf16_speedup_and_accuracy_loss_in_points() -> None:
    assert bf16_against_fp32({"fp32": 10.0, "bf16": 16.0}, {"fp32": 0.75, "bf16": 0.5}) == (1.6, 25.0)
    assert bf16_against_fp32({"fp32": 10.0, "bf16": 5.0}, {"fp32": 0.5, "bf16": 0.75}) == (0.5, -25.0)


def test_targets_just_met_and_just_missed() -> None:
    assert meets_targets(TARGET_SPEEDUP, TARGET_MAX_ACCURACY_LOSS_POINTS)
    assert not meets_targets(math.nextafter(TARGET_SPEEDUP, 0), TARGET_MAX_ACCURACY_LOSS_POINTS)
    assert not meets_targets(TARGET_SPEEDUP, math.nextafter(TARGET_MAX_ACCURACY_LOSS_POINTS, math.inf))
