"""Grad-CAM's layer, and Grad-CAM on a compiled variant: it has no Keras network of its own, so the one saved in its
model folder is loaded on its first explanation, once, and gives the heatmap the Keras model gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imgclf.errors import ExplanationError
from imgclf.explanations.explain import explain, explanation_info
from imgclf.explanations.gradcam import cam_layer, keras_network
from imgclf.models.artifact import KERAS_FILE, load_keras_file, save_keras_artifact
from imgclf.models.card import ModelCard
from imgclf.models.classifier import KerasClassifier, OpenVINOClassifier
from imgclf.models.keras_api import keras
from imgclf.models.vgg import EMBEDDING_LAYER, VGGArchitecture, build_vgg16, vgg16_base

LABELS = ("left", "right")
SIZE = 64
CASES = ((0, "left"), (0, "right"), (1, "left"))  # (image seed, class): heatmaps of some shape from random weights
BEFORE = "the saved TensorFlow network, loaded on the first explanation"
AFTER = "the saved TensorFlow network, loaded for explanations"


@pytest.mark.parametrize("image_size, layer, side", [(224, "block5_conv3", 14), (128, "block4_conv3", 16),
                                                    (64, "block3_conv3", 16), (32, "block2_conv2", 16)])
def test_the_heatmap_comes_from_the_deepest_layer_of_at_least_14_cells(image_size: int, layer: str,
                                                                         side: int) -> None:
    chosen = cam_layer(vgg16_base(image_size, "none"))

    assert (chosen.name, tuple(chosen.output.shape[1:3])) == (layer, (side, side))


@pytest.fixture(scope="module")
def keras_classifier() -> KerasClassifier:
    keras.utils.set_random_seed(0)
    model = build_vgg16(VGGArchitecture(num_classes=len(LABELS), image_size=SIZE), weights="none")
    return KerasClassifier(model, labels=LABELS, input_size=SIZE, card={"kind": "vgg16"})


def variant_of(keras_classifier: KerasClassifier, folder: Path) -> OpenVINOClassifier:
    """The model saved to `folder` and loaded back as a classifier without a Keras network (answering through a
    two-output network, as a compiled variant does)."""
    save_keras_artifact(folder, keras_classifier.model,
                        ModelCard(name="quadrants", kind="vgg16", labels=LABELS, input_size=SIZE))
    saved = load_keras_file(folder / KERAS_FILE)
    network = keras.Model(saved.input, [saved.get_layer(EMBEDDING_LAYER).output, saved.output])
    return OpenVINOClassifier(network, labels=LABELS, input_size=SIZE, card={"kind": "vgg16"}, folder=folder)


def an_image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3)).astype(np.uint8)


def test_a_variant_explains_with_its_saved_network_loaded_once(keras_classifier: KerasClassifier,
                                                                tmp_path: Path) -> None:
    variant = variant_of(keras_classifier, tmp_path)
    assert explanation_info(variant) == {"method": "grad-cam", "runs_on": BEFORE}

    for seed, label in CASES:
        image = an_image(seed)
        from_variant = explain(variant, image, label, model_name="q", model_version="1").parts.heatmap
        from_keras = explain(keras_classifier, image, label, model_name="q", model_version="1").parts.heatmap

        assert from_variant.shape == (SIZE, SIZE)
        np.testing.assert_allclose(from_variant, from_keras, atol=1e-4)
    assert explanation_info(variant) == {"method": "grad-cam", "runs_on": AFTER}
    assert keras_network(variant) is keras_network(variant)
    assert keras_network(variant) is not keras_classifier.model


def test_the_heatmaps_compared_have_a_shape(keras_classifier: KerasClassifier) -> None:
    heatmaps = [explain(keras_classifier, an_image(seed), label, model_name="q", model_version="1").parts.heatmap
                for seed, label in CASES]

    assert all(heatmap.max() == pytest.approx(1.0) and heatmap.min() < 0.9 for heatmap in heatmaps)


def test_a_keras_model_explains_with_the_served_network(keras_classifier: KerasClassifier) -> None:
    assert explanation_info(keras_classifier) == {"method": "grad-cam", "runs_on": "the served TensorFlow network"}
    assert keras_network(keras_classifier) is keras_classifier.model


def test_a_variant_without_a_folder_cannot_explain(keras_classifier: KerasClassifier, tmp_path: Path) -> None:
    variant = variant_of(keras_classifier, tmp_path)
    variant.folder = None

    with pytest.raises(ExplanationError, match="no saved Keras network"):
        explain(variant, an_image(0), model_name="q", model_version="1")
