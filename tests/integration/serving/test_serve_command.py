"""`imgclf serve` (the end of `make demo`): starts a head, deploys serve_config.yaml, prints where everything is,
and on Ctrl-C stops every process it started. While it serves, `imgclf serve --address` deploys onto that running
head twice: with a version override, then the serve_config.yaml of the folder it runs from, as it stands."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
import yaml

from imgclf.serving.launcher import read_serve_config, wait_until_ready, with_overrides
from utils.digits_run import SERVED_BASELINES, VGG_MODEL, TrainedRun
from utils.ray_head import VENV_BIN, free_port, venv_env
from utils.serve_app import REPO, SERVE_CONFIG

pytestmark = pytest.mark.slow
BANNER_TIMEOUT_S = 420
METRICS_TIMEOUT_S = 120  # Ray exports its metrics every 10 s; a busy CPU makes the first export later
REDEPLOY_TIMEOUT_S = 120  # a deploy onto running replicas, which load the model they are given in place


def exported(metrics_url: str, prefix: str) -> bool:
    """Whether the metrics endpoint lists a metric whose name starts with `prefix`; polled until METRICS_TIMEOUT_S."""
    deadline = time.monotonic() + METRICS_TIMEOUT_S
    while time.monotonic() < deadline:
        if prefix in httpx.get(metrics_url, timeout=30).text:
            return True
        time.sleep(1)
    return False


def read_banner(server: subprocess.Popen) -> str:
    """What the command printed up to its `Ctrl-C` line (or until it ended, or for BANNER_TIMEOUT_S)."""
    lines: list[str] = []
    deadline = time.monotonic() + BANNER_TIMEOUT_S
    while time.monotonic() < deadline and not any(line.startswith("Ctrl-C") for line in lines):
        line = server.stdout.readline()
        if not line and server.poll() is not None:
            break
        lines.append(line)
    return "".join(lines)


def served_models(url: str) -> list[tuple[str, str]]:
    """(name, version) of each model GET /v1/models lists, the default first."""
    return [(model["name"], model["version"]) for model in httpx.get(f"{url}/v1/models", timeout=30).json()["models"]]


def serve_by_address(dashboard: str, *options: str, cwd: Path) -> str:
    """`imgclf serve --address DASHBOARD [options]` run from `cwd`, whose serve_config.yaml it reads: it deploys and
    returns; what it printed."""
    done = subprocess.run([str(VENV_BIN / "imgclf"), "serve", "--address", dashboard, *options], cwd=cwd,
                          env=venv_env(), capture_output=True, text=True, timeout=REDEPLOY_TIMEOUT_S)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def deploy_onto_the_running_head(dashboard: str, url: str, registry: Path, examples: Path, folder: Path) -> None:
    """`imgclf serve --address` with a version override (the repository's config), then with no option from a
    folder whose serve_config.yaml names the model without a version: each is what the head then serves."""
    port = url.rsplit(":", 1)[1]
    said = serve_by_address(dashboard, "--model", f"{VGG_MODEL}:1", "--registry", str(registry), "--port", port,
                            "--examples", str(examples), cwd=REPO)
    assert said.startswith(f"deployed to {dashboard}: {url} "), said
    wait_until_ready(url, version="1", timeout_s=REDEPLOY_TIMEOUT_S)
    assert served_models(url) == [(VGG_MODEL, "1")]

    config = with_overrides(read_serve_config(SERVE_CONFIG), model=VGG_MODEL, registry=str(registry), port=int(port),
                            examples_dir=str(examples.resolve()))
    (folder / "serve_config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    said = serve_by_address(dashboard, cwd=folder)
    assert said.startswith(f"deployed to {dashboard}: {url} "), said
    wait_until_ready(url, version="2", timeout_s=REDEPLOY_TIMEOUT_S)  # the latest
    assert served_models(url) == [(VGG_MODEL, "2")]


def test_serve_command_serves_prints_urls_and_stops_on_ctrl_c(serve_registry: Path, trained_run: TrainedRun,
                                                             tmp_path: Path) -> None:
    port = free_port()
    # As `make demo` serves a run: a pattern, whose VGG16 (latest: version 2) is the default. Each replica loads
    # the pattern's models in name order, so an embedding baseline loads before any VGG16 in a fresh process.
    command = [sys.executable, "-m", "imgclf.cli", "serve", "--registry", str(serve_registry), "--model",
               "digits-*", "--port", str(port), "--examples", str(trained_run.data_dir)]
    server = subprocess.Popen(command, cwd=REPO, env=venv_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        banner = read_banner(server)
        assert f"serving {VGG_MODEL}:2" in banner, banner[-3000:]
        url = f"http://127.0.0.1:{port}"
        assert f"{url}/v1/classify" in banner and f"{url}/ui/" in banner and "curl -F file=@" in banner
        metrics_url = re.search(r"metrics\s+(http://\S+/metrics)", banner).group(1)
        temp_dir = re.search(r"targets: (/\S+?)/session_latest", banner).group(1)

        digit = sorted((trained_run.data_dir / "4").glob("*.png"))[0]
        answer = httpx.post(f"{url}/v1/classify", content=digit.read_bytes(), headers={"content-type": "image/png"},
                            timeout=60)
        assert answer.status_code == 200 and answer.json()["model"] == {"name": VGG_MODEL, "version": "2"}
        assert [name for name, _ in served_models(url)] == [VGG_MODEL, *sorted(SERVED_BASELINES)]
        assert exported(metrics_url, "ray_serve"), f"no ray_serve metric at {metrics_url} in {METRICS_TIMEOUT_S} s"
        assert httpx.get(f"{url}/ui/", timeout=30).status_code == 200

        dashboard = re.search(r"dashboard (http://\S+)", banner).group(1)
        deploy_onto_the_running_head(dashboard, url, serve_registry, trained_run.data_dir, tmp_path)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=120)
    assert server.returncode == 0
    left = [p for p in psutil.process_iter(["cmdline"]) if temp_dir in " ".join(p.info["cmdline"] or [])]
    assert left == [], [p.info["cmdline"][:2] for p in left]
    assert not Path(temp_dir).exists()
