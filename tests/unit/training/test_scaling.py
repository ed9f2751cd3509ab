"""Ray Train worker groups sized from settings, or from what the cluster has."""

from imgclf.config import ClusterSettings
from imgclf.training.distributed import scaling_config


def test_cpu_cluster_gets_one_worker_per_live_node_with_its_cpus(cluster_with):
    cluster_with(8.0, 8.0)
    scaling = scaling_config(ClusterSettings())
    assert scaling.num_workers == 2 and not scaling.use_gpu
    assert scaling.resources_per_worker == {"CPU": 8.0}


def test_cpus_per_worker_sets_the_worker_count(cluster_with):
    cluster_with(8.0)
    scaling = scaling_config(ClusterSettings(cpus_per_worker=2))
    assert scaling.num_workers == 4 and scaling.resources_per_worker == {"CPU": 2}


def test_workers_share_the_cpus(cluster_with):
    cluster_with(2.0)
    scaling = scaling_config(ClusterSettings(workers=2))
    assert scaling.num_workers == 2 and scaling.resources_per_worker == {"CPU": 1.0}


def test_gpus_are_used_when_the_cluster_has_them(cluster_with):
    cluster_with(16.0, gpus=2.0)
    scaling = scaling_config(ClusterSettings())
    assert scaling.use_gpu and scaling.num_workers == 2
    assert scaling.resources_per_worker == {"CPU": 1.0, "GPU": 1.0}


def test_explicit_settings_win(cluster_with):
    cluster_with(16.0, gpus=2.0)
    scaling = scaling_config(ClusterSettings(workers=3, gpus_per_worker=0, cpus_per_worker=4))
    assert scaling.num_workers == 3 and not scaling.use_gpu and scaling.resources_per_worker == {"CPU": 4}
