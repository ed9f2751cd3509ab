"""Score a classifier on held-out images and write its metrics.json and plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from imgclf.config import DecodeLimits
from imgclf.data.loading import LoadedImages, load_images
from imgclf.data.scan import LabelledFile, scan_folder
from imgclf.data.split import Manifest
from imgclf.errors import DatasetError
from imgclf.evaluation.calibration import calibration_metrics
from imgclf.evaluation.metrics import classification_metrics, time_per_image
from imgclf.evaluation.plots import plot_confusion_matrix, plot_reliability, plot_roc, plot_training_curves
from imgclf.evaluation.report import ModelScore
from imgclf.evaluation.significance import accuracy_interval
from imgclf.models.calibration import apply_temperature
from imgclf.models.classifier import Classifier

METRICS_FILE = "metrics.json"
MANIFEST_FILE = "manifest.csv"


def labelled_images(
    model_folder: Path, classifier: Classifier, data_dir: Path, split: str, *, progress: bool = False
) -> tuple[LoadedImages, np.ndarray]:
    """Images to score a model on: its own manifest's `split` rows, or (`all`) every image in data_dir."""
    if split == "all":
        _, files = scan_folder(data_dir)
    else:
        rows = Manifest.load(model_folder / MANIFEST_FILE, classifier.labels).subset(split)
        files = [LabelledFile(row.path, row.label) for row in rows]
    unknown = sorted({item.label for item in files} - set(classifier.labels))
    if unknown:
        raise DatasetError(f"{data_dir} has classes the model does not know: {', '.join(unknown)}")
    loaded = load_images(data_dir, files, classifier.input_size, limits=DecodeLimits(), progress=progress)
    if not loaded.files:
        raise DatasetError(f"no readable images to evaluate on in {data_dir} ({split})")
    labels = np.array([classifier.labels.index(item.label) for item in loaded.files], dtype=np.int64)
    return loaded, labels


def evaluate_classifier(
    classifier: Classifier,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    history: Mapping[str, list[float]] | None = None,
    cv: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Test-set metrics (with the bootstrap interval of accuracy, drawn with `seed`), calibration before and after
    the classifier's temperature, time per image, and (when given) training curves and cross-validation."""
    raw = classifier.uncalibrated_probabilities(images)
    probabilities = apply_temperature(raw, classifier.temperature)
    test = classification_metrics(labels, probabilities, classifier.labels)
    low, high = accuracy_interval(probabilities.argmax(axis=1) == labels, seed)
    return {
        "test": test | {"accuracy_ci95": [low, high]},
        "calibration": calibration_metrics(raw, labels, classifier.temperature),
        "timing": time_per_image(classifier.predict_batch, images),
        "cv": dict(cv) if cv else None,
        "history": dict(history) if history else None,
        "predictions": [int(index) for index in probabilities.argmax(axis=1)],
    }


def score_of(model: str, evaluation: Mapping[str, Any]) -> ModelScore:
    return ModelScore.from_metrics(model, evaluation)


def write_evaluation(folder: Path, model: str, evaluation: Mapping[str, Any]) -> list[Path]:
    """metrics.json plus confusion-matrix, ROC, reliability and (for trained networks) training-curve PNGs."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / METRICS_FILE).write_text(json.dumps(evaluation, indent=2) + "\n")
    test = evaluation["test"]
    labels = list(test["per_class"])
    written = [
        plot_confusion_matrix(test["confusion_matrix"], labels, folder / "confusion_matrix.png", title=f"{model}: confusion matrix"),
        plot_roc(test["roc"], folder / "roc.png", title=f"{model}: ROC"),
    ]
    if evaluation.get("calibration"):
        written.append(plot_reliability(evaluation["calibration"], folder / "reliability.png",
                                        title=f"{model}: reliability"))
    if evaluation.get("history"):
        written.append(
            plot_training_curves(evaluation["history"], folder / "training_curves.png", title=f"{model}: training vs validation")
        )
    return written
