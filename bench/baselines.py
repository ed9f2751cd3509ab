"""`baselines` section: the KNN + decision-tree hyperparameter search, sequential vs concurrent Ray tasks.

Both searches run in this one process on the same digits pixel features (train+val rows), measured side
by side: sequential, parallel, sequential again; the ratio uses the mean of the two sequential runs so
drift on a shared machine hits both sides alike. Ray's workers are warmed up first (a small parallel
search) so the figure compares steady states, not worker start-up.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.cluster import section_cluster
from bench.data import digits_folder
from imgclf.config import BaselineSettings, DecodeLimits, SplitSettings
from imgclf.data.dataset import prepare_dataset
from imgclf.models.features import PixelFeatures
from imgclf.runtime import cpu_count
from imgclf.training.baseline_search import SearchJob, SearchOutcome, search

TARGET_MAX_RATIO = 0.65
IMAGE_SIZE = 32
SEED = 42
WARM_UP_ROWS = 200


def digits_search_jobs(bench_dir: Path, settings: BaselineSettings) -> list[SearchJob]:
    """knn-pixels and dt-pixels jobs over the digits train+val rows (digits written to bench_dir once)."""
    data = prepare_dataset(digits_folder(bench_dir), image_size=IMAGE_SIZE, split=SplitSettings(), limits=DecodeLimits(), progress=False)
    images, labels = data.split("train", "val")
    features = PixelFeatures(settings.pixel_size).transform(images)
    return [SearchJob(f"{kind}-pixels", kind, features, labels) for kind in ("knn", "dt")]


def timed_search(jobs: list[SearchJob], settings: BaselineSettings, *, parallel: bool) -> tuple[float, dict]:
    started = time.perf_counter()
    outcomes = search(jobs, settings, SEED, parallel=parallel)
    return time.perf_counter() - started, outcomes


def same_numbers(first: dict[str, SearchOutcome], second: dict[str, SearchOutcome], jobs: list[SearchJob]) -> bool:
    """Identical CV results, best candidates and refitted probabilities."""
    return all(
        first[job.name].to_dict() == second[job.name].to_dict()
        and np.array_equal(
            first[job.name].estimator.predict_proba(job.features), second[job.name].estimator.predict_proba(job.features)
        )
        for job in jobs
    )


def run(bench_dir: Path, **_: Any) -> dict[str, Any]:
    import ray

    settings = BaselineSettings()
    jobs = digits_search_jobs(bench_dir, settings)
    cpus = cpu_count()
    with section_cluster():
        cpus = int(ray.cluster_resources().get("CPU", cpus))
        warm_up = [SearchJob(job.name, job.kind, job.features[:WARM_UP_ROWS], job.labels[:WARM_UP_ROWS]) for job in jobs]
        search(warm_up, settings, SEED, parallel=True)
        first_s, sequential = timed_search(jobs, settings, parallel=False)
        parallel_s, parallel = timed_search(jobs, settings, parallel=True)
        second_s, _ = timed_search(jobs, settings, parallel=False)
    return {
        **search_timings(first_s, parallel_s, second_s),
        "cpus": cpus,
        "rows": len(jobs[0].labels),
        "features": int(jobs[0].features.shape[1]),
        "candidates": {name: len(outcome.results) for name, outcome in sequential.items()},
        "best_params": {name: outcome.best_params for name, outcome in sequential.items()},
        "identical_results": same_numbers(sequential, parallel, jobs),
    }


def search_timings(first_s: float, parallel_s: float, second_s: float) -> dict[str, Any]:
    """Parallel ÷ the mean of the sequential runs either side of it, against the target."""
    sequential_s = statistics.mean((first_s, second_s))
    ratio = parallel_s / sequential_s
    return {
        "sequential_s": sequential_s,
        "sequential_runs_s": [first_s, second_s],
        "parallel_s": parallel_s,
        "ratio": ratio,
        "target_max_ratio": TARGET_MAX_RATIO,
        "meets_target": ratio <= TARGET_MAX_RATIO,
    }


def rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(measure, value) lines for the printed table."""
    return [
        ("KNN + tree search, 5-fold CV, sequential s", f"{result['sequential_s']:.2f}"),
        (f"KNN + tree search, Ray tasks on {result['cpus']} CPUs, s", f"{result['parallel_s']:.2f}"),
        (f"parallel ÷ sequential (target ≤ {result['target_max_ratio']})", f"{result['ratio']:.2f}×"),
        ("parallel gives the sequential numbers", "yes" if result["identical_results"] else "NO"),
        ("meets target", "yes" if result["meets_target"] else "NO"),
    ]
