"""model.json, the model card: a typed record written with every model folder and validated whenever one is read.

    card = ModelCard(name="digits-vgg16", kind="vgg16", labels=("0", "1"), input_size=32, architecture={...})
    write_card(folder, card)           # model.json (card.to_dict(), exactly) and labels.json
    read_card(folder) == card          # ArtifactError for an unreadable card, an unknown or a missing field
"""

from __future__ import annotations

import dataclasses
import json
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from imgclf.config import model_kind_names, refuse_unknown_keys
from imgclf.errors import ArtifactError

CARD_FILE = "model.json"
LABELS_FILE = "labels.json"
FORMAT_VERSION = 1
VERSIONED_PACKAGES = ("imgclf", "tensorflow", "tf-keras", "scikit-learn", "numpy", "pillow", "ray", "openvino", "nncf")


def framework_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """Who the model is, what it was trained on and how, and what its kind needs to load it. Fields left None
    are not written."""

    format_version: int = FORMAT_VERSION
    name: str
    kind: str  # a model kind's name (models/kinds.py)
    labels: tuple[str, ...]
    input_size: int  # the side in pixels images are resized to
    created: str = field(default_factory=utc_now)
    versions: dict[str, str] = field(default_factory=framework_versions)
    weights_source: str | None = None  # VGG16 base weights: imagenet, none, or a weights file's absolute path
    weights_sha256: str | None = None  # of that weights file
    pretrained: bool | None = None
    precision: str | None = None  # what TensorFlow runs the network at: fp32 or bf16
    training: dict[str, Any] | None = None  # the run's TrainSettings.to_dict()
    data: dict[str, Any] | None = None  # root, manifest_digest, images
    architecture: dict[str, Any] | None = None  # vgg16: VGGArchitecture.to_dict()
    best_epoch: int | None = None  # vgg16: the epoch whose weights were kept
    class_weight: dict[str, float] | None = None  # vgg16: the loss weight of each class (by label) in training
    temperature: float | None = None  # every path divides the model's logits by it (calibration); None: 1.0
    estimator: str | None = None  # knn, dt: the fitted scikit-learn estimator
    best_params: dict[str, Any] | None = None  # knn, dt: the hyperparameter search's choice
    features: dict[str, Any] | None = None  # knn, dt: pixels or embeddings (and the extractor's file)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        kinds = model_kind_names()
        if self.kind not in kinds:
            raise ArtifactError(f"model kind must be one of {', '.join(kinds)}; got {self.kind!r}")
        if not self.labels or not all(isinstance(label, str) for label in self.labels):
            raise ArtifactError(f"labels must be a non-empty list of strings; got {list(self.labels)!r}")
        if not isinstance(self.input_size, int) or self.input_size < 1:
            raise ArtifactError(f"input_size must be a positive integer; got {self.input_size!r}")
        if self.temperature is not None and (isinstance(self.temperature, bool)
                                             or not isinstance(self.temperature, (int, float)) or self.temperature <= 0):
            raise ArtifactError(f"temperature must be a positive number; got {self.temperature!r}")

    def to_dict(self) -> dict[str, Any]:
        """Exactly what model.json holds."""
        values = {item.name: getattr(self, item.name) for item in dataclasses.fields(self)}
        return {key: list(value) if key == "labels" else value for key, value in values.items() if value is not None}

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = CARD_FILE) -> ModelCard:
        try:
            refuse_unknown_keys(cls, values, noun="field", error=ArtifactError)
            missing = [item.name for item in dataclasses.fields(cls) if item.default is dataclasses.MISSING
                       and item.default_factory is dataclasses.MISSING and item.name not in values]
            if missing:
                raise ArtifactError(f"missing field {missing[0]!r}")
            return cls(**values)
        except ArtifactError as exc:
            raise ArtifactError(f"{source}: {exc}") from exc

    def replace(self, **changes: Any) -> ModelCard:
        return dataclasses.replace(self, **changes)


def write_card(folder: Path, card: ModelCard) -> None:
    write_json(folder / CARD_FILE, card.to_dict())
    write_json(folder / LABELS_FILE, list(card.labels))


def read_card(folder: Path) -> ModelCard:
    path = Path(folder) / CARD_FILE
    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{folder} is not a model folder: cannot read {CARD_FILE} ({exc})") from exc
    if not isinstance(values, dict):
        raise ArtifactError(f"{path} must hold a JSON object; got {type(values).__name__}")
    return ModelCard.from_dict(values, str(path))


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=False) + "\n")
