"""Deploying the serve section's configs on its Ray head: serve_config.yaml with the benchmark's changes, `serve
deploy`, and the waits until Serve has applied a config and until a direct-ingress replica listens."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.serve_load import component_of
from imgclf.local_cluster import HeadNode, head_processes
from imgclf.serving.launcher import api_url, deployment, read_serve_config, serve_deploy, wait_until_ready
from imgclf.serving.launcher import with_overrides

BATCH_SIZE = 16
APPLY_TIMEOUT_S = 420.0  # replicas import TensorFlow on 2 shared cores
# Serve's direct ingress (no proxy: the Api replica's own HTTP server, on a port the controller picks per replica
# from DIRECT_INGRESS_PORTS) is measured once, on a head of its own started with it on.
DIRECT_INGRESS_ENV = {"RAY_SERVE_ENABLE_DIRECT_INGRESS": "1"}
DIRECT_INGRESS_PORTS = range(30000, 31001)  # Ray's RAY_SERVE_DIRECT_INGRESS_MIN/MAX_HTTP_PORT defaults


def bench_config(serve_config: Path, registry: str, model: str, port: int, max_batch_size: int) -> dict[str, Any]:
    """serve_config.yaml with the benchmark's port, model, one Classifier replica and its batch size."""
    config = with_overrides(read_serve_config(serve_config), model=model, registry=registry, port=port)
    config["applications"][0]["args"] = {}  # no example images for the page
    classifier = deployment(config, "Classifier")
    classifier.pop("autoscaling_config", None)
    classifier.update(num_replicas=1, max_ongoing_requests=2 * BATCH_SIZE, max_queued_requests=1024)
    classifier["user_config"].update(max_batch_size=max_batch_size)  # batch_wait_timeout_s: serve_config.yaml's
    return config


def deploy(head: HeadNode, config: dict[str, Any], path: Path) -> float:
    """`serve deploy` the config, wait until Serve has applied it and /readyz answers; seconds it took."""
    started = time.perf_counter()
    serve_deploy(config, path, head.dashboard_url)
    wait_until_applied(head, config)
    wait_until_ready(api_url(config))
    return time.perf_counter() - started


def wait_until_applied(head: HeadNode, config: dict[str, Any], timeout_s: float = APPLY_TIMEOUT_S) -> None:
    """Poll Serve's REST API until the application runs with the Classifier's user_config, its replicas up."""
    target = config["applications"][0]
    wanted = deployment(config, "Classifier")["user_config"]
    deadline, problem = time.monotonic() + timeout_s, "not asked yet"
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{head.dashboard_url}/api/serve/applications/", timeout=30)
            answer.raise_for_status()
            problem = not_applied(answer.json()["applications"].get(target["name"]), wanted)
        except httpx.HTTPError as exc:
            problem = repr(exc)
        if not problem:
            return
        time.sleep(1)
    raise TimeoutError(f"serve config not applied within {timeout_s:.0f} s: {problem}")


def not_applied(app: dict[str, Any] | None, user_config: dict[str, Any]) -> str:
    """Why the application does not yet run the wanted Classifier user_config ('' when it does)."""
    if app is None:
        return "no such application yet"
    if app["status"] != "RUNNING":
        return f"application {app['status']}: {app.get('message', '')[:300]}"
    for name, details in app["deployments"].items():
        if details["status"] != "HEALTHY" or any(r["state"] != "RUNNING" for r in details["replicas"]):
            return f"{name}: {details['status']}, replicas {[r['state'] for r in details['replicas']]}"
    applied = app["deployments"]["Classifier"]["deployment_config"].get("user_config") or {}
    if any(applied.get(key) != value for key, value in user_config.items()):
        return f"Classifier user_config is {applied}"
    return ""


def direct_ingress_address(head: HeadNode, timeout_s: float = 60.0) -> tuple[str, int]:
    """Where the Api replica's own HTTP server listens (a port from DIRECT_INGRESS_PORTS)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for process in head_processes(head):
            if component_of(process) != "api":
                continue
            for connection in process.net_connections(kind="tcp"):
                if connection.status == psutil.CONN_LISTEN and connection.laddr.port in DIRECT_INGRESS_PORTS:
                    return connection.laddr.ip, connection.laddr.port
        time.sleep(1)
    raise TimeoutError(f"no Api replica listened on a port in {DIRECT_INGRESS_PORTS} within {timeout_s:.0f} s")
