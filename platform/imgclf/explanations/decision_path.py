"""A decision tree's reason: the tests on the way from its root to the leaf the image reaches, in words (for
pixels: which pixel, where, which colour; for embeddings: which component), and the leaf's training class counts."""

from __future__ import annotations

import numpy as np

from imgclf.explanations.explanation import DECISION_PATH, Explainer, ExplanationParts, PathStep
from imgclf.explanations.regions import region_name
from imgclf.models.classifier import Classifier, SklearnClassifier
from imgclf.models.features import PixelFeatures

CHANNELS = ("red", "green", "blue")


def pixel_of(feature: int, size: int) -> tuple[int, int, int]:
    """(row, column, channel) of a pixel feature: PixelFeatures flattens a size × size RGB image row by row."""
    return feature // (size * 3), (feature // 3) % size, feature % 3


def feature_words(classifier: SklearnClassifier, feature: int) -> str:
    """What feature `feature` of the tree's input is, said for a person."""
    features = classifier.features
    if isinstance(features, PixelFeatures):
        size = features.size
        row, col, channel = pixel_of(feature, size)
        place = region_name(row, col, size, size)
        return f"{CHANNELS[channel]} of pixel (row {row}, column {col}) of {size}×{size}, {place}"
    return f"embedding component {feature}"


def decision_path(classifier: Classifier, image: np.ndarray, class_index: int) -> ExplanationParts:
    """The root-to-leaf tests of one model-sized image."""
    del class_index  # one path, whichever class is asked about
    assert isinstance(classifier, SklearnClassifier)
    features = np.asarray(classifier.features.transform(image[np.newaxis]), np.float32)
    estimator = classifier.estimator
    tree = estimator[-1]
    values = (estimator[:-1].transform(features) if len(estimator) > 1 else features)[0]
    structure = tree.tree_
    nodes = tree.decision_path(values[np.newaxis]).indices
    steps = tuple(
        PathStep(int(node), int(structure.feature[node]), feature_words(classifier, int(structure.feature[node])),
                 float(structure.threshold[node]), float(values[structure.feature[node]]))
        for node in nodes if structure.children_left[node] != structure.children_right[node]  # not the leaf
    )
    leaf = int(nodes[-1])
    counts = structure.value[leaf][0] * structure.weighted_n_node_samples[leaf]  # value holds class fractions
    leaf_counts = {classifier.labels[int(index)]: int(round(count)) for index, count in zip(tree.classes_, counts)}
    return ExplanationParts(DECISION_PATH, path=steps, leaf=leaf, leaf_counts=leaf_counts)


DECISION_PATH_EXPLAINER = Explainer(DECISION_PATH, decision_path)
