"""Fixtures shared by the unit tests."""

import pytest
import ray


@pytest.fixture
def cluster_with(monkeypatch):
    """A stand-in for Ray's view of the cluster: cluster_with(8.0, 8.0, gpus=2.0) = two live nodes of 8 CPUs,
    2 GPUs in all, plus a dead node that must not count."""

    def set_resources(*node_cpus: float, gpus: float = 0.0):
        totals = {"CPU": float(sum(node_cpus))} | ({"GPU": gpus} if gpus else {})
        nodes = [{"Alive": True, "Resources": {"CPU": cpus}} for cpus in node_cpus]
        nodes.append({"Alive": False, "Resources": {"CPU": 64.0}})
        monkeypatch.setattr(ray, "cluster_resources", lambda: totals)
        monkeypatch.setattr(ray, "nodes", lambda: nodes)

    return set_resources
