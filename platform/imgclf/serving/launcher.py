"""Deploy serve_config.yaml (with a few overrides) to a Ray cluster with `serve deploy`, and wait until it is ready."""

from __future__ import annotations

import copy
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from imgclf.errors import ConfigError

READY_TIMEOUT_S = 300.0
DEFAULT_DASHBOARD = "http://127.0.0.1:8265"


def read_serve_config(path: str | Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read serve config {path}: {exc}") from exc
    if not isinstance(config, dict) or not config.get("applications"):
        raise ConfigError(f"serve config {path} must hold a mapping with `applications`")
    return config


def application(config: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """The application named `name` of a Serve config (None: the first); ConfigError naming the ones it has."""
    apps = config.get("applications") or []
    found = next((app for app in apps if name in (None, app.get("name"))), None)
    if found is None:
        raise ConfigError(f"no application {name!r} in the serve config; it has "
                          f"{', '.join(str(app.get('name')) for app in apps) or 'none'}")
    return found


def deployment(config: dict[str, Any], name: str, app: str | None = None) -> dict[str, Any]:
    """One deployment's entry (Classifier or Api) of the application `app` (None: the first)."""
    for entry in application(config, app).get("deployments", []):
        if entry.get("name") == name:
            return entry
    raise ConfigError(f"the serve config has no deployment named {name!r}")


def with_overrides(config: dict[str, Any], *, model: str | list[str] | None = None, registry: str | None = None,
                   host: str | None = None, port: int | None = None, examples_dir: str | None = None,
                   canary: dict[str, Any] | None = None, api: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of the config with the given values replaced (None keeps the config's value)."""
    config = copy.deepcopy(config)
    http = config.setdefault("http_options", {})
    if host is not None:
        http["host"] = host
    if port is not None:
        http["port"] = port
    user_config = deployment(config, "Classifier").setdefault("user_config", {})
    if model is not None:
        user_config["model"] = model
    if registry is not None:
        user_config["registry"] = registry
    if canary is not None:
        user_config["canary"] = canary
    if api:
        deployment(config, "Api").setdefault("user_config", {}).update(api)
    if examples_dir is not None:
        config["applications"][0].setdefault("args", {})["examples_dir"] = examples_dir
    return config


def serve_deploy(config: dict[str, Any], path: Path, dashboard_url: str, *, cwd: str | Path | None = None) -> None:
    """Write the config to `path` and run `serve deploy` against the cluster's dashboard."""
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    serve = str(Path(sys.executable).parent / "serve")
    done = subprocess.run([serve, "deploy", str(path), "--address", dashboard_url], capture_output=True, text=True,
                          timeout=180, cwd=cwd)
    if done.returncode != 0:
        raise ConfigError(f"serve deploy to {dashboard_url} failed: {(done.stderr or done.stdout).strip()[-2000:]}")


def api_url(config: dict[str, Any]) -> str:
    http = config.get("http_options", {})
    host = http.get("host", "127.0.0.1")
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{http.get('port', 8000)}"


def wait_until_ready(url: str, *, version: str | None = None, timeout_s: float = READY_TIMEOUT_S) -> str:
    """Poll GET /readyz until it answers 200 (serving `version`, when given); return the served `name:version`."""
    import json

    deadline, last = time.monotonic() + timeout_s, "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5) as answer:
                model = json.loads(answer.read())["model"]
                if version is None or model.endswith(f":{version}"):
                    return model
                last = f"serving {model}"
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            last = str(getattr(exc, "reason", exc))
        time.sleep(0.5)
    raise TimeoutError(f"{url}/readyz was not ready within {timeout_s:.0f} s ({last}); see `serve status`")


def running_config(dashboard_url: str) -> dict[str, Any]:
    """The Serve config the cluster runs now (serve_config.yaml's shape), from its dashboard."""
    from ray.dashboard.modules.serve.sdk import ServeSubmissionClient

    details = ServeSubmissionClient(dashboard_url).get_serve_details()
    applications = [app["deployed_app_config"] for app in (details.get("applications") or {}).values()
                    if app.get("deployed_app_config")]
    if not applications:
        raise ConfigError(f"the cluster at {dashboard_url} runs no application deployed from a Serve config")
    return {"proxy_location": details.get("proxy_location"), "http_options": details.get("http_options") or {},
            "applications": applications}


def redeploy_running(dashboard_url: str, config: dict[str, Any], application: str,
                     timeout_s: float = READY_TIMEOUT_S) -> None:
    """Deploy `config` over the running one (a changed user_config reconfigures the replicas in place) and wait
    until `application` runs it."""
    from ray.dashboard.modules.serve.sdk import ServeSubmissionClient

    client = ServeSubmissionClient(dashboard_url)
    client.deploy_applications(config)
    deadline, status = time.monotonic() + timeout_s, "unknown"
    time.sleep(0.5)  # the controller takes the new config before it reports on it
    while time.monotonic() < deadline:
        app = (client.get_serve_details().get("applications") or {}).get(application) or {}
        status = app.get("status", "unknown")
        deployments = (app.get("deployments") or {}).values()
        if status == "RUNNING" and all(d.get("status") == "HEALTHY" for d in deployments):
            return
        if status == "DEPLOY_FAILED":
            raise ConfigError(f"{application} failed to deploy: {app.get('message', '')}".strip())
        time.sleep(0.5)
    raise TimeoutError(f"{application} did not run the new config within {timeout_s:.0f} s (status {status})")
