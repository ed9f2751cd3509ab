"""What a model kind's trainer is given (a TrainingJob) and gives back (TrainedModels); the run evaluates, saves and
registers what it gives back (training/run.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgclf.config import TrainSettings
from imgclf.data.dataset import PreparedDataset
from imgclf.models.card import ModelCard
from imgclf.models.classifier import Classifier


def registry_name(base: str, *parts: str) -> str:
    """A registry-safe model name such as `digits-knn-pixels`."""
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", base.lower()).strip("-._") or "model"
    return "-".join((cleaned, *parts))


@dataclass(frozen=True)
class TrainingJob:
    """One run's settings, its prepared data (split, decoded at the models' input size) and its folder."""

    settings: TrainSettings
    data: PreparedDataset
    run_dir: Path
    progress: bool

    def model_name(self, *parts: str) -> str:
        """The registry name of one of the run's models, e.g. model_name("knn", "pixels")."""
        return registry_name(self.settings.name, *parts)

    def card(self, name: str, kind: str) -> ModelCard:
        """The card fields every kind's model of this run has: who it is, its labels and input size, the run's
        settings and data."""
        return ModelCard(
            name=name,
            kind=kind,
            labels=list(self.data.classes),
            input_size=self.settings.vgg.image_size,
            training=self.settings.to_dict(),
            data={"root": str(Path(self.data.root).resolve()), "manifest_digest": self.data.manifest.digest(),
                  "images": len(self.data.manifest.rows)},
        )


@dataclass(frozen=True)
class TrainedModel:
    """A trained model to evaluate on the test split, save with its kind's `save` and register: its card (name,
    kind, ...) and Classifier, and what its evaluation records beside the test scores."""

    card: ModelCard
    classifier: Classifier
    history: dict[str, list[float]] | None = None  # per-epoch training curves
    cv: dict[str, Any] | None = None  # cross-validated scores of the chosen setting
    search: dict[str, Any] | None = None  # a hyperparameter search's every candidate
