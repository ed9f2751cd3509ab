"""The accuracy guard of compiled variants: the test accuracy a variant loses against the TensorFlow fp32 model, in
percentage points, and whether the guard keeps it."""

from __future__ import annotations

FLOAT_NOISE_POINTS = 1e-9  # a difference of two fractions carries rounding noise: 190/200 - 189/200 is 0.5000000000000004


def accuracy_drop_points(reference_accuracy: float, accuracy: float) -> float:
    """Percentage points of test accuracy lost against the reference; negative when the variant scores higher."""
    return (reference_accuracy - accuracy) * 100


def kept_by_guard(reference_accuracy: float, accuracy: float, max_accuracy_drop: float) -> bool:
    """True when the variant loses at most `max_accuracy_drop` points (a drop exactly at the limit is kept)."""
    return accuracy_drop_points(reference_accuracy, accuracy) <= max_accuracy_drop + FLOAT_NOISE_POINTS
