"""A real Prometheus Pushgateway on a free loopback port, for tests of pushed metrics; stopped by its own pid."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
import urllib.request
from typing import IO, Iterator

from utils.system_binaries import require_binary

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
POLL_S = 0.05


def free_port() -> int:
    """A loopback port free right now (utils.ray_head has the same, but importing it imports Ray)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def pushgateway() -> Iterator[str]:
    """Start `prometheus-pushgateway`, wait until /-/ready answers, yield its URL, and stop it after."""
    binary = require_binary("prometheus-pushgateway", "prometheus-pushgateway")
    address = f"127.0.0.1:{free_port()}"
    with tempfile.TemporaryFile("w+") as log:  # a file, not a pipe: a full pipe would block the gateway
        process = subprocess.Popen([binary, f"--web.listen-address={address}"], stdout=log, stderr=log)
        try:
            wait_until_ready(f"http://{address}", process, log)
            yield f"http://{address}"
        finally:
            stop(process)


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log: IO[str]) -> None:
    """Poll GET {url}/-/ready until it answers; fail when the process exits or START_TIMEOUT_S passes."""
    deadline, last = time.monotonic() + START_TIMEOUT_S, None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"the Pushgateway exited with {process.returncode}:\n{log.read()}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1.0):
                return
        except OSError as exc:  # not listening yet
            last = exc
        time.sleep(POLL_S)
    raise TimeoutError(f"the Pushgateway at {url} was not ready within {START_TIMEOUT_S:.0f} s: {last}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM this process, then SIGKILL it after STOP_TIMEOUT_S."""
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)
