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


def read_serve_config(path: str | Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read serve config {path}: {exc}") from exc
    if not isinstance(config, dict) or not config.get("applications"):
        raise ConfigError(f"serve config {path} must hold a mapping with `applications`")
    return config


def deployment(config: dict[str, Any], name: str) -> dict[str, Any]:
    """One deployment's entry (Classifier or Api) of the first application."""
    for entry in config["applications"][0].get("deployments", []):
        if entry.get("name") == name:
            return entry
    raise ConfigError(f"the serve config has no deployment named {name!r}")


def with_overrides(config: dict[str, Any], *, model: str | list[str] | None = None, registry: str | None = None,
                   host: str | None = None, port: int | None = None, examples_dir: str | None = None) -> dict[str, Any]:
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
