"""Each plot writes a readable, non-empty PNG at the path it returns."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from imgclf.evaluation.metrics import classification_metrics
from imgclf.evaluation.plots import plot_confusion_matrix, plot_roc, plot_training_curves

LABELS = ("cat", "dog", "bird")


def assert_png(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 0
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width > 0 and image.height > 0


@pytest.fixture(autouse=True)
def no_figures_left_open():
    yield
    assert plt.get_fignums() == []


def test_confusion_matrix_png(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "confusion.png"
    path = plot_confusion_matrix([[5, 1, 0], [2, 7, 1], [0, 0, 9]], LABELS, target, title="Confusion")
    assert path == target
    assert_png(path)


def test_roc_png_skips_classes_without_curve(tmp_path: Path) -> None:
    y_true = np.array([0, 0, 1, 1, 0, 1])
    probabilities = np.random.default_rng(42).dirichlet(np.ones(3), size=len(y_true))
    roc = classification_metrics(y_true, probabilities, LABELS)["roc"]
    assert roc["per_class"]["bird"]["fpr"] == []
    path = plot_roc(roc, str(tmp_path / "roc.png"), title="ROC")
    assert isinstance(path, Path)
    assert_png(path)


@pytest.mark.parametrize(
    "history",
    [
        {
            "loss": [0.9, 0.5, 0.3],
            "val_loss": [1.0, 0.6, 0.5],
            "accuracy": [0.6, 0.8, 0.9],
            "val_accuracy": [0.5, 0.7, 0.8],
        },
        {"loss": [0.9, 0.5]},
        {},
    ],
    ids=["full", "loss-only", "empty"],
)
def test_training_curves_png(tmp_path: Path, history: dict) -> None:
    path = plot_training_curves(history, tmp_path / "curves.png", title="Training")
    assert_png(path)
