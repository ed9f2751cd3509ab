"""Ray Train worker groups sized from settings, or from what the cluster has."""

import pytest
import ray

from imgclf.config import ClusterSettings
from imgclf.training.distributed import scaling_config


@pytest.fixture
def cluster_with(monkeypatch):
    def set_resources(**resources):
        monkeypatch.setattr(ray, "cluster_resources", lambda: resources)

    return set_resources


def test_cpu_cluster_gets_one_worker_per_cpu_budget(cluster_with):
    cluster_with(CPU=8.0)
    scaling = scaling_config(ClusterSettings(cpus_per_worker=2))
    assert scaling.num_workers == 4 and not scaling.use_gpu
    assert scaling.resources_per_worker == {"CPU": 2}


def test_gpus_are_used_when_the_cluster_has_them(cluster_with):
    cluster_with(CPU=16.0, GPU=2.0)
    scaling = scaling_config(ClusterSettings())
    assert scaling.use_gpu and scaling.num_workers == 2
    assert scaling.resources_per_worker == {"CPU": 1.0, "GPU": 1.0}


def test_explicit_settings_win(cluster_with):
    cluster_with(CPU=16.0, GPU=2.0)
    scaling = scaling_config(ClusterSettings(workers=3, gpus_per_worker=0))
    assert scaling.num_workers == 3 and not scaling.use_gpu
