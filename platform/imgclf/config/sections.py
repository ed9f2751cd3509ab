"""The settings of each concern a training run and a batch job share: decoding, the split, VGG16, the baselines,
the Ray cluster and the compiled variants."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from imgclf.config.checks import (
    CLASS_WEIGHTS,
    FEATURE_SETS,
    FLIP_MODES,
    IMAGE_SIZE_RANGE,
    INFERENCE_PRECISIONS,
    MAX_NEIGHBORS,
    MAX_SEED,
    PRECISIONS,
    SCHEDULES,
    TREE_CRITERIA,
    WEIGHTS_KEYWORDS,
    check_choice,
    check_fraction,
    check_grid,
    check_int_range,
    check_number_range,
    check_placement,
    check_subset,
    check_tree_depth,
)
from imgclf.errors import ConfigError

@dataclass(frozen=True, kw_only=True)
class DecodeLimits:
    """Limits applied before an image is decoded."""

    max_pixels: int = 40_000_000
    max_bytes: int = 64 * 2**20  # encoded file size

    def __post_init__(self) -> None:
        check_int_range("max_pixels", self.max_pixels, 1, 1_000_000_000)
        check_int_range("max_bytes", self.max_bytes, 1, 2**40)


@dataclass(frozen=True, kw_only=True)
class SplitSettings:
    """A deterministic, stratified train/validation/test split."""

    val_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 42

    def __post_init__(self) -> None:
        check_fraction("val_fraction", self.val_fraction)
        check_fraction("test_fraction", self.test_fraction)
        check_int_range("seed", self.seed, 0, MAX_SEED)
        if self.val_fraction + self.test_fraction >= 0.9:
            raise ConfigError(
                f"val_fraction + test_fraction must leave at least 10% for training; "
                f"got {self.val_fraction} + {self.test_fraction}"
            )


@dataclass(frozen=True, kw_only=True)
class AugmentationSettings:
    """Random changes to training images only (never to validation, test or inference inputs); 0 turns one off.

    `flip` is per dataset: photos may be mirrored, digits and text must not (the default).
    """

    flip: str = "none"
    translation: float = 0.1  # fraction of the side, each way
    zoom: float = 0.1  # fraction of the side, in and out
    rotation: float = 0.03  # fraction of a full turn, each way (0.03: about 11 degrees)
    contrast: float = 0.1

    def __post_init__(self) -> None:
        check_choice("augmentation.flip", self.flip, FLIP_MODES)
        for name in ("translation", "zoom", "rotation", "contrast"):
            check_number_range(f"augmentation.{name}", getattr(self, name), 0.0, 0.5)

    @property
    def active(self) -> bool:
        return self.flip != "none" or any((self.translation, self.zoom, self.rotation, self.contrast))


@dataclass(frozen=True, kw_only=True)
class VGGSettings:
    """The VGG16 transfer model and its training schedule."""

    weights: str = "none"
    image_size: int = 224
    epochs: int = 15  # an upper bound: early stopping ends sooner when validation loss stops falling
    batch_size: int = 32
    learning_rate: float = 1e-4
    head_units: int = 256
    dropout: float = 0.5
    fine_tune_epochs: int = 0
    fine_tune_learning_rate: float = 1e-5
    precision: str = "fp32"
    schedule: str = "cosine"  # per phase: cosine (after warm-up), plateau (reduce on plateau) or constant
    warmup_epochs: int = 1
    early_stopping_patience: int = 8  # epochs without a lower validation loss before stopping; 0: never stop early
    label_smoothing: float = 0.1
    class_weight: str = "balanced"  # balanced: weight classes by inverse frequency (1.0 each when balanced)
    augmentation: AugmentationSettings = field(default_factory=AugmentationSettings)

    def __post_init__(self) -> None:
        check_weights(self.weights)
        if self.weights not in WEIGHTS_KEYWORDS:  # absolute, so Ray Train workers in other folders find the file
            object.__setattr__(self, "weights", os.path.abspath(self.weights))
        check_int_range("image_size", self.image_size, *IMAGE_SIZE_RANGE)
        check_int_range("epochs", self.epochs, 1, 10_000)
        check_int_range("batch_size", self.batch_size, 1, 4096)
        check_fraction("learning_rate", self.learning_rate)
        check_int_range("head_units", self.head_units, 1, 65_536)
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be a number in [0, 1); got {self.dropout!r}")
        check_int_range("fine_tune_epochs", self.fine_tune_epochs, 0, 10_000)
        check_fraction("fine_tune_learning_rate", self.fine_tune_learning_rate)
        check_choice("precision", self.precision, PRECISIONS)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_int_range("warmup_epochs", self.warmup_epochs, 0, 10_000)
        check_int_range("early_stopping_patience", self.early_stopping_patience, 0, 10_000)
        check_number_range("label_smoothing", self.label_smoothing, 0.0, 0.5)
        check_choice("class_weight", self.class_weight, CLASS_WEIGHTS)

    @property
    def pretrained(self) -> bool:
        """True when the convolutional base starts from ImageNet or a weights file."""
        return self.weights != "none"


def check_weights(weights: str) -> None:
    """`imagenet`, `none`, or the path of an existing weights file."""
    if weights in WEIGHTS_KEYWORDS:
        return
    if not os.path.isfile(weights):
        raise ConfigError(f"weights must be imagenet, none or the path of a weights file; no file at {weights!r}")


@dataclass(frozen=True, kw_only=True)
class BaselineSettings:
    """KNN and decision-tree baselines and their cross-validation."""

    feature_sets: tuple[str, ...] = FEATURE_SETS
    pixel_size: int = 16
    knn_neighbors: int = 3
    tree_max_depth: int | None = None
    tree_criterion: str = "gini"
    cv_folds: int = 5
    knn_grid: tuple[int, ...] = (1, 3, 5, 7, 9, 15)
    tree_depth_grid: tuple[int | None, ...] = (5, 10, 20, None)
    tree_criterion_grid: tuple[str, ...] = ("gini", "entropy")

    def __post_init__(self) -> None:
        check_subset("feature_sets", tuple(self.feature_sets), FEATURE_SETS)
        check_int_range("pixel_size", self.pixel_size, 4, 128)
        check_int_range("knn_neighbors", self.knn_neighbors, 1, MAX_NEIGHBORS)
        check_tree_depth("tree_max_depth", self.tree_max_depth)
        check_choice("tree_criterion", self.tree_criterion, TREE_CRITERIA)
        check_int_range("cv_folds", self.cv_folds, 2, 100)
        object.__setattr__(self, "knn_grid", check_grid("knn_grid", self.knn_grid))
        object.__setattr__(self, "tree_depth_grid", check_grid("tree_depth_grid", self.tree_depth_grid))
        object.__setattr__(self, "tree_criterion_grid", check_grid("tree_criterion_grid", self.tree_criterion_grid))
        for k in self.knn_grid:
            check_int_range("knn_grid values", k, 1, MAX_NEIGHBORS)
        for depth in self.tree_depth_grid:
            check_tree_depth("tree_depth_grid values", depth)
        for criterion in self.tree_criterion_grid:
            check_choice("tree_criterion_grid values", criterion, TREE_CRITERIA)


@dataclass(frozen=True, kw_only=True)
class ClusterSettings:
    """Where and how training runs on Ray; None values are sized from what the cluster has."""

    address: str | None = None
    workers: int | None = None
    cpus_per_worker: float | None = None
    gpus_per_worker: float | None = None
    storage_path: str = "ray_results"
    max_failures: int = 2

    def __post_init__(self) -> None:
        check_placement(("workers", self.workers), ("cpus_per_worker", self.cpus_per_worker),
                        ("gpus_per_worker", self.gpus_per_worker))
        check_int_range("max_failures", self.max_failures, 0, 1000)


@dataclass(frozen=True, kw_only=True)
class OptimizeSettings:
    """Compiled OpenVINO variants of a registered model and the accuracy guard each must pass to be kept."""

    precisions: tuple[str, ...] = ()
    max_accuracy_drop: float = 0.5  # points of test accuracy below the TensorFlow fp32 model
    calibration_images: int = 300  # int8 calibration: at most this many images of the training split
    data_dir: str | None = None  # where the manifest's images are; None: the folder recorded at training

    def __post_init__(self) -> None:
        object.__setattr__(self, "precisions", tuple(dict.fromkeys(self.precisions)))
        for precision in self.precisions:
            check_choice("optimize precision", precision, INFERENCE_PRECISIONS)
        check_number_range("max_accuracy_drop", self.max_accuracy_drop, -100, 100, " of points (negative: a gain)")
        check_int_range("calibration_images", self.calibration_images, 1, 100_000)
