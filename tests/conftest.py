"""Shared test setup: put tests/ on sys.path so test modules can `from utils.images import ...`."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

SEED_ENV = "IMGCLF_TEST_SEED"


@pytest.fixture(scope="session")
def seed() -> int:
    """The seed for test randomness: 42, or $IMGCLF_TEST_SEED to reproduce a flaky run."""
    return int(os.environ.get(SEED_ENV, "42"))


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster for the whole session, in its own temp folder, shut down at the end."""
    import shutil
    import tempfile

    import ray

    from imgclf.cluster import RUNTIME_ENV

    if ray.is_initialized():
        yield ray
        return
    temp_dir = tempfile.mkdtemp(prefix="imgclf-ray-", dir="/tmp")  # short: Ray's socket paths have a length limit
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp_dir, runtime_env=RUNTIME_ENV)
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture
def cluster_with(monkeypatch):
    """A stand-in for Ray's view of the cluster: cluster_with(8.0, 8.0, gpus=2.0) = two live nodes of 8 CPUs,
    2 GPUs in all, plus a dead node that must not count."""
    import ray

    def set_resources(*node_cpus: float, gpus: float = 0.0):
        totals = {"CPU": float(sum(node_cpus))} | ({"GPU": gpus} if gpus else {})
        nodes = [{"Alive": True, "Resources": {"CPU": cpus}} for cpus in node_cpus]
        nodes.append({"Alive": False, "Resources": {"CPU": 64.0}})
        monkeypatch.setattr(ray, "cluster_resources", lambda: totals)
        monkeypatch.setattr(ray, "nodes", lambda: nodes)

    return set_resources
