"""KNN's reason: the k training images that voted, with their labels and distances, from the gallery the artifact
keeps of its training images (their paths under the data root, labels and thumbnails)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from imgclf.data.transforms import stack_images
from imgclf.errors import ExplanationError
from imgclf.explanations.explanation import NEIGHBOURS, Explainer, ExplanationParts, Neighbour
from imgclf.models.classifier import Classifier, SklearnClassifier

GALLERY_FILE = "neighbours.npz"
GALLERY_BUDGET_BYTES = 16 * 1024 * 1024  # the thumbnails, uncompressed: 16 MiB
THUMBNAIL_SIZES = (64, 48, 32, 24, 16, 12, 8)  # the largest that fits the budget (and the images) is kept


@dataclass(frozen=True)
class NeighbourGallery:
    """The training rows a KNN model was fitted on, in its fit order: path under the data root, label index and a
    thumbnail of each (square, at most 64 px, smaller when the rows would pass GALLERY_BUDGET_BYTES)."""

    references: tuple[str, ...]
    label_indices: np.ndarray  # (N,) int
    thumbnails: np.ndarray  # (N, t, t, 3) uint8

    @classmethod
    def of(cls, images: np.ndarray, references: Sequence[str], label_indices: np.ndarray,
           budget_bytes: int = GALLERY_BUDGET_BYTES) -> NeighbourGallery:
        size = thumbnail_size(len(images), images.shape[1], budget_bytes)
        return cls(tuple(references), np.asarray(label_indices, np.int64), stack_images(list(images), size))

    def save(self, folder: Path) -> None:
        np.savez_compressed(Path(folder) / GALLERY_FILE, references=np.asarray(self.references, dtype=str),
                            label_indices=self.label_indices, thumbnails=self.thumbnails)

    @classmethod
    def load(cls, folder: Path) -> NeighbourGallery | None:
        """The gallery saved in a model folder; None when it has none."""
        path = Path(folder) / GALLERY_FILE
        if not path.is_file():
            return None
        with np.load(path) as saved:
            return cls(tuple(str(r) for r in saved["references"]), saved["label_indices"], saved["thumbnails"])


def thumbnail_size(rows: int, image_size: int, budget_bytes: int) -> int:
    fitting = [size for size in THUMBNAIL_SIZES if size <= image_size and rows * size * size * 3 <= budget_bytes]
    return fitting[0] if fitting else THUMBNAIL_SIZES[-1]


def voting_neighbours(classifier: Classifier, image: np.ndarray, class_index: int) -> ExplanationParts:
    """The k nearest training images of one model-sized image, nearest first, with distances in the space KNN
    measures them (the pipeline's scaled features)."""
    del class_index  # the same neighbours vote for every class
    if not isinstance(classifier, SklearnClassifier) or classifier.gallery is None:
        raise ExplanationError("this KNN model was saved without its neighbour gallery: retrain it to explain it")
    features = np.asarray(classifier.features.transform(image[np.newaxis]), np.float32)
    estimator = classifier.estimator
    knn = estimator[-1]
    scaled = estimator[:-1].transform(features) if len(estimator) > 1 else features
    distances, indices = knn.kneighbors(scaled)
    gallery = classifier.gallery
    neighbours = tuple(
        Neighbour(gallery.references[row], classifier.labels[int(gallery.label_indices[row])], float(distance),
                  gallery.thumbnails[row])
        for distance, row in zip(distances[0], indices[0])
    )
    return ExplanationParts(NEIGHBOURS, neighbours=neighbours)


NEIGHBOURS_EXPLAINER = Explainer(NEIGHBOURS, voting_neighbours)
