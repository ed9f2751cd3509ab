"""A real two-host Ray cluster: the head in this network namespace, a worker node in another one joined by a veth
pair (or, where no namespace can be created, a second raylet on this host; CI refuses that fallback where this
machine permits namespaces). A batch job's model actors and a Serve deployment's replicas land on both nodes, checked
through Ray's state API. Which mechanism ran is printed, recorded as each test's `two_host_mechanism` property and
named in the terminal summary."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pyarrow.dataset as pads
import pytest
from ray.util.state import list_actors

from imgclf.local_cluster import HeadNode, running_head, start_worker
from utils.digits_run import VGG_MODEL, TrainedRun
from utils.netns import MECHANISM_PROPERTY, two_hosts
from utils.ray_head import venv_env
from utils.serve_app import deploy_app

pytestmark = pytest.mark.slow
NODE_CPUS = 2
CLASSIFY_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HeadNode, str]]:
    """(head, mechanism): a head and one worker node of NODE_CPUS CPUs each."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    with two_hosts() as hosts:
        print(f"\ntwo-host cluster: {hosts.mechanism}")
        with running_head(num_cpus=NODE_CPUS, host=hosts.head_ip, env=venv_env()) as head:
            start_worker(head, num_cpus=NODE_CPUS, node_ip=hosts.worker_ip, command_prefix=hosts.worker_prefix,
                         env=venv_env())
            wait_for_nodes(head, 2)
            yield head, hosts.mechanism


@pytest.fixture(autouse=True)
def mechanism(cluster, record_property) -> str:
    """The mechanism that ran, as a property of every test's report."""
    record_property(MECHANISM_PROPERTY, cluster[1])
    return cluster[1]


def wait_for_nodes(head: HeadNode, count: int, timeout_s: float = 120) -> None:
    from ray.util.state import list_nodes

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = [n for n in list_nodes(address=head.dashboard_url) if n.state == "ALIVE"]
        if len(alive) >= count:
            return
        time.sleep(1)
    raise TimeoutError(f"{count} nodes did not join {head.address} in {timeout_s:.0f} s")


def actor_nodes(head: HeadNode, class_fragment: str) -> dict[str, str]:
    """actor id → node id of every actor (alive or dead) whose class name holds `class_fragment`."""
    actors = list_actors(address=head.dashboard_url, detail=True, limit=10_000)
    return {a.actor_id: a.node_id for a in actors if class_fragment in (a.class_name or "")}


@pytest.mark.timeout(2 * CLASSIFY_TIMEOUT_S)  # the job's own limit, plus the cluster and the training run it uses
def test_batch_job_model_actors_run_on_both_nodes(cluster, mechanism: str, trained_run: TrainedRun,
                                                  tmp_path: Path) -> None:
    head, _ = cluster
    output = tmp_path / "out"
    command = [sys.executable, "-m", "imgclf.cli", "classify", str(trained_run.data_dir), "--model", VGG_MODEL,
               "--registry", str(trained_run.registry), "--output", str(output), "--address", head.address,
               "--concurrency", "2", "--cpus-per-actor", "1.5", "--batch-size", "16"]
    done = subprocess.run(command, env=venv_env(), capture_output=True, text=True, timeout=CLASSIFY_TIMEOUT_S)
    assert done.returncode == 0, f"({mechanism})\n" + done.stdout[-3000:] + done.stderr[-3000:]
    files = [p for p in trained_run.data_dir.rglob("*") if p.is_file()]
    assert pads.dataset(output, format="parquet").count_rows() == len(files)
    nodes = set(actor_nodes(head, "MapBatches(BatchPredictor)").values())
    assert len(nodes) == 2, f"model actors ran on {nodes} ({mechanism})"


def test_serve_replicas_run_on_both_nodes(cluster, mechanism: str, trained_run: TrainedRun, tmp_path: Path) -> None:
    head, _ = cluster
    app = deploy_app(head, tmp_path, registry=trained_run.registry, model=VGG_MODEL,
                     classifier={"num_replicas": 2, "autoscaling_config": None, "ray_actor_options": {"num_cpus": 1.5}})
    replicas = set(actor_nodes(head, "ServeReplica:imgclf:Classifier").values())
    assert len(replicas) == 2, f"Classifier replicas on {replicas} ({mechanism})"
    digit = sorted((trained_run.data_dir / "2").glob("*.png"))[0].read_bytes()
    for _ in range(6):
        answer = httpx.post(f"{app.url}/v1/classify", content=digit, headers={"content-type": "image/png"}, timeout=60)
        assert answer.status_code == 200, answer.text
