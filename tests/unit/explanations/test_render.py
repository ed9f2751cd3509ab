"""The Grad-CAM overlay: the image at opacity 0, the heat colours at opacity 1, the heatmap stretched to the image."""

from __future__ import annotations

import numpy as np
import pytest

from imgclf.explanations.render import HEAT_STOPS, heat_colours, overlay


def an_image(height: int, width: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (height, width, 3)).astype(np.uint8)


def a_heatmap(height: int, width: int) -> np.ndarray:
    return np.random.default_rng(1).random((height, width)).astype(np.float32)


def test_opacity_zero_gives_the_image() -> None:
    image = an_image(20, 30)

    np.testing.assert_array_equal(overlay(image, a_heatmap(20, 30), opacity=0.0), image)


def test_opacity_one_gives_the_heat_colours() -> None:
    heatmap = a_heatmap(20, 30)

    np.testing.assert_array_equal(overlay(an_image(20, 30), heatmap, opacity=1.0), heat_colours(heatmap))


def test_half_opacity_mixes_image_and_colours_evenly() -> None:
    image, heatmap = an_image(20, 30), a_heatmap(20, 30)

    mixed = overlay(image, heatmap, opacity=0.5).astype(int)

    expected = (image.astype(int) + heat_colours(heatmap).astype(int)) / 2
    assert np.abs(mixed - expected).max() <= 0.5


def test_the_heat_scale_runs_from_its_first_stop_to_its_last() -> None:
    colours = heat_colours(np.array([[0.0, 0.25, 1.0, -3.0, 7.0]], np.float32))[0]

    np.testing.assert_array_equal(colours, HEAT_STOPS[[0, 1, 4, 0, 4]].astype(np.uint8))


def test_a_smaller_heatmap_is_stretched_to_the_image() -> None:
    heatmap = np.zeros((4, 4), np.float32)
    heatmap[:2, :2] = 1.0  # the top-left quarter hot
    image = np.zeros((40, 60, 3), np.uint8)

    shown = overlay(image, heatmap, opacity=1.0)

    assert shown.shape == image.shape
    hot, cold = heat_colours(np.ones((1, 1), np.float32))[0, 0], heat_colours(np.zeros((1, 1), np.float32))[0, 0]
    np.testing.assert_array_equal(shown[2, 2], hot)  # well inside the top-left quarter
    np.testing.assert_array_equal(shown[37, 57], cold)  # the bottom-right corner
    np.testing.assert_array_equal(shown[2, 57], cold)  # the top-right corner


@pytest.mark.parametrize("opacity", [0.0, 0.3, 1.0])
def test_the_overlay_is_rgb_uint8_of_the_images_shape(opacity: float) -> None:
    shown = overlay(an_image(17, 23), a_heatmap(5, 7), opacity)

    assert shown.shape == (17, 23, 3) and shown.dtype == np.uint8
