"""Hyperparameter search for the KNN and decision-tree baselines: k-fold CV of every grid candidate, then a refit.

The same plain functions run in a loop in this process (`parallel=False`) or as one Ray task per
(job, candidate) (`parallel=True`), so both give exactly the same numbers. Ray workers import this module:
keep it, and what it imports, free of TensorFlow.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from imgclf.config import BaselineSettings, json_ready
from imgclf.errors import ConfigError
from imgclf.models.baselines import search_of
from imgclf.training.baselines import cross_validate_baseline, fit_baseline, smallest_training_fold

NO_RAY_MESSAGE = "parallel baseline search needs a running Ray (ray.init)"


@dataclass(frozen=True, eq=False)
class SearchJob:
    """One search: a named (kind, feature matrix, labels), e.g. `knn-pixels`."""

    name: str
    kind: str
    features: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        search_of(self.kind)  # ConfigError for a kind that is not a baseline
        if len(self.features) != len(self.labels):
            raise ConfigError(
                f"search job {self.name!r} needs one label per feature row; "
                f"got {len(self.features)} rows and {len(self.labels)} labels"
            )


@dataclass
class SearchOutcome:
    """The best candidate of one job, its CV scores, every candidate's scores, the refitted estimator and its
    calibration temperature (fitted on out-of-fold probabilities)."""

    name: str
    kind: str
    best: BaselineSettings
    best_params: dict[str, Any]
    cv: dict[str, Any]
    results: list[dict[str, Any]]
    estimator: Any
    temperature: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values, without the estimator."""
        return json_ready(
            {
                "name": self.name,
                "kind": self.kind,
                "best_params": self.best_params,
                "cv": self.cv,
                "results": self.results,
                "best": dataclasses.asdict(self.best),
                "temperature": self.temperature,
            }
        )


def candidates(kind: str, settings: BaselineSettings, max_neighbors: int | None = None) -> list[BaselineSettings]:
    """`settings` once per grid point, in grid order; k above `max_neighbors` is dropped (KNN needs k ≤ rows)."""
    return search_of(kind).candidates(settings, max_neighbors)


def params_of(kind: str, candidate: BaselineSettings) -> dict[str, Any]:
    """The searched parameters of a candidate, in scikit-learn's names."""
    return search_of(kind).params(candidate)


def evaluate_candidate(
    kind: str, candidate: BaselineSettings, seed: int, features: np.ndarray, labels: np.ndarray
) -> dict[str, Any]:
    """Cross-validate one candidate: {"kind", "params", folds, accuracy_mean, ...}."""
    cv = cross_validate_baseline(kind, candidate, seed, features, labels)
    return {"kind": kind, "params": params_of(kind, candidate), **cv}


def best_index(results: Sequence[dict[str, Any]]) -> int:
    """The highest accuracy_mean; the earliest in grid order on ties (None, when CV was impossible, ranks last)."""
    best = 0
    for index, result in enumerate(results):
        if rank(result) > rank(results[best]):
            best = index
    return best


def rank(result: dict[str, Any]) -> float:
    accuracy = result.get("accuracy_mean")
    return float("-inf") if accuracy is None else accuracy


def search(
    jobs: Sequence[SearchJob], settings: BaselineSettings, seed: int, *, parallel: bool
) -> dict[str, SearchOutcome]:
    """Cross-validate every candidate of every job, pick each job's best, refit it on all the job's rows.

    `parallel=True` runs each (job, candidate) evaluation and each refit as a one-CPU Ray task on the Ray
    this process is connected to (it never starts one); `parallel=False` runs the same functions here.
    """
    ray = running_ray() if parallel else None
    names = [job.name for job in jobs]
    if len(set(names)) != len(names):
        raise ConfigError(f"search job names must be unique; got {names}")
    grids = [
        candidates(job.kind, settings, max_neighbors=smallest_training_fold(settings, seed, job.labels)) for job in jobs
    ]
    if ray is None:
        results = [
            [evaluate_candidate(job.kind, candidate, seed, job.features, job.labels) for candidate in grid]
            for job, grid in zip(jobs, grids)
        ]
        bests = [grid[best_index(scores)] for grid, scores in zip(grids, results)]
        fitted = [fit_baseline(job.kind, best, seed, job.features, job.labels) for job, best in zip(jobs, bests)]
    else:
        evaluate_remote, fit_remote = remote_functions()
        data = [(ray.put(job.features), ray.put(job.labels)) for job in jobs]
        pending = [
            [evaluate_remote.remote(job.kind, candidate, seed, *refs) for candidate in grid]
            for job, grid, refs in zip(jobs, grids, data)
        ]
        results = [ray.get(refs) for refs in pending]
        bests = [grid[best_index(scores)] for grid, scores in zip(grids, results)]
        fitted = ray.get(
            [fit_remote.remote(job.kind, best, seed, *refs) for job, best, refs in zip(jobs, bests, data)]
        )
    return {
        job.name: outcome(job, best, scores, *estimator_and_temperature)
        for job, best, scores, estimator_and_temperature in zip(jobs, bests, results, fitted)
    }


def outcome(
    job: SearchJob, best: BaselineSettings, results: list[dict[str, Any]], estimator: Any, temperature: float
) -> SearchOutcome:
    best_scores = results[best_index(results)]
    return SearchOutcome(
        name=job.name,
        kind=job.kind,
        best=best,
        best_params=params_of(job.kind, best),
        cv={key: value for key, value in best_scores.items() if key not in ("kind", "params")},
        results=results,
        estimator=estimator,
        temperature=temperature,
    )


def running_ray() -> Any:
    """The `ray` module, when this process is connected to a Ray cluster; ConfigError otherwise."""
    import ray

    if not ray.is_initialized():
        raise ConfigError(NO_RAY_MESSAGE)
    return ray


@functools.cache
def remote_functions() -> tuple[Any, Any]:
    """`evaluate_candidate` and `fit_baseline` as Ray tasks of one CPU each."""
    import ray

    return ray.remote(num_cpus=1)(evaluate_candidate), ray.remote(num_cpus=1)(fit_baseline)
