"""System binaries that tests run for real: find one (skip without it, but fail in CI), or run a server binary on
a free loopback port until the test is done, stopped by its own pid."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import IO, Callable, Iterator

from imgclf.local_cluster import free_port
from utils.prerequisites import missing

SYSTEM_BIN = Path("/usr/bin")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 5.0
POLL_S = 0.1


def require_binary(name: str, package: str) -> str:
    """The path of binary `name` (on PATH or in /usr/bin); skip the test when missing, fail when CI=true."""
    __tracebackhide__ = True  # reports name the caller
    found = shutil.which(name) or shutil.which(name, path=str(SYSTEM_BIN))
    if not found:
        missing(f"{name} is not installed (Debian package {package}; `sudo make system-packages` installs it)")
    return found


@contextlib.contextmanager
def running_server(name: str, package: str, options: Callable[[str], list[str]]) -> Iterator[str]:
    """Start binary `name` with `options(address)` on a free loopback address, wait until GET /-/ready answers
    200 (Prometheus' and the Pushgateway's readiness route), yield its URL, and stop it after."""
    binary = require_binary(name, package)
    address = f"127.0.0.1:{free_port()}"
    with tempfile.TemporaryFile("w+") as log:  # a file, not a pipe: a full pipe would block the server
        process = subprocess.Popen([binary, *options(address)], stdout=log, stderr=log)
        try:
            wait_until_ready(f"http://{address}", name, process, log)
            yield f"http://{address}"
        finally:
            stop(process)


def wait_until_ready(url: str, name: str, process: subprocess.Popen[bytes], log: IO[str]) -> None:
    """Poll GET {url}/-/ready until it answers 200; fail when the process exits or START_TIMEOUT_S passes."""
    deadline, last = time.monotonic() + START_TIMEOUT_S, None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log.read()}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1.0):
                return
        except OSError as exc:  # not listening yet, or 503 while Prometheus replays its (empty) WAL
            last = exc
        time.sleep(POLL_S)
    raise TimeoutError(f"{name} at {url} was not ready within {START_TIMEOUT_S:.0f} s: {last}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM this process, then SIGKILL it after STOP_TIMEOUT_S."""
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)
