"""resize_image and stack_images: the one resize step between decoded images and models."""

from __future__ import annotations

import numpy as np
import pytest

from imgclf.data.transforms import resize_image, stack_images
from utils.images import RED, two_colour_rgb


def test_resize_is_a_no_op_when_already_that_size():
    image = two_colour_rgb((16, 16))

    resized = resize_image(image, 16)

    assert resized is image


@pytest.mark.parametrize(("width", "height", "size"), [(10, 20, 32), (64, 48, 16), (7, 7, 9), (1, 1, 4)])
def test_resize_gives_a_square_uint8_rgb_array(width, height, size):
    image = two_colour_rgb((width, height))

    resized = resize_image(image, size)

    assert resized.shape == (size, size, 3)
    assert resized.dtype == np.uint8


def test_resize_keeps_a_solid_colour():
    image = np.broadcast_to(np.array(RED, np.uint8), (10, 30, 3)).copy()

    resized = resize_image(image, 24)

    np.testing.assert_array_equal(resized, np.broadcast_to(RED, (24, 24, 3)))


def test_resize_keeps_left_and_right_halves_apart():
    resized = resize_image(two_colour_rgb((40, 20), left=(255, 0, 0), right=(0, 0, 255)), 8)

    np.testing.assert_array_equal(resized[:, 0], np.broadcast_to((255, 0, 0), (8, 3)))
    np.testing.assert_array_equal(resized[:, -1], np.broadcast_to((0, 0, 255), (8, 3)))


def test_stack_images_resizes_each_and_keeps_order():
    images = [np.full((5, 9, 3), value, np.uint8) for value in (10, 20, 30)]

    batch = stack_images(images, 12)

    assert batch.shape == (3, 12, 12, 3)
    assert batch.dtype == np.uint8
    assert [int(batch[i].min()) for i in range(3)] == [10, 20, 30]
    assert [int(batch[i].max()) for i in range(3)] == [10, 20, 30]


def test_stack_images_of_nothing_is_an_empty_batch():
    batch = stack_images([], 8)

    assert batch.shape == (0, 8, 8, 3)
    assert batch.dtype == np.uint8
