"""A second network host on this machine: a network namespace joined to ours by a veth pair.

    with two_hosts() as hosts:      # OneHost where no namespace can be created here
        hosts.head_ip, hosts.worker_ip, hosts.worker_prefix   # run a command "on" the worker with the prefix
        hosts.mechanism             # which of the two it is, in words

The addresses are private to the veth link (10.77.x.0/24); everything is deleted after. Where this machine permits
network namespaces, CI (CI=true) refuses the one-host fallback: the test fails instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Iterator

import pytest

from utils.prerequisites import in_ci
from utils.system_binaries import require_binary

MECHANISM_PROPERTY = "two_host_mechanism"  # the test report property naming the mechanism that ran

@dataclass(frozen=True)
class TwoHosts:
    head_ip: str
    worker_ip: str
    namespace: str

    @property
    def worker_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.namespace]

    @property
    def mechanism(self) -> str:
        return f"network namespace {self.namespace} ({self.worker_ip}) joined to {self.head_ip} by veth"


@dataclass(frozen=True)
class OneHost:
    """The fallback: both nodes on this host's loopback, the worker a second raylet."""

    why: str  # why no namespace was created
    head_ip: str = "127.0.0.1"
    worker_ip: str | None = None  # None: the head's
    worker_prefix: tuple[str, ...] = ()

    @property
    def mechanism(self) -> str:
        return f"two raylets on one host (no network namespace: {self.why})"


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(command), capture_output=True, text=True)


def add_namespace(name: str) -> str | None:
    """`ip netns add NAME`: None when the namespace exists now, else why not."""
    if not shutil.which("ip"):
        return "ip is not installed (Debian package iproute2)"
    added = run("ip", "netns", "add", name)
    return None if added.returncode == 0 else f"`ip netns add` failed: {added.stderr.strip()}"


def namespaces_permitted() -> bool:
    """Whether this process may create a network namespace, probed for real with `unshare --net true`."""
    return run(require_binary("unshare", "util-linux"), "--net", "true").returncode == 0


def check_fallback(fallback: OneHost) -> None:
    """In CI (CI=true), fail when the one-host fallback was taken on a machine that permits network namespaces."""
    if in_ci() and namespaces_permitted():
        pytest.fail(f"{fallback.mechanism}, yet this machine permits network namespaces (`unshare --net true` "
                    "works); CI must run the two-host path", pytrace=False)


@contextlib.contextmanager
def two_hosts(suffix: int | None = None) -> Iterator[TwoHosts | OneHost]:
    """A namespace with a veth link to the test's namespace, or OneHost when none can be created here; `suffix`
    (1-254) numbers its names and addresses, by default from this process's id."""
    suffix = suffix or os.getpid() % 250 + 1
    namespace, ours, theirs = f"imgclf-w{suffix}", f"imgclf-h{suffix}", f"imgclf-p{suffix}"
    hosts = TwoHosts(f"10.77.{suffix}.1", f"10.77.{suffix}.2", namespace)
    why_not = add_namespace(namespace)
    if why_not:
        fallback = OneHost(why_not)
        check_fallback(fallback)
        yield fallback
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
