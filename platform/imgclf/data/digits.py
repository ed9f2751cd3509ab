"""The embedded default dataset: scikit-learn's handwritten digits written out as RGB PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

DIGITS_MAX_VALUE = 16


def write_digits(folder: str | Path, *, size: int = 32, inverted: bool = False) -> int:
    """Write the 1,797 digit images as size×size RGB PNGs, one folder per class; return the count. `inverted`: dark
    ink on a light ground (as scanned from paper) instead of light on dark, images a model trained on the others
    has never seen."""
    folder = Path(folder)
    digits = load_digits()
    for index, (pixels, target) in enumerate(zip(digits.images, digits.target)):
        gray = np.clip(pixels / DIGITS_MAX_VALUE * 255.0, 0, 255).astype(np.uint8)
        if inverted:
            gray = 255 - gray
        image = Image.fromarray(gray, mode="L").resize((size, size), Image.BILINEAR).convert("RGB")
        class_folder = folder / str(target)
        class_folder.mkdir(parents=True, exist_ok=True)
        image.save(class_folder / f"digit_{index:04d}.png")
    return len(digits.images)
