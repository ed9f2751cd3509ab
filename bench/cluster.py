"""The Ray cluster a bench section measures on: its workers at this process's priority, not Ray's nice 15, so on
a shared machine they compete for CPUs on the same terms as the plain side they are compared with."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import ray

from imgclf.cluster import connect

WORKER_NICENESS = "RAY_worker_niceness"  # read by Ray's processes as they start


def same_priority_env() -> dict[str, str]:
    """This process's environment, for a Ray head started as another process."""
    return {**os.environ, WORKER_NICENESS: "0"}


@contextmanager
def section_cluster() -> Iterator[None]:
    """A local Ray cluster for one section, started before anything is timed and shut down after; a cluster this
    process has already joined is used as it is."""
    if ray.is_initialized():
        yield
        return
    before = os.environ.get(WORKER_NICENESS)
    os.environ[WORKER_NICENESS] = "0"
    try:
        connect(None, progress=False)
    finally:
        if before is None:
            del os.environ[WORKER_NICENESS]
        else:
            os.environ[WORKER_NICENESS] = before
    try:
        yield
    finally:
        ray.shutdown()
