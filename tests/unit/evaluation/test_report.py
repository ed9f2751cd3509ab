"""Score rows, the Markdown comparison table and report.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imgclf.evaluation.report import ModelScore, comparison_table, write_report

HEADER = "| Model | Accuracy | Precision | Recall | F1 | ROC AUC | ms/image | 5-fold CV accuracy |"

METRICS = {
    "accuracy": 0.95,
    "macro_avg": {"precision": 0.94, "recall": 0.93, "f1": 0.935, "support": 100},
    "roc": {"auc": 0.99, "average": "macro-ovr", "per_class": {}},
}
TIMING = {"single_ms": 12.3456, "batch_ms_per_image": 1.5, "batch_size": 32}


@pytest.fixture
def vgg() -> ModelScore:
    cv = {"accuracy_mean": 0.97123, "accuracy_std": 0.00814}
    return ModelScore.from_metrics("vgg16", METRICS, TIMING, cv)


@pytest.fixture
def knn() -> ModelScore:
    no_auc = {**METRICS, "roc": {**METRICS["roc"], "auc": None}}
    return ModelScore.from_metrics("knn", no_auc, TIMING, None)


def test_from_metrics_takes_macro_scores_and_single_latency(vgg: ModelScore) -> None:
    assert vgg == ModelScore(
        model="vgg16",
        accuracy=0.95,
        precision=0.94,
        recall=0.93,
        f1=0.935,
        roc_auc=0.99,
        ms_per_image=12.3456,
        cv_accuracy_mean=0.97123,
        cv_accuracy_std=0.00814,
    )


def test_to_dict_is_json_ready(knn: ModelScore) -> None:
    data = knn.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["roc_auc"] is None and data["cv_accuracy_mean"] is None
    assert data["model"] == "knn"


def test_table_header_and_rows(vgg: ModelScore, knn: ModelScore) -> None:
    lines = comparison_table([vgg, knn]).splitlines()
    assert lines[0] == HEADER
    assert lines[1].count("---") == 8
    assert lines[2] == "| vgg16 | 0.9500 | 0.9400 | 0.9300 | 0.9350 | 0.9900 | 12.35 | 0.9712 ± 0.0081 |"
    assert lines[3] == "| knn | 0.9500 | 0.9400 | 0.9300 | 0.9350 | — | 12.35 | — |"


def test_table_cv_header_follows_fold_count(vgg: ModelScore) -> None:
    header = comparison_table([vgg], cv_folds=3).splitlines()[0]
    assert header.endswith("| 3-fold CV accuracy |")
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
