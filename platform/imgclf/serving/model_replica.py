"""The Classifier deployment: one model per replica, loaded from the registry, requests batched with @serve.batch.

Its `user_config` (a ClassifierConfig) names the model; changing it in serve_config.yaml and redeploying calls
`reconfigure` on the running replicas, which load the new version next to the old one and switch over between
batches, so no request is dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from ray import serve
from ray.serve import metrics

from imgclf.errors import ModelNotLoadedError
from imgclf.models.classifier import Classifier
from imgclf.models.prediction import Prediction
from imgclf.serving.settings import ClassifierConfig

LOG = logging.getLogger("imgclf.serving")
MODEL_INFO_REFRESH_S = 5.0  # Ray drops a gauge some 20-30 s after its last set(): keep setting it
CONFIDENCE_BUCKETS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0]


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    classifier: Classifier
    evaluation: dict[str, Any]  # the artifact's metrics.json (empty when it has none)

    def describe(self) -> dict[str, Any]:
        """What GET /v1/models shows: identity, labels, input size, weights source and test metrics."""
        card = self.classifier.card
        return {
            "name": self.name,
            "version": self.version,
            "kind": card.get("kind"),
            "labels": list(self.classifier.labels),
            "input_size": self.classifier.input_size,
            "weights": card.get("weights_source"),  # imagenet, none or a weights file
            "inference": card.get("inference"),
            "created": card.get("created"),
            "metrics": self.evaluation,
        }


def load_model(config: ClassifierConfig) -> LoadedModel:
    """Resolve and load the configured model (slow: runs off the event loop)."""
    from imgclf.models.artifact import load_classifier
    from imgclf.registry import Registry
    registry = Registry(config.registry)
    name, version = registry.resolve(config.model)
    folder = registry.local_path(f"{name}:{version}")
    metrics_file = folder / "metrics.json"
    evaluation = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    classifier = load_classifier(folder, backend=config.backend, precision=config.precision)
    return LoadedModel(name, version, classifier, evaluation)


@serve.deployment(name="Classifier", max_ongoing_requests=16)
class ClassifierReplica:
    """Model-sized RGB uint8 images in, class probabilities out, batched across concurrent requests."""

    def __init__(self) -> None:
        self.model: LoadedModel | None = None
        self.confidence = metrics.Histogram(
            "imgclf_prediction_confidence", description="Top-1 probability of each prediction (a drift signal).",
            boundaries=CONFIDENCE_BUCKETS, tag_keys=("model",),
        )
        self.model_info = metrics.Gauge(
            "imgclf_model_info", description="1 for the model version this replica serves.", tag_keys=("name", "version"),
        )
        self.model_info_task: asyncio.Task | None = None

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        config = ClassifierConfig.from_mapping(user_config)
        loaded = await asyncio.to_thread(load_model, config)
        self.classify_batch.set_max_batch_size(config.max_batch_size)
        self.classify_batch.set_batch_wait_timeout_s(config.batch_wait_timeout_s)
        previous, self.model = self.model, loaded
        if previous is not None and (previous.name, previous.version) != (loaded.name, loaded.version):
            self.model_info.set(0, tags={"name": previous.name, "version": previous.version})
        if self.model_info_task is None:
            self.model_info_task = asyncio.get_running_loop().create_task(self.keep_model_info())
        LOG.info("serving %s:%s (batches up to %d)", loaded.name, loaded.version, config.max_batch_size)

    async def keep_model_info(self) -> None:
        """imgclf_model_info{name, version} = 1 for the served model, refreshed for as long as the replica lives."""
        while True:
            if self.model is not None:
                self.model_info.set(1, tags={"name": self.model.name, "version": self.model.version})
            await asyncio.sleep(MODEL_INFO_REFRESH_S)

    def describe(self) -> dict[str, Any] | None:
        """The served model's description, or None before a model is loaded."""
        return self.model.describe() if self.model else None

    async def classify(self, image: np.ndarray, k: int) -> dict[str, Any]:
        """{"prediction": the image's Prediction with its top k, "input_size": the model's input side}."""
        return await self.classify_batch(image, k)

    @serve.batch(max_batch_size=ClassifierConfig.max_batch_size,
                 batch_wait_timeout_s=ClassifierConfig.batch_wait_timeout_s)  # until reconfigure sets the config's
    async def classify_batch(self, images: list[np.ndarray], ks: list[int]) -> list[dict[str, Any]]:
        model = self.model  # one version for the whole batch, even while a reconfigure swaps it
        if model is None:
            raise ModelNotLoadedError("no model loaded: the Classifier's user_config names none")
        probabilities = await asyncio.to_thread(model.classifier.predict_proba, images)
        tags = {"model": f"{model.name}:{model.version}"}
        for row in probabilities:
            self.confidence.observe(float(row.max()), tags=tags)
        labels = model.classifier.labels
        return [
            {"prediction": Prediction.from_probabilities(row, labels, k, model_name=model.name,
                                                         model_version=model.version),
             "input_size": model.classifier.input_size}
            for row, k in zip(probabilities, ks)
        ]
