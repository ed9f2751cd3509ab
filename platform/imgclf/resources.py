"""How many Ray Train workers or batch model actors, and what each reserves: one rule for both.

Explicit values win. Otherwise one per GPU when the cluster has GPUs (1 CPU each), else one per live node holding
that node's CPUs (less `spare_cpus` left to other work on the node): data-parallel CPU copies pay off across nodes,
not on one machine. A given count shares the cluster's CPUs; given CPUs per copy set the count.
"""

from __future__ import annotations

from dataclasses import dataclass

import ray


@dataclass(frozen=True)
class Placement:
    count: int
    cpus: float  # per copy
    gpus: float  # per copy; 0: none


def place(count: int | None = None, cpus: float | None = None, gpus: float | None = None, *,
          spare_cpus: float = 0.0, min_cpus: float = 1.0) -> Placement:
    resources = ray.cluster_resources()
    if gpus is None:
        gpus = 1.0 if resources.get("GPU", 0) >= 1 else 0.0
    if gpus:
        return Placement(count or max(int(resources.get("GPU", 0) // gpus), 1), cpus or 1.0, gpus)
    total = resources.get("CPU", 1.0)
    if cpus is not None:
        return Placement(count or max(int(total // cpus), 1), cpus, 0.0)
    if count is not None:
        return Placement(count, max(total // count - spare_cpus, min_cpus), 0.0)
    node_cpus = [node["Resources"]["CPU"] for node in ray.nodes() if node["Alive"] and node["Resources"].get("CPU")]
    return Placement(max(len(node_cpus), 1), max(min(node_cpus or [1.0]) - spare_cpus, min_cpus), 0.0)
