"""`imgclf serve` (the end of `make demo`): starts a head, deploys serve_config.yaml, prints where everything is,
and on Ctrl-C stops every process it started."""

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

from utils.digits_run import SERVED_BASELINES, VGG_MODEL, TrainedRun
from utils.ray_head import free_port, venv_env
from utils.serve_app import REPO

pytestmark = pytest.mark.slow
BANNER_TIMEOUT_S = 420
METRICS_TIMEOUT_S = 120  # Ray exports its metrics every 10 s; a busy CPU makes the first export later


def exported(metrics_url: str, prefix: str) -> bool:
    """Whether the metrics endpoint lists a metric whose name starts with `prefix`; polled until METRICS_TIMEOUT_S."""
    deadline = time.monotonic() + METRICS_TIMEOUT_S
    while time.monotonic() < deadline:
        if prefix in httpx.get(metrics_url, timeout=30).text:
            return True
        time.sleep(1)
    return False


def test_serve_command_serves_prints_urls_and_stops_on_ctrl_c(serve_registry: Path, trained_run: TrainedRun) -> None:
    port = free_port()
    # As `make demo` serves a run: a pattern, whose VGG16 (latest: version 2) is the default. Each replica loads
    # the pattern's models in name order, so an embedding baseline loads before any VGG16 in a fresh process.
    command = [sys.executable, "-m", "imgclf.cli", "serve", "--registry", str(serve_registry), "--model",
               "digits-*", "--port", str(port), "--examples", str(trained_run.data_dir)]
    server = subprocess.Popen(command, cwd=REPO, env=venv_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + BANNER_TIMEOUT_S
        while time.monotonic() < deadline and not any(line.startswith("Ctrl-C") for line in lines):
            line = server.stdout.readline()
            if not line and server.poll() is not None:
                break
            lines.append(line)
        banner = "".join(lines)
        assert f"serving {VGG_MODEL}:2" in banner, banner[-3000:]
        url = f"http://127.0.0.1:{port}"
        assert f"{url}/v1/classify" in banner and f"{url}/ui/" in banner and "curl -F file=@" in banner
        metrics_url = re.search(r"metrics\s+(http://\S+/metrics)", banner).group(1)
        temp_dir = re.search(r"targets: (/\S+?)/session_latest", banner).group(1)

        digit = sorted((trained_run.data_dir / "4").glob("*.png"))[0]
        answer = httpx.post(f"{url}/v1/classify", content=digit.read_bytes(), headers={"content-type": "image/png"},
                            timeout=60)
        assert answer.status_code == 200 and answer.json()["model"] == {"name": VGG_MODEL, "version": "2"}
        listed = httpx.get(f"{url}/v1/models", timeout=30).json()["models"]
        assert [model["name"] for model in listed] == [VGG_MODEL, *sorted(SERVED_BASELINES)]
        assert exported(metrics_url, "ray_serve"), f"no ray_serve metric at {metrics_url} in {METRICS_TIMEOUT_S} s"
        assert httpx.get(f"{url}/ui/", timeout=30).status_code == 200
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=120)
    assert server.returncode == 0
    left = [p for p in psutil.process_iter(["cmdline"]) if temp_dir in " ".join(p.info["cmdline"] or [])]
    assert left == [], [p.info["cmdline"][:2] for p in left]
    assert not Path(temp_dir).exists()
