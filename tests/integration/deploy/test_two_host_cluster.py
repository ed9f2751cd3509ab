"""A real two-host Ray cluster: the head in this network namespace, a worker node in another one joined by a veth
pair (or, where no namespace can be created, a second raylet on this host; CI refuses that fallback where this
machine permits namespaces). A batch job's model actors and a Serve deployment's replicas land on both nodes, checked
through Ray's state API. Which mechanism ran is printed, recorded as each test's `two_host_mechanism` property and
named in the terminal summary.

Each node has a home of its own, and so a registry cache of its own, as two machines do. The served model comes from
an S3 registry (moto's server on the head's address, which the worker's namespace reaches): a compiled variant that
`imgclf optimize` publishes from the head host after both replicas cached the version reaches the worker's replica
too. A head that `imgclf cluster up` binds to the head's network address, RAY_AUTH_MODE unset, runs with Ray's token
authentication."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyarrow.dataset as pads
import pytest
from ray.util.state import list_actors

from imgclf.local_cluster import HeadNode, free_port, running_head, start_worker
from imgclf.registry import Registry
from utils.digits_run import VGG_MODEL, TrainedRun
from utils.netns import MECHANISM_PROPERTY, OneHost, TwoHosts, two_hosts
from utils.ray_head import VENV_BIN, venv_env
from utils.s3_server import S3_ENV, s3_server
from utils.serve_app import deploy_app, deployment, serve_deploy

pytestmark = pytest.mark.slow
NODE_CPUS = 2
CLASSIFY_TIMEOUT_S = 900
OPTIMIZE_TIMEOUT_S = 600
RECONFIGURE_TIMEOUT_S = 300
CLASSIFIER_ON_EACH_NODE = {"num_replicas": 2, "autoscaling_config": None, "ray_actor_options": {"num_cpus": 1.5}}


@dataclass(frozen=True)
class Cluster:
    head: HeadNode
    hosts: TwoHosts | OneHost
    head_home: Path  # the head host's home: a process run "on" it from here uses its registry cache

    @property
    def mechanism(self) -> str:
        return self.hosts.mechanism


def host_env(home: Path) -> dict[str, str]:
    """venv_env() for one host: a home (so a registry cache) of its own, and the S3 registry's credentials."""
    home.mkdir(parents=True, exist_ok=True)
    return {**venv_env(), "HOME": str(home), **S3_ENV}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A head and one worker node of NODE_CPUS CPUs each, each node with a home of its own.

    Token authentication off for its nodes and clients, whatever an earlier `ray.init()` of this session left in the
    environment (a new local cluster turns it on when RAY_AUTH_MODE is unset); a head of its own tests it on."""
    homes = tmp_path_factory.mktemp("homes")
    with pytest.MonkeyPatch.context() as patch, two_hosts() as hosts:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        print(f"\ntwo-host cluster: {hosts.mechanism}")
        with running_head(num_cpus=NODE_CPUS, host=hosts.head_ip, env=host_env(homes / "head")) as head:
            start_worker(head, num_cpus=NODE_CPUS, node_ip=hosts.worker_ip, command_prefix=hosts.worker_prefix,
                         env=host_env(homes / "worker"))
            wait_for_nodes(head, 2)
            yield Cluster(head, hosts, homes / "head")


@pytest.fixture(autouse=True)
def mechanism(cluster: Cluster, record_property) -> str:
    """The mechanism that ran, as a property of every test's report."""
    record_property(MECHANISM_PROPERTY, cluster.mechanism)
    return cluster.mechanism


@pytest.fixture(scope="module")
def s3_registry(cluster: Cluster, trained_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An S3 registry on the head's address that both hosts reach, holding the session's digits VGG16 as version 1."""
    with pytest.MonkeyPatch.context() as patch, s3_server(cluster.hosts.head_ip) as server:
        for variable, value in S3_ENV.items():
            patch.setenv(variable, value)
        root = server.uri("registry")
        uploader = Registry(root, cache_dir=tmp_path_factory.mktemp("uploader-cache"))
        uploader.register(VGG_MODEL, Registry(trained_run.registry).local_path(VGG_MODEL))
        yield root


def wait_for_nodes(head: HeadNode, count: int, timeout_s: float = 120) -> None:
    from ray.util.state import list_nodes

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = [n for n in list_nodes(address=head.dashboard_url) if n.state == "ALIVE"]
        if len(alive) >= count:
            return
        time.sleep(1)
    raise TimeoutError(f"{count} nodes did not join {head.address} in {timeout_s:.0f} s")


def actor_nodes(head: HeadNode, class_fragment: str, *, alive_only: bool = False) -> dict[str, str]:
    """actor id → node id of every actor (alive or, unless `alive_only`, dead) whose class name holds
    `class_fragment`."""
    actors = list_actors(address=head.dashboard_url, detail=True, limit=10_000)
    return {a.actor_id: a.node_id for a in actors
            if class_fragment in (a.class_name or "") and (a.state == "ALIVE" or not alive_only)}


def served_inference(url: str) -> tuple[str, str] | str:
    """(backend, precision) of the served model as GET /v1/models describes it (one replica answers), or what went
    wrong."""
    try:
        answer = httpx.get(f"{url}/v1/models", timeout=60)
        inference = answer.json()["models"][0]["inference"]
        return inference["backend"], inference["precision"]
    except (httpx.HTTPError, ValueError, KeyError, IndexError) as exc:
        return f"{type(exc).__name__}: {exc}"


def wait_until_every_answer_is(url: str, wanted: tuple[str, str], *, answers: int = 16) -> None:
    """Until `answers` GET /v1/models in a row describe `wanted` (the replicas pick one at random for each)."""
    deadline, seen = time.monotonic() + RECONFIGURE_TIMEOUT_S, []
    while time.monotonic() < deadline:
        seen.append(served_inference(url))
        if seen[-answers:] == [wanted] * answers:
            return
        time.sleep(0.25)
    raise AssertionError(f"not every replica runs {wanted} after {RECONFIGURE_TIMEOUT_S} s; last answers: "
                         f"{seen[-answers:]}")


def optimize_on(home: Path, registry: str, trained_run: TrainedRun) -> subprocess.CompletedProcess:
    """`imgclf optimize` of the VGG16 to int8 on the host of `home` (the guard opened wide: the session's model
    learned for one epoch only, and what is checked here is where the variant reaches)."""
    command = [sys.executable, "-m", "imgclf.cli", "optimize", VGG_MODEL, "--precision", "int8", "--registry", registry,
               "--data", str(trained_run.data_dir), "--calibration-images", "64", "--max-accuracy-drop", "100"]
    return subprocess.run(command, env=host_env(home), capture_output=True, text=True, timeout=OPTIMIZE_TIMEOUT_S)


@pytest.mark.timeout(2 * CLASSIFY_TIMEOUT_S)  # the job's own limit, plus the cluster and the training run it uses
def test_batch_job_model_actors_run_on_both_nodes(cluster: Cluster, mechanism: str, trained_run: TrainedRun,
                                                  tmp_path: Path) -> None:
    head = cluster.head
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


@pytest.mark.timeout(OPTIMIZE_TIMEOUT_S + 2 * RECONFIGURE_TIMEOUT_S + CLASSIFY_TIMEOUT_S)
def test_serve_replicas_on_both_nodes_run_a_variant_published_from_one_host_after_both_cached_the_model(
        cluster: Cluster, mechanism: str, s3_registry: str, trained_run: TrainedRun, tmp_path: Path) -> None:
    head = cluster.head
    app = deploy_app(head, tmp_path, registry=s3_registry, model=VGG_MODEL, classifier=CLASSIFIER_ON_EACH_NODE)
    replicas = set(actor_nodes(head, "ServeReplica:imgclf:Classifier").values())
    assert len(replicas) == 2, f"Classifier replicas on {replicas} ({mechanism})"
    digit = sorted((trained_run.data_dir / "2").glob("*.png"))[0].read_bytes()
    for _ in range(6):
        answer = httpx.post(f"{app.url}/v1/classify", content=digit, headers={"content-type": "image/png"}, timeout=60)
        assert answer.status_code == 200, answer.text
    assert served_inference(app.url)[0] == "tensorflow"  # no variant yet

    optimized = optimize_on(cluster.head_home, s3_registry, trained_run)
    assert optimized.returncode == 0, optimized.stdout[-3000:] + optimized.stderr[-3000:]
    deployment(app.config, "Classifier")["user_config"]["precision"] = "int8"  # each replica reloads the model
    serve_deploy(head, app.config, app.config_path)
    wait_until_every_answer_is(app.url, ("openvino", "int8"))
    replicas = set(actor_nodes(head, "ServeReplica:imgclf:Classifier", alive_only=True).values())
    assert len(replicas) == 2, f"Classifier replicas now on {replicas} ({mechanism})"


def test_a_head_bound_to_a_network_address_runs_with_token_auth(cluster: Cluster, tmp_path: Path) -> None:
    """`imgclf cluster up --host` on the head's network address with RAY_AUTH_MODE unset: Ray's dashboard refuses a
    client without the token, or with another one, and answers one with it."""
    address = cluster.hosts.head_ip
    if address.startswith("127."):
        pytest.skip(f"no network address to bind here: {cluster.mechanism}")
    token = secrets.token_hex(32)
    env = {**venv_env(), "RAY_AUTH_TOKEN": token, "IMGCLF_CLUSTER_STATE": str(tmp_path / "cluster.json")}
    del env["RAY_AUTH_MODE"]
    dashboard = free_port(address)
    imgclf = [str(VENV_BIN / "imgclf"), "cluster"]
    up = subprocess.run([*imgclf, "up", "--host", address, "--num-cpus", "1", "--dashboard-port", str(dashboard),
                         "--metrics-port", str(free_port(address))],
                        env=env, capture_output=True, text=True, timeout=300)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        jobs = f"http://{address}:{dashboard}/api/jobs/"
        headers = {"no token": {}, "another token": {"Authorization": f"Bearer {secrets.token_hex(32)}"},
                   "the token": {"Authorization": f"Bearer {token}"}}
        answers = {client: httpx.get(jobs, headers=sent, timeout=30).status_code for client, sent in headers.items()}
        assert answers == {"no token": 401, "another token": 403, "the token": 200}
    finally:
        down = subprocess.run([*imgclf, "down"], env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
