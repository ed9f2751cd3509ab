"""The baseline search as concurrent Ray tasks on a real local Ray: exactly the numbers of the sequential search."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pytest
from sklearn.datasets import load_digits

from imgclf.config import BaselineSettings
from imgclf.training import baseline_search
from imgclf.training.baseline_search import SearchJob, search

pytestmark = pytest.mark.slow

SETTINGS = BaselineSettings(knn_grid=(1, 3, 5, 9), tree_depth_grid=(5, None), tree_criterion_grid=("gini", "entropy"))


@pytest.fixture(scope="module")
def digits_jobs() -> list[SearchJob]:
    digits = load_digits()
    features, labels = digits.data[:400].astype(np.float32) / 16.0, digits.target[:400]
    return [SearchJob("knn-pixels", "knn", features, labels), SearchJob("dt-pixels", "dt", features, labels)]


def test_parallel_search_gives_exactly_the_sequential_numbers(ray_cluster, digits_jobs, seed):
    sequential = search(digits_jobs, SETTINGS, seed, parallel=False)
    parallel = search(digits_jobs, SETTINGS, seed, parallel=True)

    assert list(parallel) == list(sequential) == ["knn-pixels", "dt-pixels"]
    features = digits_jobs[0].features
    for name, expected in sequential.items():
        got = parallel[name]
        assert len(got.results) == {"knn-pixels": 4, "dt-pixels": 4}[name]
        for mine, theirs in zip(got.results, expected.results, strict=True):
            assert mine["params"] == theirs["params"]
            assert mine["accuracy_per_fold"] == theirs["accuracy_per_fold"]
        assert got.results == expected.results
        assert got.best == expected.best and got.best_params == expected.best_params
        assert got.to_dict() == expected.to_dict()
        np.testing.assert_array_equal(got.estimator.predict_proba(features), expected.estimator.predict_proba(features))


@pytest.fixture
def fresh_remote_functions() -> Iterator[None]:
    """baseline_search.remote_functions() built anew from the real functions before the test patches the module's
    names (the Ray tasks keep what they were built from), and dropped after: its process-wide cache keeps nothing."""
    baseline_search.remote_functions.cache_clear()
    baseline_search.remote_functions()
    yield
    baseline_search.remote_functions.cache_clear()


def test_candidates_run_in_ray_workers_not_in_the_driver(ray_cluster, digits_jobs, fresh_remote_functions,
                                                         monkeypatch):
    """With the driver's own CV and fit made to fail, the parallel search still succeeds: workers did the work."""

    def not_here(*args, **kwargs):
        raise AssertionError("ran in the driver process")

    monkeypatch.setattr(baseline_search, "cross_validate_baseline", not_here)
    monkeypatch.setattr(baseline_search, "fit_baseline", not_here)
    with pytest.raises(AssertionError, match="driver"):
        search(digits_jobs[:1], SETTINGS, 42, parallel=False)

    outcomes = search(digits_jobs, SETTINGS, 42, parallel=True)

    assert {name: len(outcome.results) for name, outcome in outcomes.items()} == {"knn-pixels": 4, "dt-pixels": 4}
    assert all(outcome.estimator is not None for outcome in outcomes.values())
