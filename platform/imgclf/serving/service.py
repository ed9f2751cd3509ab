"""The classify service: what every face of the server does (prepare an upload, classify it with retries on a lost
replica, the catalogue of served models, readiness), spoken in Python, not HTTP.

`/v1` routes, the inference protocol's `/v2` routes and the Gradio page each hold one and only translate their wire
format; its failures are ServiceErrors, which each face renders its own way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError

from imgclf.data.decode import decode_image
from imgclf.data.transforms import resize_image
from imgclf.errors import ExplanationError, ImageDecodeError, ModelNotLoadedError, ModelNotServedError
from imgclf.explanations.explanation import Explanation
from imgclf.models.prediction import Prediction
from imgclf.serving.errors import (
    UNAVAILABLE_CAUSES,
    ModelNotFound,
    ServiceError,
    decode_failure,
    explanation_failure,
    unavailable,
)
from imgclf.serving.request_log import RequestLog
from imgclf.serving.settings import ApiConfig

LOG = logging.getLogger("imgclf.serving")
OVERLOAD_BACKOFF_S = (0.005, 0.1)  # first and longest pause between tries of a call refused for a full queue


class Classifier(Protocol):
    """The Classifier deployment as the service calls it (a DeploymentHandle's methods, awaited)."""

    async def classify(self, image: np.ndarray, k: int, model: str | None) -> Prediction: ...

    async def classify_all(self, images: list[np.ndarray], k: int, model: str | None) -> list[Prediction]: ...

    async def explain(self, image: np.ndarray, label: str | None, model: str | None) -> Explanation: ...

    async def summaries(self) -> list[dict[str, Any]]: ...

    async def describe_all(self) -> list[dict[str, Any]]: ...


class HandleClassifier:
    """The Classifier deployment through its DeploymentHandle."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def classify(self, image: np.ndarray, k: int, model: str | None) -> Prediction:
        return await self.handle.classify.remote(image, k, model)

    async def classify_all(self, images: list[np.ndarray], k: int, model: str | None) -> list[Prediction]:
        return await self.handle.classify_all.remote(images, k, model)

    async def explain(self, image: np.ndarray, label: str | None, model: str | None) -> Explanation:
        return await self.handle.explain.remote(image, label, model)

    async def summaries(self) -> list[dict[str, Any]]:
        return await self.handle.summaries.remote()

    async def describe_all(self) -> list[dict[str, Any]]:
        return await self.handle.describe_all.remote()


@dataclass(frozen=True)
class Catalogue:
    """The served models' summaries (name, version, kind, labels, input size), the default first."""

    models: tuple[dict[str, Any], ...] = ()

    def find(self, name: str | None, version: str | None = None) -> dict[str, Any] | None:
        """The summary of `name` (None: the default; `name:version` pins a version) at `version` (None: any), or
        None when not listed."""
        if name is not None and version is None and ":" in name:
            name, version = name.split(":", 1)
        candidates = self.models[:1] if name is None else [m for m in self.models if m["name"] == name]
        return next((model for model in candidates if version in (None, model["version"])), None)

    def listing(self) -> str:
        return ", ".join(f"{model['name']} version {model['version']}" for model in self.models)


class ClassifyService:
    """Protocol-neutral: decode and size an upload, classify it, list the served models, say whether it is ready."""

    def __init__(self, classifier: Classifier, config: ApiConfig) -> None:
        self.classifier = classifier
        # The one cache of facts about the Classifier: refreshed when a name or version misses, or a new version
        # answers (a reconfigure deployed one).
        self.catalogue = Catalogue()
        self.request_log: RequestLog | None = None  # the sampled requests kept on disk (ApiConfig.request_log)
        self.configure(config)

    def configure(self, config: ApiConfig) -> None:
        """Answer under `config` from now on; a changed request log replaces the old one (whose rows still waiting
        are written by its own thread), the same one keeps going."""
        self.config = config
        current = self.request_log.config if self.request_log else None
        if config.request_log != current:
            replaced = self.request_log
            self.request_log = RequestLog(config.request_log) if config.request_log else None
            if replaced:
                replaced.close(timeout_s=0)

    def close(self) -> None:
        """Write the request log's waiting rows and stop it (the replica is shutting down)."""
        if self.request_log:
            self.request_log.close()
            self.request_log = None

    def log_request(self, request_id: str, data: bytes, prediction: Prediction, route: str, started: float) -> None:
        """Hand an answered classification to the request log (no-op when it is off); `data`: the upload as sent,
        `started`: time.time() when the request began. Costs microseconds and never raises."""
        if self.request_log:
            self.request_log.record(request_id, data, prediction, route, started)

    def decode(self, data: bytes, source: str) -> np.ndarray:
        """Bytes → RGB array, with the one decode function under this service's limits."""
        try:
            return decode_image(data, source=source, limits=self.config.limits)
        except ImageDecodeError as exc:
            raise decode_failure(exc) from exc

    def sized(self, image: np.ndarray, model: str | None = None) -> np.ndarray:
        """The image at `model`'s input size (the same resize `imgclf predict` applies) once the catalogue knows it;
        until then as it is, and the Classifier resizes it."""
        summary = self.catalogue.find(model)
        return resize_image(image, summary["input_size"]) if summary else image

    def prepare(self, data: bytes, source: str, model: str | None = None) -> np.ndarray:
        """Bytes → RGB array at the model's input size (CPU work: call it off the event loop)."""
        return self.sized(self.decode(data, source), model)

    async def prepare_upload(self, data: bytes, source: str, model: str | None = None) -> np.ndarray:
        return await asyncio.to_thread(self.prepare, data, source, model)

    async def classify(self, image: np.ndarray, k: int, model: str | None = None) -> Prediction:
        """The Prediction of `model` (default: the first served) with its top `k`."""
        prediction: Prediction = await self.ask(self.classifier.classify, image, k, model)
        await self.noticed(prediction)
        return prediction

    async def classify_all(self, images: list[np.ndarray], k: int, model: str | None = None) -> list[Prediction]:
        """The Predictions of one version of `model` for all `images`: one call to a replica, which draws the
        answering version (stable or canary) once for them."""
        predictions: list[Prediction] = await self.ask(self.classifier.classify_all, images, k, model)
        await self.noticed(predictions[0])
        return predictions

    async def noticed(self, prediction: Prediction) -> None:
        """Refresh the catalogue when a version it does not list answered (a reconfigure deployed one)."""
        if self.catalogue.find(prediction.model_name, prediction.model_version) is None:
            try:
                await self.refresh()
            except ServiceError as exc:  # the answer stands; the catalogue catches up on its next miss
                LOG.info("the served models could not be listed after a new version answered (%s)", exc.code)

    async def explain(self, image: np.ndarray, label: str | None = None, model: str | None = None) -> Explanation:
        """Why `model` (default: the first served) answers what it does for `image`, explained for `label` (default:
        the predicted one): 400 for a class it does not know or a model that explains nothing."""
        return await self.ask(self.classifier.explain, image, label, model)

    async def models(self) -> list[dict[str, Any]]:
        """Every served model's description (summary, weights, inference, metrics), the default first."""
        return self.served_or_unavailable(await self.ask(self.classifier.describe_all))

    async def refresh(self) -> Catalogue:
        self.catalogue = Catalogue(tuple(self.served_or_unavailable(await self.ask(self.classifier.summaries))))
        return self.catalogue

    async def model(self, name: str, version: str | None = None) -> dict[str, Any]:
        """The summary of the served model `name` (at `version`, when given); ModelNotFound otherwise."""
        found = self.catalogue.find(name, version)
        if found is None:
            found = (await self.refresh()).find(name, version)
        if found is None:
            asked = name + (f" version {version}" if version is not None else "")
            raise ModelNotFound(f"model {asked} is not served here; this server serves {self.catalogue.listing()}")
        return found

    async def ready(self) -> str:
        """`name:version` of the default model once a replica has it loaded; Unavailable (code not_ready) otherwise.
        A replica that answers but whose queue is full is busy, not unready: the last known default stands."""
        try:
            default = (await self.refresh()).find(None)
        except ServiceError as exc:
            default = self.catalogue.find(None) if exc.code == "overloaded" else None
            if default is None:
                raise type(exc)(exc.message, code="not_ready", headers=exc.headers) from exc
        return f"{default['name']}:{default['version']}"

    def served_or_unavailable(self, described: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not described:
            raise unavailable(ModelNotLoadedError(), self.config.retry_after_s)
        return described

    async def ask(self, method: Any, *args: Any) -> Any:
        """`method(*args)` of the Classifier, its failures as ServiceErrors: 404 for a model not served, 503 with
        Retry-After when it stays overloaded, no replica is left or no model is loaded.

        A call whose replica died is sent again (to a live replica: classifying is idempotent) up to
        `replica_retries` times. A call refused for a full queue is tried again, backing off, for up to
        `overload_wait_s` before the 503: a dip in capacity (a replica lost, a hot swap) holds requests briefly
        instead of answering them at once, which clients that ignore Retry-After turn into a storm of requests that
        starves the replicas of CPU even after the capacity is back."""
        replica_losses, waited_until, backoff = 0, None, OVERLOAD_BACKOFF_S[0]
        while True:
            try:
                return await method(*args)
            except ModelNotServedError as exc:
                raise ModelNotFound(str(getattr(exc, "cause", None) or exc)) from exc  # Ray's error wraps ours
            except ExplanationError as exc:
                raise explanation_failure(exc) from exc
            except RayActorError as exc:
                if replica_losses == self.config.replica_retries:
                    raise unavailable(exc, self.config.retry_after_s) from exc
                replica_losses += 1
                LOG.warning("a Classifier replica died while answering (%s); asking again", type(exc).__name__)
            except BackPressureError as exc:
                now = time.monotonic()
                waited_until = waited_until or now + self.config.overload_wait_s
                if now >= waited_until:
                    raise unavailable(exc, self.config.retry_after_s) from exc
                await asyncio.sleep(min(backoff, waited_until - now))
                backoff = min(2 * backoff, OVERLOAD_BACKOFF_S[1])
            except UNAVAILABLE_CAUSES as exc:
                raise unavailable(exc, self.config.retry_after_s) from exc
