"""The Classifier's models loaded from a registry: a pattern's VGG16 comes first by its card's kind, not its name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imgclf.config import BaselineSettings
from imgclf.models.artifact import save_estimator_artifact, save_keras_artifact
from imgclf.models.baselines import build_knn
from imgclf.models.card import ModelCard
from imgclf.models.features import PixelFeatures
from imgclf.models.vgg import VGGArchitecture, build_vgg16
from imgclf.registry import Registry
from imgclf.serving.model_replica import load_models
from imgclf.serving.settings import ClassifierConfig

LABELS = ["left", "right"]
SIZE = 32


def save_knn(folder: Path, name: str) -> Path:
    images = np.random.default_rng(0).integers(0, 256, (6, SIZE, SIZE, 3), dtype=np.uint8)
    features = PixelFeatures(4)
    estimator = build_knn(BaselineSettings(knn_neighbors=1), 0).fit(features.transform(images), np.arange(6) % 2)
    save_estimator_artifact(folder, estimator, features, ModelCard(name=name, kind="knn", labels=LABELS, input_size=SIZE))
    return folder


def save_vgg16(folder: Path, name: str) -> Path:
    architecture = VGGArchitecture(num_classes=len(LABELS), image_size=SIZE)
    card = ModelCard(name=name, kind="vgg16", labels=LABELS, input_size=SIZE, architecture=architecture.to_dict(),
                     weights_source="none", pretrained=False, precision="fp32")
    save_keras_artifact(folder, build_vgg16(architecture, weights="none"), card)
    return folder


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> str:
    """`shapes-a` and `shapes-z` (KNN) and `shapes-net` (a VGG16 whose name does not say so)."""
    artifacts, root = tmp_path_factory.mktemp("artifacts"), tmp_path_factory.mktemp("registry")
    registry = Registry(root)
    registry.register("shapes-a", save_knn(artifacts / "a", "shapes-a"))
    registry.register("shapes-net", save_vgg16(artifacts / "net", "shapes-net"))
    registry.register("shapes-z", save_knn(artifacts / "z", "shapes-z"))
    return str(root)


def loaded_names(registry: str, model: str | list[str]) -> list[str]:
    return list(load_models(ClassifierConfig.from_mapping({"model": model, "registry": registry,
                                                           "backend": "tensorflow"})).models)


def test_a_patterns_vgg16_is_the_default_whatever_its_name(registry: str) -> None:
    assert loaded_names(registry, "shapes-*") == ["shapes-net", "shapes-a", "shapes-z"]


def test_listed_references_keep_their_order_before_a_pattern(registry: str) -> None:
    assert loaded_names(registry, ["shapes-z", "shapes-*"]) == ["shapes-z", "shapes-net", "shapes-a"]
    assert loaded_names(registry, ["shapes-a", "shapes-net:1"]) == ["shapes-a", "shapes-net"]
