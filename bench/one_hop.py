"""Layout (b) of the serve bench's hop comparison: the HTTP app on the model deployment itself (proxy → Classifier
replica), measured against the shipped proxy → Api → Classifier. Serve config: import_path
`bench.one_hop:build_app`, the Api's user_config under the Classifier's as `api`, and a runtime_env whose py_modules
put the folder holding the `bench` package on the replicas' path (the package is not installed, and Ray's workers do
not start in the repository root).

It lacks what the two-deployment layout gives: a request whose replica dies is lost (no caller left to send it
again), and an overloaded replica's 503 comes from Serve's proxy without the API's JSON error or Retry-After.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.serve import Application

from imgclf.models.prediction import Prediction
from imgclf.serving.http_app import build_http_app
from imgclf.serving.model_replica import ClassifierReplica
from imgclf.serving.service import ClassifyService
from imgclf.serving.settings import ApiConfig

API_KEY = "api"
# A `local://` py_modules entry names a folder already present on every node, used in place (no upload); `serve
# deploy` accepts no plain local path. The bench's Ray head runs on this machine, so the checkout is there.
SOURCE_ROOT = Path(__file__).resolve().parents[1]


class ReplicaClassifier:
    """The replica's own methods as the classify service's Classifier (no handle, no hop)."""

    def __init__(self, replica: ClassifierReplica) -> None:
        self.replica = replica

    async def classify(self, image: Any, k: int, model: str | None) -> Prediction:
        return await self.replica.classify(image, k, model)

    async def summaries(self) -> list[dict[str, Any]]:
        return self.replica.summaries()

    async def describe_all(self) -> list[dict[str, Any]]:
        return self.replica.describe_all()


@serve.deployment(name="Classifier", max_ongoing_requests=16)
@serve.ingress()
class ServingReplica(ClassifierReplica.func_or_class):
    """The Classifier replica with the HTTP app in front of its own models."""

    def __init__(self, examples_dir: str | None = None) -> None:
        super().__init__()
        self.service = ClassifyService(ReplicaClassifier(self), ApiConfig.from_mapping({}))
        self.examples_dir = examples_dir

    def __serve_build_asgi_app__(self) -> FastAPI:
        return build_http_app(self.service, self.examples_dir)

    async def reconfigure(self, user_config: dict[str, Any]) -> None:
        self.service.config = ApiConfig.from_mapping(user_config.get(API_KEY, {}))
        await super().reconfigure({key: value for key, value in user_config.items() if key != API_KEY})


def build_app(args: dict[str, Any]) -> Application:
    return ServingReplica.bind(examples_dir=(args or {}).get("examples_dir"))


def one_hop_config(config: dict[str, Any]) -> dict[str, Any]:
    """A two-deployment serve config turned into this layout's: one deployment, the Api's user_config inside the
    Classifier's, and SOURCE_ROOT among the application's py_modules."""
    config = copy.deepcopy(config)
    app = config["applications"][0]
    app["import_path"] = f"{__name__}:build_app"
    runtime_env = app.setdefault("runtime_env", {})
    runtime_env["py_modules"] = [*runtime_env.get("py_modules", []), f"local://{SOURCE_ROOT}"]
    api = next(entry for entry in app["deployments"] if entry["name"] == "Api")
    app["deployments"] = [entry for entry in app["deployments"] if entry["name"] != "Api"]
    classifier = app["deployments"][0]
    classifier["user_config"] = {**classifier["user_config"], API_KEY: api.get("user_config", {})}
    return config
