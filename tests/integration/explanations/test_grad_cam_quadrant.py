"""Grad-CAM points where the answer comes from: a VGG16 trained from scratch on images whose class only the top-left
quadrant decides (its stripes, or none for "plain") puts most of a striped image's heatmap there, for the predicted
class and for a class named by the caller, and none of a plain image's."""

from __future__ import annotations

import numpy as np
import pytest

from imgclf.explanations.explain import explain
from imgclf.models.classifier import KerasClassifier
from imgclf.models.keras_api import keras
from imgclf.models.vgg import VGGArchitecture, build_vgg16, set_trainable_layers
from utils.quadrant_images import QUADRANT_LABELS, quadrant_dataset, top_left_mass

pytestmark = pytest.mark.slow

SIZE = 64
TRAIN_PER_CLASS, HELD_OUT_PER_CLASS, EPOCHS = 48, 3, 4
MIN_MASS = 0.7  # of a striped image's heatmap, in the top-left quadrant
PLAIN = QUADRANT_LABELS.index("plain")


@pytest.fixture(scope="module")
def quadrant_model(seed: int) -> KerasClassifier:
    """VGG16 trained end to end from random weights on 192 quadrant images (about a minute on two cores).

    The plain class makes each striped class answer on its own stripes: with striped classes only, one of them is
    told by the others' stripes missing, and its heatmap spreads over the whole image."""
    keras.utils.set_random_seed(seed)
    images, label_indices = quadrant_dataset(seed, TRAIN_PER_CLASS, SIZE)
    model = build_vgg16(VGGArchitecture(num_classes=len(QUADRANT_LABELS), image_size=SIZE), weights="none")
    set_trainable_layers(model, "all")
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
    model.fit(images, label_indices, batch_size=16, epochs=EPOCHS, shuffle=True, verbose=0)
    return KerasClassifier(model, labels=QUADRANT_LABELS, input_size=SIZE, card={"kind": "vgg16"})


@pytest.fixture(scope="module")
def held_out(seed: int) -> tuple[np.ndarray, np.ndarray]:
    return quadrant_dataset(seed + 1, HELD_OUT_PER_CLASS, SIZE)


def test_the_model_tells_the_quadrants_classes_apart(quadrant_model: KerasClassifier, held_out) -> None:
    images, label_indices = held_out

    predicted = quadrant_model.predict_batch(images).argmax(axis=1)

    assert (predicted == label_indices).mean() >= 0.9


def predicted_masses(classifier: KerasClassifier, images: np.ndarray) -> list[float]:
    return [top_left_mass(explain(classifier, image, model_name="quadrants", model_version="1").parts.heatmap)
            for image in images]


def test_the_predicted_class_heatmap_is_in_the_deciding_quadrant(quadrant_model: KerasClassifier, held_out) -> None:
    images, label_indices = held_out

    masses = predicted_masses(quadrant_model, images[label_indices != PLAIN])

    assert min(masses) >= MIN_MASS, np.round(masses, 2)


def test_a_plain_image_heatmap_is_not_in_the_top_left(quadrant_model: KerasClassifier, held_out) -> None:
    images, label_indices = held_out

    masses = predicted_masses(quadrant_model, images[label_indices == PLAIN])

    assert max(masses) < 0.5, np.round(masses, 2)


def test_a_named_class_heatmap_is_in_the_deciding_quadrant(quadrant_model: KerasClassifier, held_out) -> None:
    images, label_indices = held_out
    for image, index in zip(images[label_indices != PLAIN], label_indices[label_indices != PLAIN]):
        named = QUADRANT_LABELS[index]

        explanation = explain(quadrant_model, image, named, model_name="quadrants", model_version="1")

        assert explanation.label == named and explanation.label_index == index
        assert top_left_mass(explanation.parts.heatmap) >= MIN_MASS, named


def test_a_named_class_is_explained_for_itself_not_for_the_prediction(quadrant_model: KerasClassifier,
                                                                      held_out) -> None:
    image = held_out[0][0]
    predicted = explain(quadrant_model, image, model_name="quadrants", model_version="1")
    probabilities = quadrant_model.predict_batch(image[np.newaxis])[0]
    other = next(label for label in QUADRANT_LABELS if label != predicted.predicted)

    named = explain(quadrant_model, image, other, model_name="quadrants", model_version="1")

    assert (named.label, named.predicted) == (other, predicted.predicted)
    assert named.score == pytest.approx(probabilities[QUADRANT_LABELS.index(other)], abs=1e-6)
    assert not np.allclose(named.parts.heatmap, predicted.parts.heatmap, atol=0.05)
