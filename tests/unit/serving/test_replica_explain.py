"""The Classifier replica's explanations: computed when asked for, refused when the user_config switches them off,
and described by GET /v1/models' entries."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from imgclf.config import BaselineSettings
from imgclf.errors import ExplanationError, ModelNotServedError
from imgclf.models.artifact import save_estimator_artifact
from imgclf.models.baselines import build_decision_tree
from imgclf.models.card import ModelCard
from imgclf.models.features import PixelFeatures
from imgclf.registry import Registry
from imgclf.serving.model_replica import ClassifierReplica

LABELS = ["dark", "light"]
SIZE = 8


def save_tree(folder: Path) -> Path:
    """A tree that tells dark images from light ones by their pixels."""
    rng = np.random.default_rng(0)
    images = np.concatenate([rng.integers(0, 60, (10, SIZE, SIZE, 3)), rng.integers(190, 256, (10, SIZE, SIZE, 3))])
    features = PixelFeatures(4)
    tree = build_decision_tree(BaselineSettings(), 0).fit(features.transform(images.astype(np.uint8)), [0] * 10 + [1] * 10)
    save_estimator_artifact(folder, tree, features, ModelCard(name="shade", kind="dt", labels=LABELS, input_size=SIZE))
    return folder


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("registry")
    Registry(root).register("shade", save_tree(tmp_path_factory.mktemp("artifacts") / "shade"))
    return str(root)


def replica_with(registry: str, **user_config: object) -> ClassifierReplica:
    replica = ClassifierReplica.func_or_class()
    asyncio.run(replica.reconfigure({"model": "shade", "registry": registry, **user_config}))
    return replica


def test_a_replica_explains_when_asked_and_describes_how(registry: str) -> None:
    replica = replica_with(registry)
    light = np.full((SIZE, SIZE, 3), 230, np.uint8)
    explained = asyncio.run(replica.explain(light, None, "shade"))
    assert (explained.method, explained.predicted, explained.model_name) == ("decision-path", "light", "shade")
    assert explained.parts.leaf_counts["light"] > 0 and explained.parts.leaf_counts["dark"] == 0
    assert replica.describe_all()[0]["explanation"] == {"method": "decision-path", "runs_on": "the served model"}
    with pytest.raises(ModelNotServedError, match="shade"):
        asyncio.run(replica.explain(light, None, "cows"))


def test_explanations_switched_off_are_refused_and_described_as_none(registry: str) -> None:
    replica = replica_with(registry, explanations=False)
    with pytest.raises(ExplanationError, match="explanations: false"):
        asyncio.run(replica.explain(np.zeros((SIZE, SIZE, 3), np.uint8), None, None))
    assert replica.describe_all()[0]["explanation"] is None
