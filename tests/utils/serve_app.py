"""The serving application of serve_config.yaml, deployed with `serve deploy` on a test's own Ray head.

The test config is the repository's serve_config.yaml with only what a test must change: the HTTP port,
the model and registry, and any deployment option a test sets (e.g. max_queued_requests).
"""

from __future__ import annotations

import copy
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from utils.ray_head import RAY, HeadNode, free_port, venv_env

REPO = Path(__file__).resolve().parents[2]
SERVE_CONFIG = REPO / "serve_config.yaml"
SERVE = RAY.parent / "serve"
READY_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class ServeApp:
    url: str  # http://127.0.0.1:PORT
    config_path: Path
    config: dict[str, Any]
    head: HeadNode


def deployment(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(d for d in config["applications"][0]["deployments"] if d["name"] == name)


def test_config(*, port: int, registry: Path, model: str, examples_dir: Path | None = None,
                classifier: dict[str, Any] | None = None, classifier_user_config: dict[str, Any] | None = None,
                api_user_config: dict[str, Any] | None = None, env_vars: dict[str, str] | None = None) -> dict[str, Any]:
    """serve_config.yaml with the test's port, model and registry, and the given overrides."""
    config = copy.deepcopy(yaml.safe_load(SERVE_CONFIG.read_text()))
    config["http_options"]["port"] = port
    app = config["applications"][0]
    app["args"] = {"examples_dir": str(examples_dir)} if examples_dir else {}
    app["runtime_env"]["env_vars"].update(env_vars or {})
    classifier_deployment = deployment(config, "Classifier")
    classifier_deployment.update(classifier or {})
    classifier_deployment["user_config"].update({"model": model, "registry": str(registry), **(classifier_user_config or {})})
    deployment(config, "Api")["user_config"].update(api_user_config or {})
    return config


def serve_deploy(head: HeadNode, config: dict[str, Any], path: Path) -> None:
    """Write the config and `serve deploy` it to the head (returns once the deploy is accepted)."""
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    done = subprocess.run([str(SERVE), "deploy", str(path), "--address", head.dashboard_url], env=venv_env(),
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"serve deploy failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def wait_until_ready(url: str, *, version: str | None = None, timeout_s: float = READY_TIMEOUT_S) -> dict[str, Any]:
    """Poll /readyz until it answers 200 (and serves `version`, when given); return its JSON."""
    deadline, last = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{url}/readyz", timeout=5)
            last = answer.text
            if answer.status_code == 200 and (version is None or answer.json()["model"].endswith(f":{version}")):
                return answer.json()
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise TimeoutError(f"{url}/readyz not ready{f' with version {version}' if version else ''} in {timeout_s:.0f} s: {last}")


def deploy_app(head: HeadNode, folder: Path, **overrides: Any) -> ServeApp:
    """Deploy serve_config.yaml (with `overrides`, see test_config) on a free port and wait until it is ready."""
    port = free_port()
    config = test_config(port=port, **overrides)
    path = folder / "serve_config.yaml"
    serve_deploy(head, config, path)
    url = f"http://127.0.0.1:{port}"
    wait_until_ready(url)
    return ServeApp(url, path, config, head)
