"""Typed settings: one object per concern, validated once at the boundary and passed down."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

from imgclf.errors import ConfigError

MODEL_KINDS = ("vgg16", "knn", "dt")
FEATURE_SETS = ("pixels", "embeddings")
PRECISIONS = ("fp32", "bf16")  # what TensorFlow runs (training, and inference on the tensorflow backend)
INFERENCE_PRECISIONS = ("fp32", "bf16", "int8")  # int8 only as a compiled OpenVINO variant
BACKENDS = ("auto", "tensorflow", "openvino")
WEIGHTS_KEYWORDS = ("imagenet", "none")
TREE_CRITERIA = ("gini", "entropy", "log_loss")
MAX_NEIGHBORS = 1000
MAX_TREE_DEPTH = 1000
IMAGE_SIZE_RANGE = (32, 512)
MAX_SEED = 2**32 - 1
REGISTRY_ENV = "IMGCLF_REGISTRY"
JOB_ENTRYPOINTS = {"classify": "jobs/batch_classify.py", "train": "jobs/train.py"}  # `imgclf WORK` as a script
SettingsT = TypeVar("SettingsT")


def default_registry() -> str:
    """The registry root: $IMGCLF_REGISTRY, else ./registry."""
    return os.environ.get(REGISTRY_ENV, "registry")


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    """Raise ConfigError naming the setting, the allowed values and what was got."""
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def check_inference_choice(backend: Any, precision: Any) -> None:
    """A backend of BACKENDS and a precision of INFERENCE_PRECISIONS (or None: the model's own)."""
    check_choice("backend", backend, BACKENDS)
    if precision is not None:
        check_choice("precision", precision, INFERENCE_PRECISIONS)
    if backend == "tensorflow" and precision == "int8":
        raise ConfigError("precision int8 runs only as a compiled OpenVINO variant: use backend openvino or auto")


def check_number_range(name: str, value: Any, low: float, high: float, unit: str = "") -> None:
    """A number (int or float, not bool) in the closed range [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"{name} must be a number{unit} in [{low:g}, {high:g}]; got {value!r}")


def check_int_range(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer in [{low}, {high}]; got {value!r}")


def check_fraction(name: str, value: Any, low: float = 0.0, high: float = 1.0) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value < high:
        raise ConfigError(f"{name} must be a number in ({low}, {high}); got {value!r}")


def check_subset(name: str, values: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        raise ConfigError(f"{name} must be a non-empty subset of {', '.join(allowed)}; got {','.join(values)!r}")


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
class VGGSettings:
    """The VGG16 transfer model and its training schedule."""

    weights: str = "none"
    image_size: int = 224
    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 1e-4
    head_units: int = 256
    dropout: float = 0.5
    fine_tune_epochs: int = 0
    fine_tune_learning_rate: float = 1e-5
    precision: str = "fp32"

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


def check_tree_depth(name: str, value: Any) -> None:
    """A tree depth is a positive integer, or None for unlimited."""
    if value is not None:
        check_int_range(name, value, 1, MAX_TREE_DEPTH)


def check_grid(name: str, values: Any) -> tuple[Any, ...]:
    """A search grid: a non-empty list or tuple without repeats, returned as a tuple."""
    if not isinstance(values, (list, tuple)) or not values:
        raise ConfigError(f"{name} must be a non-empty list of values; got {values!r}")
    if any(value in values[:index] for index, value in enumerate(values)):
        raise ConfigError(f"{name} must not repeat a value; got {list(values)!r}")
    return tuple(values)


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
        if self.workers is not None:
            check_int_range("workers", self.workers, 1, 4096)
        if self.cpus_per_worker is not None:
            check_positive_number("cpus_per_worker", self.cpus_per_worker)
        if self.gpus_per_worker is not None and self.gpus_per_worker != 0:
            check_positive_number("gpus_per_worker", self.gpus_per_worker)
        check_int_range("max_failures", self.max_failures, 0, 1000)


def check_positive_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{name} must be a positive number; got {value!r}")


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


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """Everything one training run needs; `data_dir` is the only required value."""

    data_dir: Path
    registry: str = field(default_factory=default_registry)
    name: str = ""
    models: tuple[str, ...] = MODEL_KINDS
    output_dir: Path = Path("runs")
    cache_dir: Path = Path(os.path.expanduser("~/.cache/imgclf"))
    seed: int = 42
    split: SplitSettings = field(default_factory=SplitSettings)
    vgg: VGGSettings = field(default_factory=VGGSettings)
    baselines: BaselineSettings = field(default_factory=BaselineSettings)
    limits: DecodeLimits = field(default_factory=DecodeLimits)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    optimize: OptimizeSettings = field(default_factory=OptimizeSettings)  # variants made after training

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        object.__setattr__(self, "output_dir", Path(self.output_dir))
        object.__setattr__(self, "cache_dir", Path(self.cache_dir))
        object.__setattr__(self, "models", tuple(self.models))
        check_subset("models", self.models, MODEL_KINDS)
        check_int_range("seed", self.seed, 0, MAX_SEED)
        if not self.name:
            object.__setattr__(self, "name", self.data_dir.resolve().name or "model")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values, as recorded in model.json."""
        return json_ready(dataclasses.asdict(self))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "TrainSettings":
        """Build settings from nested plain values (a parsed YAML file), rejecting unknown keys."""
        return build_settings(cls, values)

    @classmethod
    def from_yaml(cls, path: Path, **overrides: Any) -> "TrainSettings":
        return build_settings(cls, overrides, path)


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively overlay `overrides` on `base`."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def build_settings(cls: type[SettingsT], values: Mapping[str, Any], path: Path | None = None) -> SettingsT:
    """Settings of type `cls` from nested plain values, overlaid on the YAML settings file `path` when given."""
    if path is None:
        return build_dataclass(cls, values, "")
    try:
        from_file = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc}") from exc
    if not isinstance(from_file, dict):
        raise ConfigError(f"settings file {path} must hold a mapping; got {type(from_file).__name__}")
    return build_dataclass(cls, merge(from_file, values), "")


def build_dataclass(cls: type, values: Mapping[str, Any], prefix: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown setting {prefix}{unknown[0]}; expected one of {', '.join(sorted(known))}")
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        nested = NESTED_SETTINGS.get(key)
        if nested is not None:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{prefix}{key} must be a mapping of settings; got {value!r}")
            value = build_dataclass(nested, value, f"{prefix}{key}.")
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad settings for {prefix or cls.__name__}: {exc}") from exc


NESTED_SETTINGS: dict[str, type] = {
    "split": SplitSettings,
    "vgg": VGGSettings,
    "baselines": BaselineSettings,
    "limits": DecodeLimits,
    "cluster": ClusterSettings,
    "optimize": OptimizeSettings,
}


def json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
