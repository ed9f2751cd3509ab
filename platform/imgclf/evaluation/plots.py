"""PNG figures for a model's evaluation: confusion matrix, ROC curves, reliability diagram and training curves."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

CURVE_PANELS = (("loss", "Loss"), ("accuracy", "Accuracy"))


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path, *, title: str
) -> Path:
    """Heat map of counts (rows = true, columns = predicted), each cell annotated."""
    counts = np.asarray(matrix, dtype=int)
    size = max(4.0, 0.6 * len(labels) + 2.0)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ticks = range(len(labels))
    ax.set_xticks(ticks, labels, rotation=45, ha="right")
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    ax.set_title(title)
    threshold = counts.max() / 2 if counts.size else 0
    for (row, col), count in np.ndenumerate(counts):
        colour = "white" if count > threshold else "black"
        ax.text(col, row, str(count), ha="center", va="center", color=colour)
    return _save(fig, path)


def plot_roc(roc: dict, path: str | Path, *, title: str) -> Path:
    """One-vs-rest ROC curve per class with its AUC in the legend, plus the chance diagonal."""
    fig, ax = plt.subplots(figsize=(6, 6))
    for label, curve in roc["per_class"].items():
        if not curve["fpr"]:
            continue
        ax.plot(curve["fpr"], curve["tpr"], label=f"{label} (AUC = {curve['auc']:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="Chance")
    _unit_square(ax, "False positive rate", "True positive rate", title, legend="lower right")
    return _save(fig, path)


def plot_reliability(calibration: Mapping, path: str | Path, *, title: str) -> Path:
    """Accuracy against mean confidence per confidence bin, before and after temperature scaling, with ECE."""
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="Perfect calibration")
    for key, name in (("before", "Before"), ("after", f"After (T = {calibration['temperature']:.3f})")):
        bins = calibration[key]["bins"]
        ax.plot([row["confidence"] for row in bins], [row["accuracy"] for row in bins], marker="o",
                label=f"{name}, ECE = {calibration[key]['ece']:.4f}")
    _unit_square(ax, "Mean confidence in bin", "Accuracy in bin", title, legend="upper left")
    return _save(fig, path)


def plot_training_curves(history: Mapping[str, Sequence[float]], path: str | Path, *, title: str) -> Path:
    """Loss and accuracy per epoch (from 1), train against validation; missing keys are skipped."""
    fig, axes = plt.subplots(1, len(CURVE_PANELS), figsize=(11, 4))
    for ax, (key, name) in zip(axes, CURVE_PANELS):
        for series, legend in ((key, "train"), (f"val_{key}", "validation")):
            if series in history:
                values = list(history[series])
                ax.plot(range(1, len(values) + 1), values, marker="o", label=legend)
        ax.set_xlabel("Epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.suptitle(title)
    return _save(fig, path)


def _unit_square(ax: plt.Axes, xlabel: str, ylabel: str, title: str, *, legend: str) -> None:
    """Axes over [0, 1] × [0, 1] (a little headroom on top), labelled, titled, with the legend at `legend`."""
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc=legend)


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
    return path
