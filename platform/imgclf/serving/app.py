"""The Serve application: `import_path: imgclf.serving.app:build_app` in serve_config.yaml.

    Api (FastAPI ingress + Gradio page at /ui) ──handle──► Classifier (model replicas, @serve.batch)

Deployment options (replicas, autoscaling, max_ongoing_requests, max_queued_requests) and both user_configs
come from serve_config.yaml; the application's `args` hold only what must be known when the ingress starts.
"""

from __future__ import annotations

from typing import Any

from ray.serve import Application

from imgclf.config import build_dataclass
from imgclf.serving.api import ApiIngress
from imgclf.serving.model_replica import ClassifierReplica
from imgclf.serving.settings import AppArgs


def build_app(args: dict[str, Any]) -> Application:
    """The bound application; `args`: {examples_dir: a folder of example images for the page}."""
    app_args: AppArgs = build_dataclass(AppArgs, args or {}, "application args.")
    return ApiIngress.bind(ClassifierReplica.bind(), examples_dir=app_args.examples_dir)
