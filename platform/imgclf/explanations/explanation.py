"""One explanation of one answer, built by a kind's explainer and rendered by every face: `imgclf predict --explain`,
`POST /v1/explain` and the page."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from PIL import Image

from imgclf.explanations.regions import region_name

if TYPE_CHECKING:
    from imgclf.models.classifier import Classifier

GRAD_CAM, NEIGHBOURS, DECISION_PATH = "grad-cam", "neighbours", "decision-path"


@dataclass(frozen=True)
class Neighbour:
    """A training image that voted: where it came from (its path under the training data root), its label, its
    distance from the explained image in the model's feature space, and a small copy of it."""

    reference: str
    label: str
    distance: float
    thumbnail: np.ndarray  # (t, t, 3) uint8


@dataclass(frozen=True)
class PathStep:
    """One test on the way from the tree's root to its leaf: `words` says which feature, `value` is the image's."""

    node: int
    feature: int
    words: str
    threshold: float
    value: float

    @property
    def went_left(self) -> bool:
        return self.value <= self.threshold

    def text(self) -> str:
        sign = "≤" if self.went_left else ">"
        return f"{self.words} = {self.value:.3f} {sign} {self.threshold:.3f}"


@dataclass(frozen=True)
class ExplanationParts:
    """What a kind's explainer finds; `explain` adds whose answer it is."""

    method: str
    heatmap: np.ndarray | None = None  # (size, size) float32 in [0, 1] at the model's input size
    neighbours: tuple[Neighbour, ...] = ()
    path: tuple[PathStep, ...] = ()
    leaf: int | None = None
    leaf_counts: dict[str, int] = field(default_factory=dict)  # training images per class at the leaf


@dataclass(frozen=True)
class Explanation:
    """Why `model_name:model_version` gave `predicted`, explained for `label` (the predicted one unless a class was
    named)."""

    model_name: str
    model_version: str
    kind: str
    predicted: str
    label: str
    label_index: int
    score: float  # the model's probability of `label`
    parts: ExplanationParts

    @property
    def method(self) -> str:
        return self.parts.method

    def heatmap_at(self, height: int, width: int) -> np.ndarray:
        """The Grad-CAM heatmap resized to an image of `height` × `width` (float32 in [0, 1])."""
        heat = Image.fromarray(np.asarray(self.parts.heatmap, np.float32), mode="F")
        return np.clip(np.asarray(heat.resize((width, height), Image.BILINEAR), np.float32), 0.0, 1.0)

    def path_text(self) -> str:
        """The decision path in words, one test a line, then the leaf's class counts."""
        lines = [f"{index}. {step.text()}" for index, step in enumerate(self.parts.path, start=1)]
        counts = ", ".join(f"{label} {count}" for label, count in self.parts.leaf_counts.items() if count)
        lines.append(f"leaf {self.parts.leaf}: training images here by class: {counts}")
        return "\n".join(lines)

    def summary(self) -> str:
        """One line a person reads: the reason, in the kind's own terms."""
        parts = self.parts
        if parts.method == GRAD_CAM:
            row, col = np.unravel_index(int(np.argmax(parts.heatmap)), parts.heatmap.shape)
            place = region_name(row, col, parts.heatmap.shape[0], parts.heatmap.shape[1])
            return f"Grad-CAM for {self.label}: the most weight is in the {place} of the image"
        if parts.method == NEIGHBOURS:
            votes = ", ".join(f"{n.label} ({n.distance:.2f})" for n in parts.neighbours)
            return f"{len(parts.neighbours)} nearest training images: {votes}"
        return f"{len(parts.path)} tests down the tree to leaf {parts.leaf}: " + "; ".join(
            step.text() for step in parts.path[:3]) + (" …" if len(parts.path) > 3 else "")

    def to_dict(self, image_size: tuple[int, int] | None = None) -> dict[str, Any]:
        """The JSON of `POST /v1/explain` and `imgclf predict --explain`: a heatmap as a grayscale PNG in base64
        (`image_size`: (height, width) of the explained image; default the model's input size), neighbours as
        references, labels, distances and thumbnail PNGs, a path as text and steps."""
        parts = self.parts
        body: dict[str, Any] = {
            "model": {"name": self.model_name, "version": self.model_version, "kind": self.kind},
            "method": parts.method, "predicted": self.predicted, "label": self.label, "score": self.score,
            "summary": self.summary(),
        }
        if parts.method == GRAD_CAM:
            heat = parts.heatmap if image_size is None else self.heatmap_at(*image_size)
            body["heatmap_png"] = png_base64(np.round(heat * 255).astype(np.uint8))
        elif parts.method == NEIGHBOURS:
            body["neighbours"] = [{"reference": n.reference, "label": n.label, "distance": n.distance,
                                   "thumbnail_png": png_base64(n.thumbnail)} for n in parts.neighbours]
        else:
            body["path"] = self.path_text()
            body["steps"] = [{"node": s.node, "feature": s.feature, "words": s.words, "threshold": s.threshold,
                              "value": s.value, "went": "left" if s.went_left else "right"} for s in parts.path]
            body["leaf"] = {"node": parts.leaf, "counts": parts.leaf_counts}
        return body


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def png_base64(pixels: np.ndarray) -> str:
    return base64.b64encode(png_bytes(pixels)).decode("ascii")


def served_model(classifier: Classifier) -> str:
    del classifier
    return "the served model"


@dataclass(frozen=True)
class Explainer:
    """How a model kind explains an answer: `explain(classifier, image, class_index)` on one model-sized RGB uint8
    image; `runs_on(classifier)` says what computes it (GET /v1/models shows it)."""

    method: str
    explain: Callable[[Classifier, np.ndarray, int], ExplanationParts]
    runs_on: Callable[[Classifier], str] = served_model
