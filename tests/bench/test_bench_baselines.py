"""The baselines section's arithmetic: parallel ÷ the mean of the sequential searches, against its target."""

from __future__ import annotations

from bench.baselines import search_timings


def test_the_parallel_search_is_set_against_the_mean_of_the_sequential_runs_either_side() -> None:
    assert search_timings(10.0, 6.0, 14.0) == {
        "sequential_s": 12.0, "sequential_runs_s": [10.0, 14.0], "parallel_s": 6.0, "ratio": 0.5,
        "target_max_ratio": 0.65, "meets_target": True,
    }


def test_the_search_target_just_met_and_just_missed() -> None:
    assert search_timings(20.0, 13.0, 20.0)["meets_target"]  # 13 ÷ 20 = 0.65
    assert not search_timings(20.0, 13.001, 20.0)["meets_target"]
