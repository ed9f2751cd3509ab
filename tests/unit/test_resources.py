"""The one sizing rule for Ray Train workers and batch model actors (imgclf.resources.place)."""

from imgclf.resources import Placement, place

BATCH = {"spare_cpus": 0.5, "min_cpus": 0.5}  # what the batch job passes: room for the Parquet writers


def test_one_actor_per_live_node_leaves_room_for_the_writers(cluster_with):
    cluster_with(2.0, 4.0)
    assert place(**BATCH) == Placement(2, 1.5, 0.0)


def test_a_one_cpu_node_still_gets_an_actor_with_half_a_cpu(cluster_with):
    cluster_with(1.0)
    assert place(**BATCH) == Placement(1, 0.5, 0.0)


def test_a_given_count_shares_the_cluster_and_given_cpus_set_the_count(cluster_with):
    cluster_with(4.0, 4.0)
    assert place(4, **BATCH) == Placement(4, 1.5, 0.0)
    assert place(None, 2.0, **BATCH) == Placement(4, 2.0, 0.0)
    assert place(3, 1.5, **BATCH) == Placement(3, 1.5, 0.0)


def test_gpus_one_copy_each_unless_turned_off(cluster_with):
    cluster_with(16.0, gpus=2.0)
    assert place(**BATCH) == Placement(2, 1.0, 1.0)
    assert place(None, None, 0, **BATCH) == Placement(1, 15.5, 0.0)
