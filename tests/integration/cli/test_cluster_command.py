"""`imgclf cluster up|status|down` as a user runs them: a real head and worker node, recorded, then stopped."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psutil
import pytest
import yaml

from imgclf.local_cluster import HeadNode, head_processes
from imgclf.observability import RULES_FILE
from utils.ray_head import VENV_BIN, free_port, venv_env
from utils.system_binaries import require_binary

pytestmark = pytest.mark.slow


def imgclf(*argv: object, state: Path) -> subprocess.CompletedProcess:
    env = {**venv_env(), "IMGCLF_CLUSTER_STATE": str(state)}
    return subprocess.run([str(VENV_BIN / "imgclf"), *map(str, argv)], capture_output=True, text=True, env=env,
                          timeout=300)


def assert_prometheus_config_loads_the_rules(config: Path) -> None:
    """The written prometheus.yml names imgclf's rules file by absolute path, and promtool accepts both."""
    assert yaml.safe_load(config.read_text())["rule_files"] == [str(RULES_FILE.resolve())]
    done = subprocess.run([require_binary("promtool", "prometheus"), "check", "config", str(config)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rules found" in done.stdout + done.stderr


def test_up_status_down(tmp_path: Path) -> None:
    state = tmp_path / "cluster.json"
    dashboard, metrics = free_port(), free_port()
    up = imgclf("cluster", "up", "--workers", "1", "--num-cpus", "1", "--dashboard-port", dashboard,
                "--metrics-port", metrics, state=state)
    recorded = json.loads(state.read_text()) if state.exists() else {}
    head = HeadNode.from_json(json.dumps(recorded["head"])) if recorded else None
    try:
        assert up.returncode == 0, up.stderr
        assert up.stdout.startswith("Ray cluster up: head + 1 worker node(s)")
        assert f"dashboard  http://127.0.0.1:{dashboard}" in up.stdout
        assert f"prometheus prometheus --config.file={head.temp_dir / 'prometheus.yml'}" in up.stdout
        assert "job_name: ray" in (head.temp_dir / "prometheus.yml").read_text()
        assert_prometheus_config_loads_the_rules(head.temp_dir / "prometheus.yml")
        assert f"loads imgclf's rules: {RULES_FILE}" in up.stdout
        assert len(recorded["workers"]) == 1 and Path(recorded["workers"][0]).is_dir()

        again = imgclf("cluster", "up", state=state)
        assert again.returncode == 2
        assert again.stderr.strip() == f"imgclf: error: a cluster is already up ({state}): `imgclf cluster down` first"

        status = imgclf("cluster", "status", state=state)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "Ray cluster up: head + 1 worker node(s)" in status.stdout
        active = status.stdout.split("Active:")[1].split("Pending:")[0].split()
        assert len([word for word in active if word.startswith("node_")]) == 2, status.stdout  # head + worker
        assert "/2.0 CPU" in status.stdout, status.stdout  # --num-cpus 1 on each node
        processes = head_processes(head)
        assert processes
    finally:
        down = imgclf("cluster", "down", state=state)
    assert down.returncode == 0, down.stderr
    assert down.stdout.startswith("stopped ") and f"of the cluster at {head.address}" in down.stdout
    assert not state.exists()
    assert not [process for process in processes if process.is_running() and process.status() != psutil.STATUS_ZOMBIE]
    assert not Path(recorded["workers"][0]).exists()

    gone = imgclf("cluster", "status", state=state)
    assert gone.returncode == 2
    assert gone.stderr.strip() == f"imgclf: error: no cluster is up (no {state}): `imgclf cluster up` starts one"
