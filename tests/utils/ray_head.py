"""A real Ray head node (`ray start --head`) with its dashboard, for tests of the Jobs API; stopped by its own pids.

`ray stop` stops every Ray cluster of the user on the machine, so the teardown instead terminates only the
processes whose command line names this head's unique temp folder or GCS port.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import ray  # noqa: F401  - before psutil: Ray vendors psutil (ray/thirdparty_files) and puts it on sys.path
import psutil  # noqa: E402

VENV_BIN = Path(sys.executable).parent
RAY = VENV_BIN / "ray"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 5.0  # raylet, GCS and the autoscaler monitor take 12+ s on SIGTERM; a test cluster may be killed


@dataclass(frozen=True)
class HeadNode:
    address: str  # GCS address, host:port (for ray.init / --address)
    dashboard_url: str  # http://127.0.0.1:PORT, the Jobs API
    temp_dir: Path  # this head's own --temp-dir, unique to it
    metrics_port: int  # Ray's metrics export port: http://127.0.0.1:PORT/metrics


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def venv_env() -> dict[str, str]:
    """This environment with the venv's bin folder first on PATH, so a job's `python` is the venv's.

    Token authentication off, explicitly: `ray start` turns it on whenever ~/.ray/auth_token exists (and
    `ray.init()` of a new local cluster writes one), and a client then needs RAY_AUTH_MODE=token too.
    """
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])
    env["RAY_AUTH_MODE"] = "disabled"
    env.pop("RAY_ADDRESS", None)
    return env


@contextlib.contextmanager
def ray_head(tmp_root: str | Path = "/tmp", *, num_cpus: int = 2) -> Iterator[HeadNode]:
    """Start a head node with its own temp folder and ports, wait until its Jobs API answers, and stop it after."""
    # Short: Ray's Unix socket paths (under the temp folder) have a length limit of about 107 characters.
    temp_dir = Path(tempfile.mkdtemp(prefix="imgclf-head-", dir=tmp_root))
    gcs_port, dashboard_port, metrics_port = free_port(), free_port(), free_port()
    command = [
        str(RAY), "start", "--head", "--temp-dir", str(temp_dir), "--port", str(gcs_port),
        "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard_port), "--include-dashboard", "true",
        # Every fixed default port of its own, so heads of other test sessions on this machine do not collide.
        "--dashboard-agent-listen-port", str(free_port()), "--ray-client-server-port", str(free_port()),
        "--metrics-export-port", str(metrics_port), "--num-cpus", str(num_cpus), "--disable-usage-stats",
    ]
    head = HeadNode(f"127.0.0.1:{gcs_port}", f"http://127.0.0.1:{dashboard_port}", temp_dir, metrics_port)
    try:
        started = subprocess.run(command, env=venv_env(), capture_output=True, text=True, timeout=START_TIMEOUT_S)
        if started.returncode != 0:
            raise RuntimeError(f"ray start failed ({started.returncode}):\n{started.stdout}\n{started.stderr}")
        wait_for_jobs_api(head.dashboard_url, START_TIMEOUT_S)
        yield head
    finally:
        stop_processes(head_processes(temp_dir, gcs_port))
        shutil.rmtree(temp_dir, ignore_errors=True)


def wait_for_jobs_api(url: str, timeout_s: float) -> None:
    """Poll until the dashboard's Jobs API answers a job listing, or fail after `timeout_s`."""
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


def head_processes(temp_dir: Path, gcs_port: int) -> list[psutil.Process]:
    """Processes of this head, their command line naming its temp folder or GCS port, and their descendants
    (a job's entrypoint runs as a child of its supervisor actor and names neither)."""
    marker = re.compile(re.escape(str(temp_dir)) + rf"|:{gcs_port}(?!\d)")
    found: dict[int, psutil.Process] = {}
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if process.pid != os.getpid() and marker.search(" ".join(process.info["cmdline"] or [])):
                found[process.pid] = process
                found.update((child.pid, child) for child in process.children(recursive=True))
    found.pop(os.getpid(), None)
    return list(found.values())


def stop_processes(processes: list[psutil.Process]) -> None:
    """SIGTERM, then SIGKILL whatever is left after STOP_TIMEOUT_S."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=STOP_TIMEOUT_S)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=STOP_TIMEOUT_S)
