"""Score rows, the Markdown comparison table and report.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imgclf.evaluation.report import ModelScore, comparison_table, write_report

HEADER = ("| Model | Accuracy [95% CI] | Precision | Recall | F1 | ROC AUC | ECE (raw → calibrated) | ms/image "
          "| 5-fold CV accuracy | McNemar p vs vgg16 |")

METRICS = {
    "accuracy": 0.95,
    "macro_avg": {"precision": 0.94, "recall": 0.93, "f1": 0.935, "support": 100},
    "roc": {"auc": 0.99, "average": "macro-ovr", "per_class": {}},
}
TIMING = {"single_ms": 12.3456, "batch_ms_per_image": 1.5, "batch_size": 32}


@pytest.fixture
def vgg() -> ModelScore:
    cv = {"accuracy_mean": 0.97123, "accuracy_std": 0.00814}
    calibration = {"temperature": 1.7, "before": {"ece": 0.0712}, "after": {"ece": 0.0123}}
    test = {**METRICS, "accuracy_ci95": [0.91, 0.98]}
    return ModelScore.from_metrics("vgg16", {"test": test, "timing": TIMING, "cv": cv, "calibration": calibration})


@pytest.fixture
def knn() -> ModelScore:
    no_auc = {**METRICS, "roc": {**METRICS["roc"], "auc": None}}
    score = ModelScore.from_metrics("knn", {"test": no_auc, "timing": TIMING, "cv": None})
    return score.compared_with("vgg16", {"only_first_correct": 1, "only_second_correct": 9, "p_value": 0.0215,
                                         "significant": True})


def test_from_metrics_takes_macro_scores_and_single_latency(vgg: ModelScore) -> None:
    assert vgg == ModelScore(
        model="vgg16",
        accuracy=0.95,
        precision=0.94,
        recall=0.93,
        f1=0.935,
        roc_auc=0.99,
        ms_per_image=12.3456,
        accuracy_ci95=(0.91, 0.98),
        ece_uncalibrated=0.0712,
        ece=0.0123,
        cv_accuracy_mean=0.97123,
        cv_accuracy_std=0.00814,
    )


def test_to_dict_is_json_ready(knn: ModelScore) -> None:
    data = knn.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["roc_auc"] is None and data["cv_accuracy_mean"] is None
    assert data["model"] == "knn"
    assert data["versus"] == {"reference": "vgg16", "only_first_correct": 1, "only_second_correct": 9,
                              "p_value": 0.0215, "significant": True}


def test_table_header_and_rows(vgg: ModelScore, knn: ModelScore) -> None:
    lines = comparison_table([vgg, knn]).splitlines()
    assert lines[0] == HEADER
    assert lines[1].count("---") == 10
    assert lines[2] == ("| vgg16 | 0.9500 [0.910, 0.980] | 0.9400 | 0.9300 | 0.9350 | 0.9900 | 0.0712 → 0.0123 | 12.35 "
                        "| 0.9712 ± 0.0081 | — |")
    assert lines[3] == "| knn | 0.9500 | 0.9400 | 0.9300 | 0.9350 | — | — | 12.35 | — | **0.0215** |"


def test_a_difference_that_is_not_significant_is_not_bold(knn: ModelScore) -> None:
    plain = knn.compared_with("vgg16", {"p_value": 0.5, "significant": False})
    assert comparison_table([plain]).splitlines()[2].endswith("| 0.5 |")


def test_table_cv_header_follows_fold_count(vgg: ModelScore) -> None:
    header = comparison_table([vgg], cv_folds=3).splitlines()[0]
    assert header.endswith("| 3-fold CV accuracy | McNemar p vs reference |")
    assert "5-fold" not in header


def test_write_report_sections_in_order(tmp_path: Path, vgg: ModelScore, knn: ModelScore) -> None:
    sections = {"Confusion matrices": "![vgg16](vgg16/confusion.png)", "Notes": "Trained on CPU."}
    path = write_report(tmp_path / "out" / "report.md", title="Flowers", scores=[vgg, knn], sections=sections)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Flowers\n")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == ["## Comparison", "## Confusion matrices", "## Notes"]
    assert HEADER in text
    assert text.index("![vgg16](vgg16/confusion.png)") < text.index("Trained on CPU.")
    assert text.index(HEADER) < text.index("## Confusion matrices")


def test_write_report_without_sections(tmp_path: Path, vgg: ModelScore) -> None:
    path = write_report(tmp_path / "report.md", title="T", scores=[vgg], cv_folds=10)
    text = path.read_text(encoding="utf-8")
    assert [line for line in text.splitlines() if line.startswith("## ")] == ["## Comparison"]
    assert "10-fold CV accuracy" in text
