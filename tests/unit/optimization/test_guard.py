"""The accuracy guard: drops in percentage points of test accuracy, refused above the limit, kept at or below it."""

from __future__ import annotations

import pytest

from imgclf.optimization.guard import accuracy_drop_points, kept_by_guard

HALF_POINT = 0.5  # `--max-accuracy-drop` by default


def test_a_one_point_drop_is_refused_under_a_half_point_guard() -> None:
    assert accuracy_drop_points(0.95, 0.94) == pytest.approx(1.0)
    assert not kept_by_guard(0.95, 0.94, HALF_POINT)


def test_a_drop_of_0_4_points_is_kept_under_a_half_point_guard() -> None:
    assert accuracy_drop_points(0.95, 0.946) == pytest.approx(0.4)
    assert kept_by_guard(0.95, 0.946, HALF_POINT)


def test_one_image_of_200_is_exactly_at_a_half_point_guard_and_kept() -> None:
    assert kept_by_guard(190 / 200, 189 / 200, HALF_POINT)
    assert not kept_by_guard(190 / 200, 188 / 200, HALF_POINT)


def test_a_variant_that_scores_higher_is_kept_even_by_a_zero_guard() -> None:
    assert accuracy_drop_points(0.90, 0.92) == pytest.approx(-2.0)
    assert kept_by_guard(0.90, 0.92, 0.0)
    assert not kept_by_guard(0.92, 0.90, 0.0)
