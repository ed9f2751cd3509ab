"""KNN's explanation: the voting neighbours are the true nearest training rows in the scaled feature space, in order,
at their distances, and their vote is the answer; the gallery keeps its rows through a save and a load, within its
byte budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imgclf.config import BaselineSettings
from imgclf.errors import ExplanationError
from imgclf.explanations.explain import explain
from imgclf.explanations.neighbours import (GALLERY_BUDGET_BYTES, GALLERY_FILE, THUMBNAIL_SIZES, NeighbourGallery,
                                            thumbnail_size)
from imgclf.models.baselines import build_knn
from imgclf.models.classifier import SklearnClassifier
from imgclf.models.features import PixelFeatures

LABELS = ("cat", "dog")
IMAGE_SIZE, PIXEL_SIZE, NEIGHBOURS = 16, 4, 5


def training_images(seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Random images, the second class brighter on average, and their label indices."""
    rng = np.random.default_rng(seed)
    label_indices = rng.integers(0, len(LABELS), count)
    base = rng.integers(0, 160, (count, IMAGE_SIZE, IMAGE_SIZE, 3))
    return (base + 80 * label_indices[:, None, None, None]).astype(np.uint8), label_indices


def knn_classifier(gallery: bool = True) -> tuple[SklearnClassifier, np.ndarray]:
    """A KNN on 4 × 4 pixels fitted on 40 random images; also the training features."""
    images, label_indices = training_images(0, 40)
    features = PixelFeatures(PIXEL_SIZE)
    rows = features.transform(images)
    pipeline = build_knn(BaselineSettings(knn_neighbors=NEIGHBOURS), seed=0).fit(rows, label_indices)
    kept = NeighbourGallery.of(images, [f"{LABELS[i]}/{n}.png" for n, i in enumerate(label_indices)],
                               label_indices) if gallery else None
    classifier = SklearnClassifier(pipeline, features, gallery=kept, labels=LABELS, input_size=IMAGE_SIZE,
                                   card={"kind": "knn"})
    return classifier, rows


def brute_force_nearest(classifier: SklearnClassifier, rows: np.ndarray, image: np.ndarray):
    """(indices, distances) of every training row by Euclidean distance in the pipeline's scaled space."""
    scaler = classifier.estimator.named_steps["scale"]
    query = (classifier.features.transform(image[np.newaxis]) - scaler.mean_) / scaler.scale_
    distances = np.linalg.norm((rows - scaler.mean_) / scaler.scale_ - query, axis=1)
    order = np.argsort(distances, kind="stable")
    return order, distances[order]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_neighbours_are_the_nearest_training_rows_in_order(seed: int) -> None:
    classifier, rows = knn_classifier()
    image = training_images(seed, 1)[0][0]
    order, distances = brute_force_nearest(classifier, rows, image)

    explanation = explain(classifier, image, model_name="knn", model_version="1")

    neighbours = explanation.parts.neighbours
    assert [n.reference for n in neighbours] == [classifier.gallery.references[i] for i in order[:NEIGHBOURS]]
    np.testing.assert_allclose([n.distance for n in neighbours], distances[:NEIGHBOURS], rtol=1e-5)
    assert [n.label for n in neighbours] == [LABELS[classifier.gallery.label_indices[i]] for i in order[:NEIGHBOURS]]
    for neighbour, row in zip(neighbours, order[:NEIGHBOURS]):
        np.testing.assert_array_equal(neighbour.thumbnail, classifier.gallery.thumbnails[row])


@pytest.mark.parametrize("seed", [5, 6, 7, 8])
def test_the_neighbours_majority_is_the_answer(seed: int) -> None:
    classifier, _ = knn_classifier()
    image = training_images(seed, 1)[0][0]

    explanation = explain(classifier, image, model_name="knn", model_version="1")

    votes = [n.label for n in explanation.parts.neighbours]
    assert max(LABELS, key=votes.count) == explanation.predicted  # an odd k of two classes: no tie


def test_a_named_class_gets_the_same_neighbours() -> None:
    classifier, _ = knn_classifier()
    image = training_images(9, 1)[0][0]

    predicted = explain(classifier, image, model_name="knn", model_version="1")
    other = next(label for label in LABELS if label != predicted.predicted)
    named = explain(classifier, image, other, model_name="knn", model_version="1")

    assert named.label == other and named.predicted == predicted.predicted
    assert [n.reference for n in named.parts.neighbours] == [n.reference for n in predicted.parts.neighbours]


def test_the_gallery_survives_a_save_and_a_load(tmp_path: Path) -> None:
    gallery = knn_classifier()[0].gallery
    gallery.save(tmp_path)

    loaded = NeighbourGallery.load(tmp_path)

    assert (tmp_path / GALLERY_FILE).is_file()
    assert loaded.references == gallery.references
    np.testing.assert_array_equal(loaded.label_indices, gallery.label_indices)
    np.testing.assert_array_equal(loaded.thumbnails, gallery.thumbnails)
    assert loaded.thumbnails.dtype == np.uint8


def test_a_folder_without_a_gallery_loads_none(tmp_path: Path) -> None:
    assert NeighbourGallery.load(tmp_path) is None


@pytest.mark.parametrize("rows, image_size", [(10, 64), (1_000, 64), (2_000, 64), (5_000, 64), (50_000, 32), (10, 20)])
def test_the_thumbnails_are_the_largest_that_fit_the_budget(rows: int, image_size: int) -> None:
    size = thumbnail_size(rows, image_size, GALLERY_BUDGET_BYTES)

    assert rows * size * size * 3 <= GALLERY_BUDGET_BYTES and size <= image_size
    larger = [s for s in THUMBNAIL_SIZES if size < s <= image_size]
    assert all(rows * s * s * 3 > GALLERY_BUDGET_BYTES for s in larger)


def test_rows_too_many_for_any_size_get_the_smallest() -> None:
    assert thumbnail_size(10**6, 64, GALLERY_BUDGET_BYTES) == THUMBNAIL_SIZES[-1]


def test_a_gallery_keeps_its_thumbnails_within_the_budget() -> None:
    images, label_indices = training_images(0, 40)
    budget = 40 * 8 * 8 * 3  # room for 8 px thumbnails, not 12 px ones

    gallery = NeighbourGallery.of(images, [str(n) for n in range(40)], label_indices, budget_bytes=budget)

    assert gallery.thumbnails.shape == (40, 8, 8, 3)
    assert gallery.thumbnails.nbytes <= budget


def test_a_model_without_its_gallery_cannot_explain() -> None:
    classifier, _ = knn_classifier(gallery=False)

    with pytest.raises(ExplanationError, match="without its neighbour gallery"):
        explain(classifier, training_images(1, 1)[0][0], model_name="knn", model_version="1")
