"""A second network host on this machine: a network namespace joined to ours by a veth pair.

    with two_hosts() as hosts:      # None where network namespaces are not permitted
        hosts.head_ip, hosts.worker_ip, hosts.worker_prefix   # run a command "on" the worker with the prefix

The addresses are private to the veth link (10.77.x.0/24); everything is deleted after.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True)
class TwoHosts:
    head_ip: str
    worker_ip: str
    namespace: str

    @property
    def worker_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.namespace]


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(command), capture_output=True, text=True)


@contextlib.contextmanager
def two_hosts() -> Iterator[TwoHosts | None]:
    """A namespace with a veth link to the test's namespace, or None when namespaces cannot be created."""
    suffix = os.getpid() % 250 + 1
    namespace, ours, theirs = f"imgclf-w{suffix}", f"imgclf-h{suffix}", f"imgclf-p{suffix}"
    hosts = TwoHosts(f"10.77.{suffix}.1", f"10.77.{suffix}.2", namespace)
    if run("ip", "netns", "add", namespace).returncode != 0:
        yield None
        return
    try:
        steps = [
            ("ip", "link", "add", ours, "type", "veth", "peer", "name", theirs),
            ("ip", "link", "set", theirs, "netns", namespace),
            ("ip", "addr", "add", f"{hosts.head_ip}/24", "dev", ours),
            ("ip", "link", "set", ours, "up"),
            ("ip", "netns", "exec", namespace, "ip", "addr", "add", f"{hosts.worker_ip}/24", "dev", theirs),
            ("ip", "netns", "exec", namespace, "ip", "link", "set", theirs, "up"),
            ("ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"),
        ]
        for step in steps:
            done = run(*step)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(step)} failed: {done.stderr.strip()}")
        yield hosts
    finally:
        run("ip", "netns", "delete", namespace)  # takes the veth pair with it
        run("ip", "link", "delete", ours)
