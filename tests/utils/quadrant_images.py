"""Images whose class is decided by one quadrant: the top-left quadrant holds the class's stripes, the other three
hold smooth random colour blotches drawn the same way for every class, so only the top-left quadrant tells classes
apart."""

from __future__ import annotations

import numpy as np
from PIL import Image

QUADRANT_LABELS = ("horizontal", "vertical", "diagonal", "plain")  # "plain": no stripes, blotches as elsewhere
STRIPE_PERIOD = 4  # pixels from one stripe to the next
BLOTCH_GRID = 4  # the blotches: random colours on a 4 × 4 grid, smoothly enlarged to the image


def stripes(label: str, side: int, phase: int) -> np.ndarray:
    """A (side, side) 0/1 pattern of the class's stripes."""
    rows, cols = np.mgrid[0:side, 0:side]
    along = {"horizontal": rows, "vertical": cols, "diagonal": rows + cols}[label]
    return ((along + phase) % STRIPE_PERIOD < STRIPE_PERIOD // 2).astype(np.float32)


def blotches(rng: np.random.Generator, side: int) -> np.ndarray:
    """(side, side, 3) smooth random colours, drawn the same way whatever the class."""
    coarse = rng.uniform(0, 255, (BLOTCH_GRID, BLOTCH_GRID, 3)).astype(np.float32)
    return np.stack([np.asarray(Image.fromarray(coarse[..., channel], mode="F").resize((side, side), Image.BICUBIC))
                     for channel in range(3)], axis=-1)


def quadrant_image(rng: np.random.Generator, label: str, size: int) -> np.ndarray:
    """One (size, size, 3) uint8 image of class `label`: its stripes, in random dark and light colours at a random
    phase, fill the top-left quadrant (a plain image has blotches there too)."""
    half = size // 2
    image = blotches(rng, size)
    if label == "plain":
        return np.clip(np.round(image), 0, 255).astype(np.uint8)
    dark, light = rng.uniform(0, 60, 3), rng.uniform(195, 255, 3)
    pattern = stripes(label, half, int(rng.integers(STRIPE_PERIOD)))[..., np.newaxis]
    image[:half, :half] = dark + pattern * (light - dark)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def quadrant_dataset(seed: int, per_class: int, size: int,
                     labels: tuple[str, ...] = QUADRANT_LABELS) -> tuple[np.ndarray, np.ndarray]:
    """(N, size, size, 3) uint8 images and their (N,) label indices, the classes taking turns."""
    rng = np.random.default_rng(seed)
    indices = np.tile(np.arange(len(labels)), per_class)
    images = np.stack([quadrant_image(rng, labels[index], size) for index in indices])
    return images, indices


def top_left_mass(heatmap: np.ndarray) -> float:
    """The share of the heatmap's total in its top-left quadrant (0 for an empty heatmap)."""
    half_rows, half_cols = heatmap.shape[0] // 2, heatmap.shape[1] // 2
    total = float(heatmap.sum())
    return float(heatmap[:half_rows, :half_cols].sum()) / total if total > 0 else 0.0
