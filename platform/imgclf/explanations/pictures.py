"""Explanations written as files: the JSON every face returns, the decision path in words, and a picture of the
reason (`imgclf predict --explain`), and the three pictures the documentation shows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from imgclf.data.decode import decode_file
from imgclf.explanations.explain import explain
from imgclf.explanations.explanation import DECISION_PATH, GRAD_CAM, NEIGHBOURS, Explanation
from imgclf.explanations.render import PANEL_SIDE, decision_path_picture, grad_cam_strip, neighbours_sheet
from imgclf.models.classifier import Classifier
from imgclf.models.features import PixelFeatures

README_SCALE = 8  # the documentation's 32 px digits, 8× (a tree's cells larger still, to hold their numbers)
README_MODELS = {GRAD_CAM: "digits-vgg16:1", NEIGHBOURS: "digits-knn-pixels:1", DECISION_PATH: "digits-dt-pixels:1"}


def display_scale(image: np.ndarray) -> int:
    """The whole factor that brings a small image's longer side to about PANEL_SIDE (1 for larger images)."""
    return max(1, PANEL_SIDE // max(image.shape[:2]))


def pixel_grid(classifier: Classifier) -> int | None:
    """The side of the pixel grid a model's features are (a tree's tests then name pixels); None for other
    features."""
    features = getattr(classifier, "features", None)
    return features.size if isinstance(features, PixelFeatures) else None


def picture(explanation: Explanation, image: np.ndarray, grid: int | None, scale: int) -> np.ndarray | None:
    """The explanation as a picture of `image` enlarged `scale`× (a neighbours sheet's panels are PANEL_SIDE px); None
    for a tree whose features are not pixels."""
    if explanation.method == GRAD_CAM:
        return grad_cam_strip(image, explanation, scale)
    if explanation.method == NEIGHBOURS:
        return neighbours_sheet(image, explanation)
    return None if grid is None else decision_path_picture(image, explanation, grid, scale)


def save_png(pixels: np.ndarray, path: Path) -> Path:
    Image.fromarray(pixels).save(path, format="PNG", optimize=True)
    return path


def write_explanation(folder: Path, stem: str, explanation: Explanation, image: np.ndarray,
                      grid: int | None) -> list[Path]:
    """Write `<stem>.<model>.explanation.json`, a tree's `<stem>.<model>.decision-path.txt` and the picture
    `<stem>.<model>.<method>.png` into `folder` (created); return the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / f"{stem}.{explanation.model_name}"
    json_path = Path(f"{base}.explanation.json")
    json_path.write_text(json.dumps(explanation.to_dict(image.shape[:2]), indent=2) + "\n")
    written = [json_path]
    if explanation.method == DECISION_PATH:
        text_path = Path(f"{base}.{DECISION_PATH}.txt")
        text_path.write_text(explanation.path_text() + "\n")
        written.append(text_path)
    pixels = picture(explanation, image, grid, display_scale(image))
    if pixels is not None:
        written.append(save_png(pixels, Path(f"{base}.{explanation.method}.png")))
    return written


def write_readme_pictures(registry: Path, image: Path, out_dir: Path) -> list[Path]:
    """`out_dir`/{grad-cam,neighbours,decision-path}.png: one digits image explained by the digits VGG16, KNN on
    pixels and tree on pixels of `registry`, version 1."""
    from imgclf.models.artifact import load_classifier
    from imgclf.registry import Registry

    models = Registry(registry)
    pixels = decode_file(image)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for method, reference in README_MODELS.items():
        classifier = load_classifier(models.local_path(reference))
        name, version = models.resolve(reference)
        explanation = explain(classifier, pixels, model_name=name, model_version=version)
        written.append(save_png(picture(explanation, pixels, pixel_grid(classifier), README_SCALE),
                                out_dir / f"{method}.png"))
    return written
