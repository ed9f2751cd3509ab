"""`explain` and the JSON every face returns: a named class must be one of the model's, a kind must have an
explainer, and each method's body carries its own parts (a heatmap PNG at the asked size, thumbnails, steps)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgclf.config import BaselineSettings
from imgclf.errors import ExplanationError
from imgclf.explanations.explain import explain, explanation_info
from imgclf.explanations.explanation import (DECISION_PATH, GRAD_CAM, NEIGHBOURS, Explanation, ExplanationParts,
                                             Neighbour, PathStep)
from imgclf.models.baselines import build_decision_tree
from imgclf.models.classifier import SklearnClassifier
from imgclf.models.features import PixelFeatures
from utils.toy_plugin import ClassMeans, ToyClassifier, install_toy_plugin

LABELS = ("ant", "bee", "cat")


def a_tree() -> SklearnClassifier:
    """A decision tree on 4 × 4 pixels of 30 random 8 px images."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 8, 8, 3)).astype(np.uint8)
    features = PixelFeatures(4)
    tree = build_decision_tree(BaselineSettings(), seed=0).fit(features.transform(images), np.arange(30) % 3)
    return SklearnClassifier(tree, features, labels=LABELS, input_size=8, card={"kind": "dt"})


def an_image(height: int = 8, width: int = 8) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (height, width, 3)).astype(np.uint8)


def decoded(png: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(png))))


def explanation_of(parts: ExplanationParts) -> Explanation:
    return Explanation(model_name="m", model_version="2", kind="k", predicted="bee", label="ant", label_index=0,
                       score=0.25, parts=parts)


def test_an_unknown_class_is_refused_naming_the_models_classes() -> None:
    with pytest.raises(ExplanationError, match="'zebra'.*ant, bee, cat"):
        explain(a_tree(), an_image(), "zebra", model_name="dt", model_version="1")


def test_a_named_class_is_explained_beside_the_predicted_one() -> None:
    classifier = a_tree()
    probabilities = classifier.predict_proba([an_image()])[0]
    named = LABELS[int(np.argmin(probabilities))]

    explanation = explain(classifier, an_image(), named, model_name="dt", model_version="1")

    assert explanation.label == named and explanation.label_index == LABELS.index(named)
    assert explanation.predicted == LABELS[int(np.argmax(probabilities))]
    assert explanation.score == pytest.approx(probabilities[LABELS.index(named)])


def test_an_image_of_any_size_is_explained_at_the_models_size() -> None:
    classifier = a_tree()
    large = np.kron(an_image(), np.ones((5, 3, 1), np.uint8))  # 40 × 24

    explanation = explain(classifier, large, model_name="dt", model_version="1")

    assert explanation.predicted == LABELS[int(np.argmax(classifier.predict_proba([large])[0]))]
    assert explanation.model_name == "dt" and explanation.model_version == "1" and explanation.kind == "dt"


def test_a_kind_without_an_explainer_is_refused(tmp_path: Path) -> None:
    with install_toy_plugin(tmp_path):
        toy = ToyClassifier(ClassMeans(np.zeros((3, 8 * 8 * 3), np.float32)), labels=LABELS, input_size=8,
                            card={"kind": "toy"})

        with pytest.raises(ExplanationError, match="kind toy give no explanations"):
            explain(toy, an_image(), model_name="toy", model_version="1")
        assert explanation_info(toy) is None


def test_the_model_list_says_how_a_kind_explains() -> None:
    assert explanation_info(a_tree()) == {"method": DECISION_PATH, "runs_on": "the served model"}


@pytest.mark.parametrize("image_size", [(30, 50), (8, 8), (3, 200)])
def test_a_heatmap_png_has_the_asked_image_size(image_size: tuple[int, int]) -> None:
    heatmap = np.random.default_rng(2).random((16, 16)).astype(np.float32)

    body = explanation_of(ExplanationParts(GRAD_CAM, heatmap=heatmap)).to_dict(image_size)

    png = decoded(body["heatmap_png"])
    assert png.shape == image_size and png.dtype == np.uint8
    assert {"neighbours", "path", "steps", "leaf"}.isdisjoint(body)


def test_a_heatmap_png_defaults_to_the_heatmaps_own_size_and_values() -> None:
    heatmap = np.linspace(0, 1, 16 * 12, dtype=np.float32).reshape(16, 12)

    body = explanation_of(ExplanationParts(GRAD_CAM, heatmap=heatmap)).to_dict()

    np.testing.assert_array_equal(decoded(body["heatmap_png"]), np.round(heatmap * 255).astype(np.uint8))
    assert body["model"] == {"name": "m", "version": "2", "kind": "k"}
    assert (body["method"], body["predicted"], body["label"], body["score"]) == (GRAD_CAM, "bee", "ant", 0.25)


def test_neighbours_carry_their_thumbnails() -> None:
    thumbnails = list(np.random.default_rng(3).integers(0, 256, (2, 12, 12, 3)).astype(np.uint8))
    neighbours = (Neighbour("bee/1.png", "bee", 0.5, thumbnails[0]), Neighbour("ant/7.png", "ant", 1.25, thumbnails[1]))

    body = explanation_of(ExplanationParts(NEIGHBOURS, neighbours=neighbours)).to_dict((40, 40))

    assert [(n["reference"], n["label"], n["distance"]) for n in body["neighbours"]] == [
        ("bee/1.png", "bee", 0.5), ("ant/7.png", "ant", 1.25)]
    for sent, thumbnail in zip(body["neighbours"], thumbnails):
        np.testing.assert_array_equal(decoded(sent["thumbnail_png"]), thumbnail)
    assert "heatmap_png" not in body and "path" not in body
    assert body["summary"] == "2 nearest training images: bee (0.50), ant (1.25)"


def test_a_path_carries_its_steps_and_leaf() -> None:
    steps = (PathStep(0, 5, "red of pixel", 0.5, 0.25), PathStep(1, 9, "blue of pixel", 0.1, 0.75),
             PathStep(2, 1, "green of pixel", 0.5, 0.5))
    parts = ExplanationParts(DECISION_PATH, path=steps, leaf=4, leaf_counts={"ant": 3, "bee": 0, "cat": 1})

    body = explanation_of(parts).to_dict((40, 40))

    assert [(s["node"], s["feature"], s["went"]) for s in body["steps"]] == [(0, 5, "left"), (1, 9, "right"),
                                                                             (2, 1, "left")]  # ≤ goes left
    assert body["leaf"] == {"node": 4, "counts": {"ant": 3, "bee": 0, "cat": 1}}
    assert body["path"].splitlines() == ["1. red of pixel = 0.250 ≤ 0.500", "2. blue of pixel = 0.750 > 0.100",
                                         "3. green of pixel = 0.500 ≤ 0.500",
                                         "leaf 4: training images here by class: ant 3, cat 1"]
    assert "heatmap_png" not in body and "neighbours" not in body


def test_the_grad_cam_summary_names_the_hottest_place() -> None:
    heatmap = np.zeros((9, 9), np.float32)
    heatmap[7, 1] = 1.0

    summary = explanation_of(ExplanationParts(GRAD_CAM, heatmap=heatmap)).summary()

    assert summary == "Grad-CAM for ant: the most weight is in the bottom left of the image"


def test_a_heatmap_resized_keeps_its_hot_quarter() -> None:
    heatmap = np.zeros((4, 4), np.float32)
    heatmap[:2, 2:] = 1.0

    resized = explanation_of(ExplanationParts(GRAD_CAM, heatmap=heatmap)).heatmap_at(40, 80)

    assert resized.shape == (40, 80) and resized.min() >= 0.0 and resized.max() <= 1.0
    assert resized[:20, 40:].sum() / resized.sum() > 0.8
