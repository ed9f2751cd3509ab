"""A tree's explanation: its steps, replayed from the root, reach the leaf the tree sends the image to; the leaf's
counts are its training rows and its majority is the answer; the words name the pixel and colour each test reads."""

from __future__ import annotations

import numpy as np
import pytest

from imgclf.config import BaselineSettings
from imgclf.explanations.decision_path import feature_words
from imgclf.explanations.explain import explain
from imgclf.models.baselines import build_decision_tree
from imgclf.models.classifier import SklearnClassifier
from imgclf.models.features import PixelFeatures

LABELS = ("circle", "square", "star")
IMAGE_SIZE, PIXEL_SIZE = 12, 6


def labelled_images(seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Random images whose class is mostly, not always, told by two pixels: a tree of several levels fits them."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.uint8)
    label_indices = (images[:, 2, 3, 0] > 128).astype(int) + (images[:, 9, 8, 2] > 160).astype(int)
    noisy = rng.random(count) < 0.2
    label_indices[noisy] = rng.integers(0, len(LABELS), int(noisy.sum()))
    return images, label_indices


def tree_classifier(features=None) -> SklearnClassifier:
    """A decision tree fitted on 120 images' features (pixels unless told)."""
    features = features or PixelFeatures(PIXEL_SIZE)
    images, label_indices = labelled_images(0, 120)
    tree = build_decision_tree(BaselineSettings(tree_max_depth=8), seed=0)
    tree.fit(features.transform(images), label_indices)
    return SklearnClassifier(tree, features, labels=LABELS, input_size=IMAGE_SIZE, card={"kind": "dt"})


def test_words_name_the_row_column_and_colour_of_a_pixel_feature() -> None:
    classifier = tree_classifier()
    size = PIXEL_SIZE
    for row, col, channel, colour in [(0, 0, 0, "red"), (0, 5, 1, "green"), (3, 2, 2, "blue"), (5, 5, 1, "green")]:
        image = np.zeros((1, size, size, 3), np.uint8)
        image[0, row, col, channel] = 255
        feature = int(np.argmax(PixelFeatures(size).transform(image)[0]))  # where the layout puts that pixel

        words = feature_words(classifier, feature)

        assert words.startswith(f"{colour} of pixel (row {row}, column {col}) of {size}×{size}"), words


@pytest.mark.parametrize("feature, place", [(0, "top left"), (5 * 3 + 2, "top right"), (6 * 3 * 5, "bottom left"),
                                            (6 * 3 * 3 + 3 * 3, "centre")])
def test_words_say_where_in_the_image_a_pixel_is(feature: int, place: str) -> None:
    assert feature_words(tree_classifier(), feature).endswith(f", {place}")


class Projection:
    """Features that are not pixels: a fixed random projection of the image, as embeddings are."""

    def __init__(self) -> None:
        self.weights = np.random.default_rng(1).normal(size=(IMAGE_SIZE * IMAGE_SIZE * 3, 10)).astype(np.float32)

    def transform(self, batch: np.ndarray) -> np.ndarray:
        return (batch.reshape(len(batch), -1).astype(np.float32) / 255.0) @ self.weights


def test_words_of_other_features_name_the_component() -> None:
    assert feature_words(tree_classifier(Projection()), 7) == "embedding component 7"


def replayed_leaf(classifier: SklearnClassifier, steps, values: np.ndarray) -> int:
    """Walk the fitted tree from its root by the image's feature values, checking each step on the way."""
    structure = classifier.estimator[-1].tree_
    node = 0
    for step in steps:
        assert step.node == node
        assert step.feature == structure.feature[node]
        assert step.threshold == pytest.approx(structure.threshold[node])
        assert step.value == pytest.approx(values[step.feature])
        assert step.went_left == (values[step.feature] <= structure.threshold[node])
        node = structure.children_left[node] if step.went_left else structure.children_right[node]
    assert structure.children_left[node] == structure.children_right[node], "the path stops before a leaf"
    return int(node)


@pytest.mark.parametrize("features", [PixelFeatures(PIXEL_SIZE), Projection()], ids=["pixels", "embeddings"])
def test_the_path_replayed_from_the_root_reaches_the_trees_leaf(features) -> None:
    classifier = tree_classifier(features)
    tree = classifier.estimator[-1]
    images, _ = labelled_images(1, 12)
    depths = []
    for image in images:
        values = features.transform(image[np.newaxis])

        parts = explain(classifier, image, model_name="dt", model_version="1").parts

        assert replayed_leaf(classifier, parts.path, values[0]) == parts.leaf == tree.apply(values)[0]
        depths.append(len(parts.path))
    assert max(depths) >= 3  # paths of several tests were checked


def test_the_leaf_counts_are_its_training_rows_and_its_majority_is_the_answer() -> None:
    classifier = tree_classifier()
    structure = classifier.estimator[-1].tree_
    images, _ = labelled_images(2, 12)
    for image in images:
        explanation = explain(classifier, image, model_name="dt", model_version="1")
        counts = explanation.parts.leaf_counts

        assert set(counts) == set(LABELS)
        assert sum(counts.values()) == structure.n_node_samples[explanation.parts.leaf]
        most = max(counts.values())
        if list(counts.values()).count(most) == 1:
            assert counts[explanation.predicted] == most


def test_the_leaf_counts_are_the_training_labels_that_reach_it() -> None:
    classifier = tree_classifier()
    tree = classifier.estimator[-1]
    train_images, train_labels = labelled_images(0, 120)
    train_leaves = tree.apply(classifier.features.transform(train_images))
    for image in labelled_images(3, 6)[0]:
        parts = explain(classifier, image, model_name="dt", model_version="1").parts

        reaching = train_labels[train_leaves == parts.leaf]
        assert parts.leaf_counts == {label: int((reaching == index).sum()) for index, label in enumerate(LABELS)}


def test_a_named_class_gets_the_same_path() -> None:
    classifier = tree_classifier()
    image = labelled_images(4, 1)[0][0]

    predicted = explain(classifier, image, model_name="dt", model_version="1")
    other = next(label for label in LABELS if label != predicted.predicted)
    named = explain(classifier, image, other, model_name="dt", model_version="1")

    assert named.label == other and named.predicted == predicted.predicted
    assert named.parts.path == predicted.parts.path and named.parts.leaf == predicted.parts.leaf
