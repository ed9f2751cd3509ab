"""The batch section's arithmetic: the steady-state rate of the two warm jobs, each job's fixed start-up at that
rate, the ratios against the bare model and the naive script, the memory ratio and the targets."""

from __future__ import annotations

import math

from bench.batch_ratios import (
    MEMORY_FACTOR,
    TARGET_BATCH_OVER_BARE,
    TARGET_BATCH_OVER_NAIVE,
    TARGET_MAX_FIXED_S,
    TARGET_MAX_PEAK_RSS_RATIO,
    fixed_start_up_s,
    meets_targets,
    peak_rss_ratio,
    speed_ratios,
    steady_images_per_s,
    steady_state_consistent,
)


def test_the_steady_rate_is_the_extra_images_over_the_extra_time() -> None:
    assert steady_images_per_s(1000, 32, 40.0, 524.0) == 2.0  # 968 images in 484 s


def test_no_steady_rate_without_extra_images_or_extra_time() -> None:
    assert steady_images_per_s(32, 32, 40.0, 41.0) is None
    assert steady_images_per_s(1000, 32, 40.0, 40.0) is None
    assert steady_images_per_s(1000, 32, 40.0, 39.0) is None


def test_a_jobs_fixed_start_up_is_its_time_less_its_images_at_the_steady_rate() -> None:
    assert fixed_start_up_s(530.0, 1000, 2.0) == 30.0
    assert fixed_start_up_s(40.0, 32, 2.0) == 24.0
    assert fixed_start_up_s(490.0, 1000, 2.0) == -10.0
    assert fixed_start_up_s(530.0, 1000, None) is None


def test_the_steady_state_is_consistent_while_neither_fixed_start_up_is_negative() -> None:
    assert steady_state_consistent(2.0, 1000, 530.0, 32, 40.0)
    assert steady_state_consistent(2.0, 1000, 500.0, 32, 16.0)  # both exactly 0 s
    assert not steady_state_consistent(2.0, 1000, 499.5, 32, 40.0)
    assert not steady_state_consistent(2.0, 1000, 530.0, 32, 15.5)
    assert not steady_state_consistent(None, 1000, 530.0, 32, 40.0)


def test_the_batch_job_against_the_bare_model_and_the_naive_script() -> None:
    assert speed_ratios(1000, 2.5, 500.0, 600.0, 2.0) == {
        "batch_over_bare": 0.8, "batch_over_naive": 1.2, "steady_state_over_bare": 0.8}
    assert speed_ratios(1000, 2.5, 500.0, 600.0, None)["steady_state_over_bare"] is None


def test_the_memory_ratio_is_the_larger_runs_peak_over_the_smaller_runs() -> None:
    runs = {"1x": {"peak_rss_mib": 800.0}, f"{MEMORY_FACTOR}x": {"peak_rss_mib": 1000.0}}
    assert peak_rss_ratio(runs) == 1.25


def figures(batch_over_bare: float, batch_over_naive: float, fixed_cold_s: float | None,
            peak_ratio: float) -> tuple[dict, dict]:
    speed = {"batch_over_bare": batch_over_bare, "batch_over_naive": batch_over_naive,
             "seconds": {"batch_job_fixed_cold": fixed_cold_s}}
    return speed, {"peak_rss_10x_over_1x": peak_ratio}


def test_targets_just_met() -> None:
    meets = meets_targets(*figures(TARGET_BATCH_OVER_BARE, TARGET_BATCH_OVER_NAIVE, TARGET_MAX_FIXED_S,
                                   TARGET_MAX_PEAK_RSS_RATIO))
    assert meets == {"batch_over_bare": True, "batch_over_naive": True, "fixed_start_up_s": True,
                     "peak_rss_10x_over_1x": True}


def test_targets_just_missed() -> None:
    meets = meets_targets(*figures(math.nextafter(TARGET_BATCH_OVER_BARE, 0), math.nextafter(TARGET_BATCH_OVER_NAIVE, 0),
                                   math.nextafter(TARGET_MAX_FIXED_S, math.inf),
                                   math.nextafter(TARGET_MAX_PEAK_RSS_RATIO, math.inf)))
    assert meets == {"batch_over_bare": False, "batch_over_naive": False, "fixed_start_up_s": False,
                     "peak_rss_10x_over_1x": False}


def test_a_fixed_start_up_that_could_not_be_taken_misses_its_target() -> None:
    assert not meets_targets(*figures(1.0, 1.0, None, 1.0))["fixed_start_up_s"]
