"""A training run's report pieces: the search table of the baselines, and McNemar's test against the first model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from imgclf.evaluation.evaluate import METRICS_FILE
from imgclf.evaluation.report import ModelScore
from imgclf.evaluation.run_report import RegisteredModel, compare_with_first, search_table


def candidate(k: int, mean: float | None) -> dict:
    return {"params": {"n_neighbors": k}, "accuracy_mean": mean, "accuracy_std": None if mean is None else 0.01}


def test_the_search_table_has_a_row_per_candidate_the_chosen_one_in_bold() -> None:
    metrics = {
        "digits-vgg16": {"search": None},
        "digits-knn-pixels": {"search": {"best_params": {"n_neighbors": 3},
                                         "results": [candidate(1, 0.9), candidate(3, 0.95), candidate(5, None)]}},
    }

    assert search_table(metrics).splitlines()[2:] == [
        "| digits-knn-pixels | n_neighbors=1 | 0.9000 ± 0.0100 |",
        "| digits-knn-pixels | **n_neighbors=3** | 0.9500 ± 0.0100 |",
        "| digits-knn-pixels | n_neighbors=5 | — |",
    ]
    assert search_table({"digits-vgg16": {}}) == "No baselines in this run."


def registered(folder: Path, name: str, predictions: list[int]) -> RegisteredModel:
    folder.mkdir()
    (folder / METRICS_FILE).write_text(json.dumps({"predictions": predictions}))
    return RegisteredModel(name, "1", ModelScore(name, 0.5, 0.5, 0.5, 0.5, None, 1.0), folder)


def test_every_model_after_the_first_is_compared_with_the_first(tmp_path: Path) -> None:
    labels = np.array([0, 1] * 20)
    first = registered(tmp_path / "a", "a", labels.tolist())
    second = registered(tmp_path / "b", "b", [0] * 40)  # right on half of them only

    compare_with_first([first, second], labels)

    assert first.score.versus is None
    assert second.score.versus["reference"] == "a" and second.score.versus["significant"]
