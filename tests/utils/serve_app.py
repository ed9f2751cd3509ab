"""The serving application of serve_config.yaml, deployed with `serve deploy` on a test's own Ray head.

The test config is the repository's serve_config.yaml with only what a test must change: the HTTP port,
the model and registry, and any deployment option a test sets (e.g. max_queued_requests).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgclf.serving.launcher import api_url, deployment, read_serve_config, serve_deploy as launch, wait_until_ready
from imgclf.serving.launcher import with_overrides
from utils.ray_head import HeadNode, free_port

REPO = Path(__file__).resolve().parents[2]
SERVE_CONFIG = REPO / "serve_config.yaml"
__all__ = ["ServeApp", "deploy_app", "deployment", "serve_deploy", "test_config", "wait_until_ready"]


@dataclass(frozen=True)
class ServeApp:
    url: str  # http://127.0.0.1:PORT
    config_path: Path
    config: dict[str, Any]
    head: HeadNode


def test_config(*, port: int, registry: Path, model: str | list[str], examples_dir: Path | None = None,
                classifier: dict[str, Any] | None = None, classifier_user_config: dict[str, Any] | None = None,
                api_user_config: dict[str, Any] | None = None, env_vars: dict[str, str] | None = None) -> dict[str, Any]:
    """serve_config.yaml with the test's port, model and registry, and the given overrides."""
    config = with_overrides(read_serve_config(SERVE_CONFIG), model=model, registry=str(registry), port=port,
                            examples_dir=str(examples_dir) if examples_dir else None)
    app = config["applications"][0]
    if not examples_dir:
        app["args"] = {}
    app["runtime_env"]["env_vars"].update(env_vars or {})
    deployment(config, "Classifier").update(classifier or {})
    deployment(config, "Classifier")["user_config"].update(classifier_user_config or {})
    deployment(config, "Api")["user_config"].update(api_user_config or {})
    return config


def serve_deploy(head: HeadNode, config: dict[str, Any], path: Path) -> None:
    """Write the config and `serve deploy` it to the head (returns once the deploy is accepted)."""
    launch(config, path, head.dashboard_url, cwd=REPO)


def deploy_app(head: HeadNode, folder: Path, **overrides: Any) -> ServeApp:
    """Deploy serve_config.yaml (with `overrides`, see test_config) on a free port and wait until it is ready."""
    config = test_config(port=free_port(), **overrides)
    path = folder / "serve_config.yaml"
    serve_deploy(head, config, path)
    url = api_url(config)
    wait_until_ready(url)
    return ServeApp(url, path, config, head)
