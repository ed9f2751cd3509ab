"""The Classifier deployment: the configured models in every replica, loaded from the registry, requests batched
with @serve.batch.

Its `user_config` (a ClassifierConfig) names the models (the first is the default); changing it in
serve_config.yaml and redeploying calls `reconfigure` on the running replicas, which load the new set next to
the old one and switch over between batches, so no request is dropped. A batch may mix models: each model
classifies its own images of the batch in one call.

Every replica holds every model, rather than Ray Serve's model multiplexing (one model per request routed to the
replicas holding it, loaded on demand): the models of a run are small next to a replica's memory, a request for
any model never waits for a load, and batching stays one `@serve.batch` queue per replica (a batched multiplexed
method saw one request's model id for the whole batch until ray#59334 fixed ray#56633, and a mixed batch is
split again there anyway). README: Serving several models.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from ray import serve
from ray.serve import metrics

from imgclf.console import install_quiet_tensorflow_import
from imgclf.errors import ConfigError, ExplanationError, ModelNotLoadedError, ModelNotServedError
from imgclf.explanations.explain import explain, explanation_info
from imgclf.explanations.explanation import Explanation
from imgclf.models.classifier import Classifier
from imgclf.models.prediction import Prediction
from imgclf.serving.canary import CANARY, STABLE, answering, traffic_percent
from imgclf.serving.settings import MODEL_PATTERN_SUFFIX, ClassifierConfig, expand_references

if TYPE_CHECKING:
    from imgclf.registry import Registry

LOG = logging.getLogger("imgclf.serving")
MODEL_INFO_REFRESH_S = 5.0  # Ray drops a gauge some 20-30 s after its last set(): keep setting it
# What /v1/models and the page show of a model's metrics.json: its scores, not its per-epoch history or its
# answer for each test image (kilobytes per model, on every listing).
LISTED_METRICS = ("test", "calibration", "timing", "cv")
CONFIDENCE_BUCKETS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0]


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    classifier: Classifier
    evaluation: dict[str, Any]  # the LISTED_METRICS of the artifact's metrics.json (empty when it has none)
    role: str = STABLE  # or CANARY: the second version of the default model, answering a share of its requests
    traffic: float = 100.0  # percent of its name's requests this version answers

    @property
    def reference(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def tags(self) -> dict[str, str]:
        """The metric tags that tell the versions apart."""
        return {"model": self.reference, "name": self.name, "version": self.version, "role": self.role}

    def summary(self) -> dict[str, Any]:
        """What answering a request needs: identity, kind, labels and input size (a few hundred bytes)."""
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.classifier.card.get("kind"),
            "labels": list(self.classifier.labels),
            "input_size": self.classifier.input_size,
            "role": self.role,
            "traffic_percent": self.traffic,
        }

    def describe(self, explanations: bool) -> dict[str, Any]:
        """What GET /v1/models shows: the summary, weights source, inference settings, test metrics and how it
        explains its answers (None when explanations are off or its kind gives none)."""
        card = self.classifier.card
        return {
            **self.summary(),
            "weights": card.get("weights_source"),  # imagenet, none or a weights file
            "inference": card.get("inference"),
            "created": card.get("created"),
            "metrics": self.evaluation,
            "explanation": explanation_info(self.classifier) if explanations else None,
        }


@dataclass(frozen=True)
class ServedModels:
    """What one replica serves: the stable models by name (the default first) and maybe a canary of the default."""

    models: dict[str, LoadedModel]
    canary: LoadedModel | None = None

    def all(self) -> list[LoadedModel]:
        return [*self.models.values(), *([self.canary] if self.canary else [])]

    def pick(self, name: str | None) -> LoadedModel:
        """The version answering a request for `name` (None: the default; `name:version` pins that version)."""
        if not self.models:
            raise ModelNotLoadedError("no model loaded: the Classifier's user_config names none")
        if name is not None and ":" in name:
            pinned = next((model for model in self.all() if model.reference == name), None)
            if pinned is None:
                raise ModelNotServedError(f"this deployment does not serve {name}; it serves "
                                          f"{', '.join(model.reference for model in self.all())}")
            return pinned
        if name is not None and name not in self.models:
            raise ModelNotServedError(f"this deployment does not serve a model {name!r}; it serves "
                                      f"{', '.join(self.models)}")
        stable = self.models[name] if name is not None else next(iter(self.models.values()))
        canary = self.canary if self.canary is not None and self.canary.name == stable.name else None
        return answering(stable, canary, canary.traffic if canary else 0.0)


def load_models(config: ClassifierConfig, loaded_before: list[LoadedModel] = ()) -> ServedModels:
    """Resolve and load the configured models, by name, in the configured order, a pattern's models by their kind's
    serve_rank (VGG16 first); the first is the default, and the canary a second version of it. A version loaded
    before with the same settings is kept, not loaded again (slow: runs off the event loop)."""
    from imgclf.registry import Registry

    registry = Registry(config.registry)
    patterns = any(ref.endswith(MODEL_PATTERN_SUFFIX) for ref in config.references)
    reuse = {model.reference: model for model in loaded_before}
    loaded: dict[str, LoadedModel] = {}
    for group in expand_references(config.references, registry.list_models() if patterns else []):
        for model in sorted((load_model(registry, config, reference, reuse) for reference in group), key=serve_rank):
            if model.name in loaded:
                raise ConfigError(f"Classifier user_config.model names {model.name} twice")
            loaded[model.name] = model
    if config.canary is None or not loaded:
        return ServedModels(loaded)
    default = next(iter(loaded.values()))
    canary = load_model(registry, config, f"{default.name}:{config.canary.version}", reuse)
    if canary.version == default.version:
        raise ConfigError(f"the canary {canary.reference} is the version already served; name another version")
    weight = config.canary.weight
    loaded[default.name] = replace(default, traffic=traffic_percent(STABLE, weight))
    return ServedModels(loaded, replace(canary, role=CANARY, traffic=traffic_percent(CANARY, weight)))


def load_model(registry: Registry, config: ClassifierConfig, reference: str,
               reuse: dict[str, LoadedModel] | None = None) -> LoadedModel:
    """One model reference resolved in the registry and loaded with the configured backend and precision (or the
    same version from `reuse`, as a stable model)."""
    from imgclf.models.artifact import load_classifier

    name, version = registry.resolve(reference)
    if reuse and f"{name}:{version}" in reuse:
        return replace(reuse[f"{name}:{version}"], role=STABLE, traffic=100.0)
    folder = registry.local_path(f"{name}:{version}")
    metrics_file = folder / "metrics.json"
    evaluation = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    evaluation = {key: value for key, value in evaluation.items() if key in LISTED_METRICS}
    classifier = load_classifier(folder, backend=config.backend, precision=config.precision)
    return LoadedModel(name, version, classifier, evaluation)


def warm_up(models: list[LoadedModel]) -> None:
    """One batch of one blank image and one of two through each model before the replica takes requests, so a new
    replica (a replacement, a scale-up, a reconfigure) answers its first requests at full speed: TensorFlow traces
    its predict function for a first and a second batch shape (then keeps one for any batch size), OpenVINO and
    scikit-learn allocate their buffers."""
    for model in models:
        blank = np.zeros((model.classifier.input_size, model.classifier.input_size, 3), np.uint8)
        for count in (1, 2):
            model.classifier.predict_proba([blank] * count)


def serve_rank(model: LoadedModel) -> int:
    """Sort key: the rank its kind (by its card) has among a pattern's models, the strongest kind (VGG16) first."""
    from imgclf.models.kinds import model_kind

    return model_kind(model.classifier.card["kind"]).serve_rank


def loading_settings(config: ClassifierConfig) -> tuple[Any, ...]:
    """What a loaded model depends on besides its version: a change loads every model again."""
    return config.registry, config.backend, config.precision


@serve.deployment(name="Classifier", max_ongoing_requests=16)
class ClassifierReplica:
    """Model-sized RGB uint8 images in, class probabilities out, batched across concurrent requests."""

    def __init__(self) -> None:
        install_quiet_tensorflow_import()  # a replica of imgclf's deployment owns its process; its models load later
        self.served_models = ServedModels({})
        self.config: ClassifierConfig | None = None
        self.explanations = ClassifierConfig.explanations
        self.confidence = metrics.Histogram(
            "imgclf_prediction_confidence", description="Top-1 probability of each prediction (a drift signal).",
            boundaries=CONFIDENCE_BUCKETS, tag_keys=("model", "name", "version", "role"),
        )
        self.predictions = metrics.Counter(
            "imgclf_predictions", description="Images each model version classified (outcome ok) or failed on (error).",
            tag_keys=("model", "name", "version", "role", "outcome"),
        )
        self.model_info = metrics.Gauge(
            "imgclf_model_info", description="1 for each model version this replica serves.",
            tag_keys=("name", "version", "role"),
        )
        self.traffic = metrics.Gauge(
            "imgclf_model_traffic_percent", description="Percent of its model's requests each served version answers.",
            tag_keys=("name", "version", "role"),
        )
        self.model_info_task: asyncio.Task | None = None

    @property
    def models(self) -> dict[str, LoadedModel]:
        """The stable models by name, the default first."""
        return self.served_models.models

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        config = ClassifierConfig.from_mapping(user_config)
        same_loading = self.config is not None and loading_settings(self.config) == loading_settings(config)
        before = self.served_models.all() if same_loading else []
        served = await asyncio.to_thread(load_models, config, before)
        kept = {id(model.classifier) for model in before}
        await asyncio.to_thread(warm_up, [model for model in served.all() if id(model.classifier) not in kept])
        self.classify_batch.set_max_batch_size(config.max_batch_size)
        self.classify_batch.set_batch_wait_timeout_s(config.batch_wait_timeout_s)
        previous, self.served_models, self.config = self.served_models, served, config
        self.explanations = config.explanations
        current = {tuple(self.info_tags(model).items()) for model in served.all()}
        for model in previous.all():
            if tuple(self.info_tags(model).items()) not in current:
                self.model_info.set(0, tags=self.info_tags(model))
                self.traffic.set(0, tags=self.info_tags(model))
        if self.model_info_task is None:
            self.model_info_task = asyncio.get_running_loop().create_task(self.keep_model_info())
        LOG.info("serving %s (batches up to %d)",
                 ", ".join(f"{m.reference} ({m.role}, {m.traffic:g}%)" for m in served.all()), config.max_batch_size)

    @staticmethod
    def info_tags(model: LoadedModel) -> dict[str, str]:
        return {"name": model.name, "version": model.version, "role": model.role}

    async def keep_model_info(self) -> None:
        """imgclf_model_info = 1 and imgclf_model_traffic_percent for each served version, refreshed for as long as
        the replica lives."""
        while True:
            for model in self.served_models.all():
                self.model_info.set(1, tags=self.info_tags(model))
                self.traffic.set(model.traffic, tags=self.info_tags(model))
            await asyncio.sleep(MODEL_INFO_REFRESH_S)

    def served(self, name: str | None) -> LoadedModel:
        """The version answering a request for `name` (None: the default; a canary takes its share;
        `name:version` pins a version)."""
        return self.served_models.pick(name)

    def describe_all(self) -> list[dict[str, Any]]:
        """Every served version's description, the default first, a canary last."""
        return [model.describe(self.explanations) for model in self.served_models.all()]

    def summaries(self) -> list[dict[str, Any]]:
        """Every served version's summary, the default first, a canary last."""
        return [model.summary() for model in self.served_models.all()]

    async def classify(self, image: np.ndarray, k: int, model: str | None = None) -> Prediction:
        """The image's Prediction by `model` (default: the first) with its top k."""
        return await self.classify_batch(image, k, self.served(model))

    async def classify_all(self, images: list[np.ndarray], k: int, model: str | None = None) -> list[Prediction]:
        """The images' Predictions by one version of `model`, drawn once (a canary answers all of a request's images
        or none), each image joining the dynamic batches as `classify`'s do."""
        chosen = self.served(model)
        return list(await asyncio.gather(*(self.classify_batch(image, k, chosen) for image in images)))

    async def explain(self, image: np.ndarray, label: str | None = None, model: str | None = None) -> Explanation:
        """Why `model` (default: the first) answers what it does for the image, explained for `label` (default: the
        predicted one); computed alone, outside the classify batches."""
        served = self.served(model)
        if not self.explanations:
            raise ExplanationError("explanations are off here: the Classifier's user_config has explanations: false")
        return await asyncio.to_thread(explain, served.classifier, image, label, model_name=served.name,
                                       model_version=served.version)

    @serve.batch(max_batch_size=ClassifierConfig.max_batch_size,
                 batch_wait_timeout_s=ClassifierConfig.batch_wait_timeout_s)  # until reconfigure sets the config's
    async def classify_batch(self, images: list[np.ndarray], ks: list[int],
                             chosen: list[LoadedModel]) -> list[Prediction]:
        """Each version classifies its own images of the batch in one call (the version picked per request, so a
        reconfigure between the pick and the batch changes nothing)."""
        answers: list[Prediction | None] = [None] * len(images)
        for model in {id(model): model for model in chosen}.values():
            rows = [index for index, wanted in enumerate(chosen) if wanted is model]
            try:
                probabilities = await asyncio.to_thread(model.classifier.predict_proba, [images[i] for i in rows])
            except Exception:
                self.predictions.inc(len(rows), tags={**model.tags, "outcome": "error"})
                raise
            self.predictions.inc(len(rows), tags={**model.tags, "outcome": "ok"})
            for index, row in zip(rows, probabilities):
                self.confidence.observe(float(row.max()), tags=model.tags)
                answers[index] = Prediction.from_probabilities(row, model.classifier.labels, ks[index],
                                                               model_name=model.name, model_version=model.version)
        return answers
