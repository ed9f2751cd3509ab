"""The train section's arithmetic: Ray Train's median epoch after the first ÷ plain Keras's, against its target."""

from __future__ import annotations

from bench.train import median_epoch_s, ray_over_plain


def test_the_median_epoch_leaves_out_the_first() -> None:
    assert median_epoch_s([30.0, 10.0, 20.0, 12.0]) == 12.0
    assert median_epoch_s([99.0, 10.0, 12.0]) == 11.0


def test_ray_train_over_plain_keras_against_its_target() -> None:
    assert ray_over_plain(20.0, 23.0) == {"ratio": 1.15, "target_max_ratio": 1.15, "meets_target": True}
    assert ray_over_plain(20.0, 23.002) == {"ratio": 1.1501, "target_max_ratio": 1.15, "meets_target": False}
