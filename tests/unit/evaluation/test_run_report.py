"""A training run's report pieces: the search table of the baselines, and McNemar's test against the first model."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from imgclf.evaluation.evaluate import METRICS_FILE
from imgclf.evaluation.report import ModelScore
from imgclf.evaluation.run_report import RegisteredModel, compare_with_first, data_section, search_table


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


def test_the_data_section_names_every_root_the_duplicates_and_the_kept_split(tmp_path: Path) -> None:
    report = {"images": 270, "manifest_digest": "abc", "roots": [{"path": "digits", "images": 244},
                                                               {"path": "fixes", "images": 26}],
              "classes_only_in_later_roots": {"ten": ["fixes"]}, "duplicates": {"count": 8, "label_conflicts": 6},
              "previous_split": {"version": "m:1", "test_files": 40, "test_files_found": 39}}
    data = SimpleNamespace(root=Path("digits"), classes=tuple("0123456789") + ("ten",))

    assert data_section(report, data).splitlines() == [
        "270 images, 11 classes, manifest `abc`, from:",
        "- `digits`: 244 images",
        "- `fixes`: 26 images",
        "- class `ten` is in no folder but the later `fixes`",
        "- 8 files with the same bytes as another counted once (6 with another label: the label of the later "
        "folder, or within one folder of the newer file, kept); listed in data_report.json",
        "- the split of `m:1` kept: 39 of its 40 test files found, and kept in the test split",
    ]


def test_one_roots_data_section_is_one_line() -> None:
    report = {"images": 250, "manifest_digest": "abc", "roots": [{"path": "digits", "images": 250}],
              "classes_only_in_later_roots": {}, "duplicates": {"count": 0, "label_conflicts": 0},
              "previous_split": None}

    assert data_section(report, SimpleNamespace(root=Path("digits"), classes=("a", "b"))) == (
        "`digits`: 250 images, 2 classes, manifest `abc`.")
