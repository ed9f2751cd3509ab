"""A Ray head node on this machine, started with `ray start --head` and stopped by its own processes' pids.

    head = start_head(num_cpus=2)         # own temp folder, free ports: dashboard, metrics export, GCS
    ...                                   # ray job submit / serve deploy --address head.dashboard_url
    stop_head(head)

`ray stop` stops every Ray cluster of the user on the machine; stop_head terminates only the processes whose
command line names this head's temp folder or GCS port, and their descendants.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

import psutil

from imgclf.errors import ConfigError
from imgclf.observability import RULES_FILE

LOG = logging.getLogger("imgclf")

START_TIMEOUT_S = 120.0
START_ATTEMPTS = 2
# Ray Serve's request path on every node started here: gRPC between proxy and replicas and between replicas, user
# code and router on the replica's own event loop, access logs buffered (measured with the serve bench on 2 CPUs:
# +21% requests per second at concurrency 32, less CPU in the ingress; see docs/benchmarks.md). Direct ingress
# stays off: it moves the HTTP port from the proxy to per-replica ports for an external load balancer. A value
# already in the environment wins.
SERVE_PATH_ENV = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_DIRECT_INGRESS": "0"}
STOP_TIMEOUT_S = 5.0  # raylet, GCS and the autoscaler monitor take 12+ s on SIGTERM: what is left is killed


@dataclass(frozen=True)
class HeadNode:
    address: str  # GCS address, host:port (ray.init / ray start --address)
    dashboard_url: str  # http://HOST:PORT: the Jobs API, `serve deploy --address`
    temp_dir: Path  # this head's own --temp-dir
    metrics_port: int  # Ray's metrics export port: http://HOST:PORT/metrics

    @property
    def gcs_port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    @property
    def service_discovery_file(self) -> Path:
        """Ray's Prometheus file-based service discovery (every node's metrics target)."""
        return self.temp_dir / "session_latest" / "prom_metrics_service_discovery.json"

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "temp_dir": str(self.temp_dir)})

    @classmethod
    def from_json(cls, text: str) -> HeadNode:
        values = json.loads(text)
        return cls(**{**values, "temp_dir": Path(values["temp_dir"])})


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def ray_executable() -> str:
    """The `ray` command of this Python environment."""
    return str(Path(sys.executable).parent / "ray")


def start_head(**options) -> HeadNode:
    """start_head_once(**options), tried again once with fresh ports and folder if the head does not come up
    (a free port taken by another process in between, or a start slowed past the timeout on a busy machine)."""
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return start_head_once(**options)
        except (ConfigError, TimeoutError) as exc:
            if attempt == START_ATTEMPTS:
                raise
            LOG.warning("the Ray head did not start (%s); trying once more", exc)
    raise AssertionError("unreachable")


def start_head_once(
    *,
    temp_root: str | Path = "/tmp",
    num_cpus: int | None = None,
    host: str = "127.0.0.1",
    dashboard_port: int | None = None,
    metrics_port: int | None = None,
    env: dict[str, str] | None = None,
) -> HeadNode:
    """`ray start --head` with its own temp folder and ports (free ones unless given); waits for the Jobs API.

    Ray's token authentication follows RAY_AUTH_MODE when set; otherwise it is off for a loopback-only head and
    on (`token`) for one bound to a network address. This process's Ray clients are set to the same mode.
    """
    mode = os.environ.setdefault("RAY_AUTH_MODE", "disabled" if host.startswith("127.") else "token")
    # Ray's dashboard and autoscaler metrics have fixed default ports, listed in the Prometheus service
    # discovery file: free ones, so Prometheus never scrapes another cluster of this machine there.
    env = {**SERVE_PATH_ENV, **(env if env is not None else os.environ), "RAY_AUTH_MODE": mode,
           "DASHBOARD_METRIC_PORT": str(free_port(host)), "AUTOSCALER_METRIC_PORT": str(free_port(host))}
    # Short: Ray's Unix socket paths below the temp folder have a limit of about 107 characters.
    temp_dir = Path(tempfile.mkdtemp(prefix="imgclf-head-", dir=temp_root))
    gcs_port = free_port(host)
    dashboard_port = dashboard_port or free_port(host)
    metrics_port = metrics_port or free_port(host)
    command = [
        ray_executable(), "start", "--head", "--temp-dir", str(temp_dir), "--port", str(gcs_port),
        "--node-ip-address", host, "--dashboard-host", host, "--dashboard-port", str(dashboard_port),
        "--include-dashboard", "true", "--metrics-export-port", str(metrics_port),
        # Every fixed default port of its own, so other heads on this machine do not collide.
        "--dashboard-agent-listen-port", str(free_port(host)), "--ray-client-server-port", str(free_port(host)),
        "--disable-usage-stats", *(["--num-cpus", str(num_cpus)] if num_cpus is not None else []),
    ]
    head = HeadNode(f"{host}:{gcs_port}", f"http://{host}:{dashboard_port}", temp_dir, metrics_port)
    try:
        started = subprocess.run(command, env=env, capture_output=True, text=True, timeout=START_TIMEOUT_S)
        if started.returncode != 0:
            raise ConfigError(f"ray start failed ({started.returncode}): {last_lines(started.stderr or started.stdout)}")
        wait_for_jobs_api(head.dashboard_url, START_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        stop_head(head)
        raise TimeoutError(f"ray start did not return within {START_TIMEOUT_S:.0f} s") from exc
    except (ConfigError, TimeoutError):
        stop_head(head)
        raise
    return head


def last_lines(text: str, count: int = 3) -> str:
    """The end of a command's output: where `ray start` says what went wrong."""
    return " ".join(line.strip() for line in text.strip().splitlines()[-count:])


def wait_for_jobs_api(url: str, timeout_s: float) -> None:
    """Poll until the dashboard's Jobs API answers a job listing, or raise TimeoutError after `timeout_s`."""
    from ray.job_submission import JobSubmissionClient

    deadline, last = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        try:
            JobSubmissionClient(url).list_jobs()
            return
        except Exception as exc:  # noqa: BLE001 - not up yet: connection refused, 5xx while the agent starts
            last = exc
            time.sleep(0.5)
    raise TimeoutError(f"the Ray Jobs API at {url} did not answer within {timeout_s:.0f} s: {last}")


def head_processes(head: HeadNode) -> list[psutil.Process]:
    """Processes whose command line names the head's temp folder or GCS port, and their descendants (a job's
    entrypoint runs as a child of its supervisor actor and names neither)."""
    marker = re.compile(re.escape(str(head.temp_dir)) + rf"|:{head.gcs_port}(?!\d)")
    found: dict[int, psutil.Process] = {}
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if marker.search(" ".join(process.info["cmdline"] or [])):
                found[process.pid] = process
                found.update((child.pid, child) for child in process.children(recursive=True))
    found.pop(os.getpid(), None)
    return list(found.values())


def stop_head(head: HeadNode) -> int:
    """Terminate the head's processes (SIGKILL what is left after STOP_TIMEOUT_S), delete its temp folder;
    return how many processes were stopped."""
    processes = head_processes(head)
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=STOP_TIMEOUT_S)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=STOP_TIMEOUT_S)
    shutil.rmtree(head.temp_dir, ignore_errors=True)
    return len(processes)


def start_worker(
    head: HeadNode,
    *,
    num_cpus: int | None = None,
    node_ip: str | None = None,
    command_prefix: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Path:
    """`ray start --address` of one more node on this machine, joining `head`; returns its temp folder.

    `command_prefix` runs it elsewhere, e.g. `ip netns exec NAME` in another network namespace with its own
    `node_ip`. stop_head(head) stops it too: its processes name the head's GCS port.
    """
    temp_dir = Path(tempfile.mkdtemp(prefix="imgclf-node-", dir=head.temp_dir.parent))
    command = [
        *command_prefix, ray_executable(), "start", "--address", head.address, "--temp-dir", str(temp_dir),
        "--node-ip-address", node_ip or head.address.rsplit(":", 1)[0], "--metrics-export-port", str(free_port()),
        "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats",
        *(["--num-cpus", str(num_cpus)] if num_cpus is not None else []),
    ]
    env = {**SERVE_PATH_ENV, **(env if env is not None else os.environ),
           "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled")}
    started = subprocess.run(command, env=env, capture_output=True, text=True, timeout=START_TIMEOUT_S)
    if started.returncode != 0:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise ConfigError(f"ray start --address {head.address} failed: {last_lines(started.stderr or started.stdout)}")
    return temp_dir


def prometheus_config(head: HeadNode, *, scrape_interval_s: int = 5, rule_files: Sequence[Path] = (RULES_FILE,)) -> str:
    """A prometheus.yml scraping every node of the cluster through Ray's service-discovery file and loading
    `rule_files` (by absolute path; by default imgclf's recording and alerting rules)."""
    rules = "".join(f"  - '{Path(path).resolve()}'\n" for path in rule_files)
    return (
        f"global:\n  scrape_interval: {scrape_interval_s}s\n  evaluation_interval: {scrape_interval_s}s\n"
        + (f"rule_files:\n{rules}" if rules else "")
        + "scrape_configs:\n  - job_name: ray\n    file_sd_configs:\n"
        f"      - files: ['{head.service_discovery_file}']\n"
    )


@contextlib.contextmanager
def running_head(**options) -> Iterator[HeadNode]:
    """start_head(**options) for the duration of a `with` block."""
    head = start_head(**options)
    try:
        yield head
    finally:
        stop_head(head)


# --- the cluster `imgclf cluster up` keeps running: recorded in a state file until `imgclf cluster down` ---------

CLUSTER_STATE_ENV = "IMGCLF_CLUSTER_STATE"


@dataclass(frozen=True)
class LocalCluster:
    head: HeadNode
    worker_dirs: tuple[str, ...]  # each worker node's temp folder

    @property
    def prometheus_file(self) -> Path:
        return self.head.temp_dir / "prometheus.yml"


def cluster_state_file() -> Path:
    return Path(os.environ.get(CLUSTER_STATE_ENV, "~/.imgclf/cluster.json")).expanduser()


def start_cluster(*, workers: int = 0, num_cpus: int | None = None, **head_options) -> LocalCluster:
    """A head (start_head(**head_options)) plus `workers` worker nodes, a prometheus.yml for it, recorded."""
    state = cluster_state_file()
    if state.exists():
        raise ConfigError(f"a cluster is already up ({state}): `imgclf cluster down` first")
    head = start_head(num_cpus=num_cpus, **head_options)
    cluster = LocalCluster(head, tuple(str(start_worker(head, num_cpus=num_cpus)) for _ in range(workers)))
    cluster.prometheus_file.write_text(prometheus_config(head))
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"head": json.loads(head.to_json()), "workers": list(cluster.worker_dirs)}, indent=2))
    if workers:
        wait_for_nodes(head, 1 + workers)
    return cluster


def wait_for_nodes(head: HeadNode, count: int, timeout_s: float = START_TIMEOUT_S) -> None:
    """Until `ray status` (Ray's autoscaler, which learns of a joined node seconds after it is up) shows `count`
    active nodes."""
    deadline, shown = time.monotonic() + timeout_s, ""
    while time.monotonic() < deadline:
        shown = subprocess.run([ray_executable(), "status", "--address", head.address], capture_output=True,
                               text=True, timeout=timeout_s).stdout
        active = shown.split("Active:")[-1].split("Pending:")[0] if "Active:" in shown else ""
        if sum(word.startswith("node_") for word in active.split()) >= count:
            return
        time.sleep(1)
    raise TimeoutError(f"Ray did not show {count} active nodes within {timeout_s:.0f} s:\n{shown}")


def recorded_cluster() -> LocalCluster:
    state = cluster_state_file()
    if not state.exists():
        raise ConfigError(f"no cluster is up (no {state}): `imgclf cluster up` starts one")
    values = json.loads(state.read_text())
    return LocalCluster(HeadNode.from_json(json.dumps(values["head"])), tuple(values["workers"]))


def stop_cluster() -> tuple[LocalCluster, int]:
    """Stop the recorded cluster and forget it; return it and the number of processes stopped."""
    cluster = recorded_cluster()
    stopped = stop_head(cluster.head)
    for folder in cluster.worker_dirs:
        shutil.rmtree(folder, ignore_errors=True)
    cluster_state_file().unlink()
    return cluster, stopped
