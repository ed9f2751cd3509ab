"""The one resize step between a decoded image and a model, shared by every path."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an RGB uint8 array to size×size with bilinear filtering (a no-op when already that size)."""
    if image.shape[0] == size and image.shape[1] == size:
        return image
    resized = Image.fromarray(image).resize((size, size), Image.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


def stack_images(images: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Resize each image and stack them into an (N, size, size, 3) uint8 batch."""
    batch = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for index, image in enumerate(images):
        batch[index] = resize_image(image, size)
    return batch
