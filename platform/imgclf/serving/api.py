"""The ingress deployment: one HTTP app (`/v1`, `/v2`, the page at /ui) per replica over a classify service that
reaches the Classifier through its handle (imgclf.serving.http_app has the routes, auth and errors)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from imgclf.serving.service import ClassifyService, HandleClassifier
from imgclf.serving.settings import ApiConfig


@serve.deployment(name="Api", max_ongoing_requests=256)
@serve.ingress()
class ApiIngress:
    """Uploads in, answers out; the models run in the Classifier deployment behind `classifier`."""

    def __init__(self, classifier: DeploymentHandle, examples_dir: str | None = None) -> None:
        self.service = ClassifyService(HandleClassifier(classifier), ApiConfig.from_mapping({}))
        self.examples_dir = examples_dir

    def __serve_build_asgi_app__(self) -> FastAPI:
        """This replica's own app (Serve calls it once, after __init__), so nothing is shared between replicas."""
        from imgclf.serving.http_app import build_http_app

        return build_http_app(self.service, self.examples_dir)

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        self.service.configure(ApiConfig.from_mapping(user_config))

    def __del__(self) -> None:
        """Serve's graceful shutdown: the request log writes what waits (nothing to do if __init__ failed)."""
        if hasattr(self, "service"):
            self.service.close()
