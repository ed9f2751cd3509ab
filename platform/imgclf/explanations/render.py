"""Explanations as pictures: a Grad-CAM overlay, a sheet of the voting neighbours, the pixels a tree tested."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from imgclf.explanations.explanation import Explanation

# A heat colour scale (dark blue → blue → cyan → yellow → red), interpolated linearly between these stops.
HEAT_STOPS = np.array([[0, 0, 96], [0, 64, 255], [0, 224, 255], [255, 240, 0], [255, 32, 0]], np.float32)
DEFAULT_OPACITY = 0.5


def heat_colours(heatmap: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] → (H, W, 3) uint8 colours on the heat scale."""
    position = np.clip(heatmap, 0.0, 1.0) * (len(HEAT_STOPS) - 1)
    low = np.minimum(position.astype(np.int64), len(HEAT_STOPS) - 2)
    share = (position - low)[..., np.newaxis]
    return np.round(HEAT_STOPS[low] * (1 - share) + HEAT_STOPS[low + 1] * share).astype(np.uint8)


def overlay(image: np.ndarray, heatmap: np.ndarray, opacity: float = DEFAULT_OPACITY) -> np.ndarray:
    """The image with the heatmap's colours laid over it at `opacity` (0: the image, 1: the heatmap alone); the
    heatmap is resized to the image."""
    height, width = image.shape[:2]
    if heatmap.shape != (height, width):
        resized = Image.fromarray(np.asarray(heatmap, np.float32), mode="F").resize((width, height), Image.BILINEAR)
        heatmap = np.asarray(resized, np.float32)
    mixed = (1 - opacity) * image.astype(np.float32) + opacity * heat_colours(heatmap).astype(np.float32)
    return np.round(mixed).astype(np.uint8)


def grad_cam_picture(image: np.ndarray, explanation: Explanation, opacity: float = DEFAULT_OPACITY) -> np.ndarray:
    return overlay(image, explanation.heatmap_at(*image.shape[:2]), opacity)
