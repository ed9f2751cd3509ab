"""Grid candidates, parameters and the sequential hyperparameter search of the baselines (no Ray started)."""

import dataclasses
import json
import re

import numpy as np
import pytest
from sklearn.datasets import load_digits

from imgclf.config import BaselineSettings, TrainSettings
from imgclf.errors import ConfigError
from imgclf.models.baselines import build_decision_tree
from imgclf.training.baseline_search import (
    NO_RAY_MESSAGE,
    SearchJob,
    best_index,
    candidates,
    evaluate_candidate,
    params_of,
    search,
)
from imgclf.training.baselines import cross_validate_baseline, smallest_training_fold

SMALL = BaselineSettings(knn_grid=(1, 3, 5), tree_depth_grid=(3, None), tree_criterion_grid=("gini",))


@pytest.fixture(scope="module")
def digits_features():
    digits = load_digits()
    return digits.data[:300].astype(np.float32) / 16.0, digits.target[:300]


@pytest.fixture(scope="module")
def searched(digits_features, seed):
    features, labels = digits_features
    jobs = [SearchJob("knn-pixels", "knn", features, labels), SearchJob("dt-pixels", "dt", features, labels)]
    return search(jobs, SMALL, seed, parallel=False)


def separable(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two far-apart clusters: every candidate scores 1.0."""
    rng = np.random.default_rng(seed)
    features = np.concatenate([rng.normal(0, 0.1, (20, 3)), rng.normal(10, 0.1, (20, 3))])
    return features, np.array([0] * 20 + [1] * 20)


def test_knn_candidates_follow_the_grid():
    settings = BaselineSettings()
    found = candidates("knn", settings)
    assert [c.knn_neighbors for c in found] == list(settings.knn_grid) == [1, 3, 5, 7, 9, 15]
    assert all(dataclasses.replace(c, knn_neighbors=settings.knn_neighbors) == settings for c in found)


def test_tree_candidates_are_the_product_of_depths_and_criteria():
    found = candidates("dt", BaselineSettings())
    assert [(c.tree_max_depth, c.tree_criterion) for c in found] == [
        (5, "gini"), (5, "entropy"), (10, "gini"), (10, "entropy"),
        (20, "gini"), (20, "entropy"), (None, "gini"), (None, "entropy"),
    ]


def test_max_neighbors_drops_too_large_k():
    assert [c.knn_neighbors for c in candidates("knn", BaselineSettings(), max_neighbors=8)] == [1, 3, 5, 7]
    assert len(candidates("dt", BaselineSettings(), max_neighbors=1)) == 8


def test_no_k_left_is_a_config_error():
    with pytest.raises(ConfigError, match=r"^knn_grid must hold a k of at most 2"):
        candidates("knn", BaselineSettings(knn_grid=(3, 5)), max_neighbors=2)


@pytest.mark.parametrize("call", [lambda: candidates("svm", BaselineSettings()), lambda: params_of("svm", SMALL)])
def test_unknown_kind_is_a_config_error(call):
    with pytest.raises(ConfigError, match=r"^kind must be one of knn, dt; got 'svm'"):
        call()


def test_params_of():
    assert params_of("knn", BaselineSettings(knn_neighbors=5)) == {"n_neighbors": 5}
    tree = BaselineSettings(tree_max_depth=None, tree_criterion="entropy")
    assert params_of("dt", tree) == {"max_depth": None, "criterion": "entropy"}
    assert json.loads(json.dumps(params_of("dt", tree))) == params_of("dt", tree)


def test_evaluate_candidate_is_cross_validation_with_its_params(digits_features):
    features, labels = digits_features
    candidate = BaselineSettings(knn_neighbors=3)
    result = evaluate_candidate("knn", candidate, 42, features, labels)
    assert result == {"kind": "knn", "params": {"n_neighbors": 3}} | cross_validate_baseline(
        "knn", candidate, 42, features, labels
    )


def test_search_picks_the_best_accuracy_and_refits_it(searched, digits_features):
    features, labels = digits_features
    knn, tree = searched["knn-pixels"], searched["dt-pixels"]
    assert [r["params"] for r in knn.results] == [{"n_neighbors": k} for k in (1, 3, 5)]
    assert [r["params"] for r in tree.results] == [
        {"max_depth": 3, "criterion": "gini"}, {"max_depth": None, "criterion": "gini"}
    ]
    for outcome in (knn, tree):
        means = [r["accuracy_mean"] for r in outcome.results]
        assert outcome.cv["accuracy_mean"] == max(means)
        assert outcome.results[means.index(max(means))]["params"] == outcome.best_params
        assert params_of(outcome.kind, outcome.best) == outcome.best_params
        assert len(outcome.cv["accuracy_per_fold"]) == 5
        assert (outcome.estimator.predict(features) == labels).mean() > 0.9
    assert knn.estimator.named_steps["knn"].n_neighbors == knn.best_params["n_neighbors"]
    assert tree.estimator.named_steps["tree"].max_depth == tree.best_params["max_depth"]


def test_outcome_to_dict_is_json_ready_without_the_estimator(searched):
    values = searched["dt-pixels"].to_dict()
    assert json.loads(json.dumps(values)) == values
    assert "estimator" not in values
    assert set(values) == {"name", "kind", "best_params", "cv", "results", "best", "temperature"}
    assert values["temperature"] > 0
    assert values["best"]["tree_max_depth"] == values["best_params"]["max_depth"]


def test_search_is_deterministic(searched, digits_features, seed):
    features, labels = digits_features
    again = search([SearchJob("dt-pixels", "dt", features, labels)], SMALL, seed, parallel=False)["dt-pixels"]
    assert again.results == searched["dt-pixels"].results
    np.testing.assert_array_equal(
        again.estimator.predict_proba(features), searched["dt-pixels"].estimator.predict_proba(features)
    )


@pytest.mark.parametrize("grid", [(1, 3, 5), (5, 3, 1), (3, 1, 5)])
def test_ties_go_to_the_first_in_grid_order(grid):
    features, labels = separable(0)
    settings = BaselineSettings(knn_grid=grid)
    outcome = search([SearchJob("knn", "knn", features, labels)], settings, 0, parallel=False)["knn"]
    assert [r["accuracy_mean"] for r in outcome.results] == [1.0, 1.0, 1.0]
    assert outcome.best_params == {"n_neighbors": grid[0]}


def test_best_index_ranks_missing_scores_last():
    assert best_index([{"accuracy_mean": None}, {"accuracy_mean": 0.5}, {"accuracy_mean": 0.5}]) == 1
    assert best_index([{"accuracy_mean": None}, {"accuracy_mean": None}]) == 0


def test_search_drops_k_above_the_smallest_training_fold():
    features, labels = separable(1)
    settings = BaselineSettings(knn_grid=(1, 32, 33))
    assert smallest_training_fold(settings, 0, labels) == 32
    outcome = search([SearchJob("knn", "knn", features, labels)], settings, 0, parallel=False)["knn"]
    assert [r["params"]["n_neighbors"] for r in outcome.results] == [1, 32]


def test_job_names_must_be_unique(digits_features):
    features, labels = digits_features
    jobs = [SearchJob("same", "knn", features, labels), SearchJob("same", "dt", features, labels)]
    with pytest.raises(ConfigError, match="unique"):
        search(jobs, SMALL, 0, parallel=False)


def test_job_needs_one_label_per_row():
    with pytest.raises(ConfigError, match="one label per feature row"):
        SearchJob("knn", "knn", np.zeros((3, 2)), np.zeros(2, dtype=np.int64))


def test_parallel_search_without_ray_is_a_config_error(digits_features, monkeypatch):
    import ray

    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a process where Ray never started
    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("the search must not start Ray itself"))
    features, labels = digits_features
    with pytest.raises(ConfigError, match=rf"^{re.escape(NO_RAY_MESSAGE)}$"):
        search([SearchJob("knn", "knn", features, labels)], SMALL, 0, parallel=True)


def test_tree_uses_the_configured_criterion():
    assert build_decision_tree(BaselineSettings(tree_criterion="entropy"), 0).named_steps["tree"].criterion == "entropy"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"tree_criterion": "gain"}, r"^tree_criterion must be one of gini, entropy, log_loss; got 'gain'"),
        ({"knn_grid": ()}, r"^knn_grid must be a non-empty list"),
        ({"knn_grid": "15"}, r"^knn_grid must be a non-empty list"),
        ({"knn_grid": (1, 0)}, r"^knn_grid values must be an integer in \[1, 1000\]; got 0"),
        ({"knn_grid": (3, 3)}, r"^knn_grid must not repeat a value"),
        ({"tree_depth_grid": (5, 0)}, r"^tree_depth_grid values must be an integer in \[1, 1000\]; got 0"),
        ({"tree_depth_grid": []}, r"^tree_depth_grid must be a non-empty list"),
        ({"tree_criterion_grid": ("gini", "gain")}, r"^tree_criterion_grid values must be one of gini, entropy"),
    ],
)
def test_search_settings_are_validated(values, message):
    with pytest.raises(ConfigError, match=message):
        BaselineSettings(**values)


def test_search_settings_from_yaml_lists_and_back_to_json():
    settings = TrainSettings.from_mapping(
        {"data_dir": "d", "baselines": {"knn_grid": [1, 3], "tree_depth_grid": [4, None], "tree_criterion": "log_loss"}}
    )
    assert settings.baselines.knn_grid == (1, 3)
    assert settings.baselines.tree_depth_grid == (4, None)
    values = settings.to_dict()
    assert json.loads(json.dumps(values)) == values
    assert values["baselines"]["tree_depth_grid"] == [4, None]
    assert values["baselines"]["tree_criterion_grid"] == ["gini", "entropy"]
    assert TrainSettings.from_mapping(values) == settings


def test_list_grids_become_tuples():
    assert BaselineSettings(knn_grid=[1, 3]).knn_grid == (1, 3)
