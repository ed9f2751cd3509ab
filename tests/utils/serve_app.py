"""The serving application of serve_config.yaml, deployed with `serve deploy` on a test's own Ray head.

The test config is the repository's serve_config.yaml with only what a test must change: the HTTP port,
the model and registry, and any deployment option a test sets (e.g. max_queued_requests).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgclf.serving.launcher import api_url, deployment, read_serve_config, serve_deploy as launch, wait_until_ready
from imgclf.serving.launcher import with_overrides
from utils.ray_head import HeadNode, free_port

REPO = Path(__file__).resolve().parents[2]
SERVE_CONFIG = REPO / "serve_config.yaml"
REPLICAS_TIMEOUT_S = 300.0
__all__ = ["ServeApp", "deploy_app", "deployment", "redeploy", "replicas", "serve_applications", "serve_deploy",
           "test_config", "wait_until_ready", "with_deployment_env"]


@dataclass(frozen=True)
class ServeApp:
    url: str  # http://127.0.0.1:PORT
    config_path: Path
    config: dict[str, Any]
    head: HeadNode

    @property
    def name(self) -> str:
        """The application's name in Serve."""
        return self.config["applications"][0]["name"]


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


def with_deployment_env(config: dict[str, Any], name: str, env_vars: dict[str, str]) -> dict[str, Any]:
    """A copy of the config whose deployment `name` alone gets `env_vars` (in its ray_actor_options' runtime_env,
    which Serve merges with the application's): deploying it restarts that deployment's replicas only."""
    changed = copy.deepcopy(config)
    options = deployment(changed, name).setdefault("ray_actor_options", {})
    options.setdefault("runtime_env", {}).setdefault("env_vars", {}).update(env_vars)
    return changed


def serve_applications(head: HeadNode) -> dict[str, Any]:
    """Serve's details of the head's applications by name, from the client `serve status` uses (it follows the
    head's token authentication, as `serve deploy` does)."""
    from ray.dashboard.modules.serve.sdk import ServeSubmissionClient

    return ServeSubmissionClient(head.dashboard_url).get_serve_details()["applications"]


def replicas(head: HeadNode, app_name: str, deployment_name: str) -> list[dict[str, Any]]:
    """Serve's details of each replica of one deployment (replica_id, state, pid, ...); none for an unknown one."""
    app = serve_applications(head).get(app_name) or {}
    return (app.get("deployments", {}).get(deployment_name) or {}).get("replicas", [])


def redeploy(app: ServeApp, config: dict[str, Any], deployment_name: str, file_name: str) -> list[dict[str, Any]]:
    """`serve deploy` the config over the app and wait until every replica of `deployment_name` is a new one,
    running (the replaced ones gone); the new replicas' details."""
    replaced = {replica["replica_id"] for replica in replicas(app.head, app.name, deployment_name)}
    serve_deploy(app.head, config, app.config_path.with_name(file_name))
    deadline, current = time.monotonic() + REPLICAS_TIMEOUT_S, []
    while time.monotonic() < deadline:
        current = replicas(app.head, app.name, deployment_name)
        ids = {replica["replica_id"] for replica in current}
        if current and not ids & replaced and all(replica["state"] == "RUNNING" for replica in current):
            return current
        time.sleep(1)
    raise TimeoutError(f"{deployment_name} replicas not replaced in {REPLICAS_TIMEOUT_S:.0f} s: "
                       f"{[(replica['replica_id'], replica['state']) for replica in current]}")
