"""The batch section's arithmetic: steady state and fixed start-up from timed jobs, the ratios and the targets."""

from __future__ import annotations

from typing import Any

MEMORY_FACTOR = 10  # the memory run's larger folder holds this many times the smaller one's images
TARGET_BATCH_OVER_BARE = 0.9
TARGET_MAX_FIXED_S = 15.0
TARGET_BATCH_OVER_NAIVE = 1.0
TARGET_MAX_PEAK_RSS_RATIO = 1.25


def steady_images_per_s(images: int, small: int, small_s: float, warm_s: float) -> float | None:
    """(N − small) ÷ the time difference of the two warm jobs: the per-image rate without the fixed start-up
    (None when the jobs differ in no images or the larger one was not the slower)."""
    return (images - small) / (warm_s - small_s) if images > small and warm_s > small_s else None


def fixed_start_up_s(job_s: float, images: int, steady: float | None) -> float | None:
    """A job's time less its images at the steady rate."""
    return job_s - images / steady if steady else None


def steady_state_consistent(steady: float | None, images: int, batch_s: float, small: int, small_s: float) -> bool:
    """Whether neither job's fixed start-up comes out negative. A negative one means the machine's other load
    drifted between the two warm jobs: the steady state is then not trustworthy (likely with few images: the
    difference is then small)."""
    return bool(steady) and batch_s >= images / steady and small_s >= small / steady


def speed_ratios(images: int, bare: float, batch_s: float, naive_s: float,
                 steady: float | None) -> dict[str, float | None]:
    """The batch job end to end ÷ the bare model and ÷ the naive script, and its steady state ÷ the bare model."""
    return {
        "batch_over_bare": images / batch_s / bare,
        "batch_over_naive": naive_s / batch_s,
        "steady_state_over_bare": steady / bare if steady else None,
    }


def peak_rss_ratio(runs: dict[str, dict[str, float]]) -> float:
    """The MEMORY_FACTOR× run's peak tree RSS ÷ the 1× run's."""
    return runs[f"{MEMORY_FACTOR}x"]["peak_rss_mib"] / runs["1x"]["peak_rss_mib"]


def meets_targets(speed: dict[str, Any], memory: dict[str, Any]) -> dict[str, bool]:
    """Each target met or not; a cold fixed start-up that could not be taken misses its target."""
    return {
        "batch_over_bare": speed["batch_over_bare"] >= TARGET_BATCH_OVER_BARE,
        "batch_over_naive": speed["batch_over_naive"] >= TARGET_BATCH_OVER_NAIVE,
        "fixed_start_up_s": (speed["seconds"]["batch_job_fixed_cold"] or float("inf")) <= TARGET_MAX_FIXED_S,
        "peak_rss_10x_over_1x": memory["peak_rss_10x_over_1x"] <= TARGET_MAX_PEAK_RSS_RATIO,
    }
