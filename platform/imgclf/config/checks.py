"""The settings' vocabulary and validators: each check names the setting, what is allowed and what it got."""

from __future__ import annotations

import os
from typing import Any, Sequence, TypeVar

from imgclf.errors import ConfigError


def model_kind_names() -> tuple[str, ...]:
    """Every model kind's name (models/kinds.py), those installed distributions add (models/plugins.py) included."""
    from imgclf.models.kinds import model_kind_names as names

    return names()


def backend_names() -> tuple[str, ...]:
    """auto, then every runtime that may be asked for by name (models/runtimes.py), installed ones included."""
    from imgclf.models.runtimes import selectable_backends

    return ("auto", *selectable_backends())


FEATURE_SETS = ("pixels", "embeddings")
PRECISIONS = ("fp32", "bf16")  # what TensorFlow runs (training, and inference on the tensorflow backend)
INFERENCE_PRECISIONS = ("fp32", "bf16", "int8")  # int8 only as a compiled OpenVINO variant
WEIGHTS_KEYWORDS = ("imagenet", "none")
TREE_CRITERIA = ("gini", "entropy", "log_loss")
FLIP_MODES = ("none", "horizontal", "vertical", "horizontal_and_vertical")
SCHEDULES = ("cosine", "plateau", "constant")
CLASS_WEIGHTS = ("balanced", "none")
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


def check_choice(name: str, value: Any, allowed: Sequence[str]) -> None:
    """Raise ConfigError naming the setting, the allowed values and what was got."""
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def check_inference_choice(backend: Any, precision: Any) -> None:
    """A backend of backend_names() and a precision of INFERENCE_PRECISIONS (or None: the model's own)."""
    check_choice("backend", backend, backend_names())
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


def check_subset(name: str, values: tuple[str, ...], allowed: Sequence[str]) -> None:
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        raise ConfigError(f"{name} must be a non-empty subset of {', '.join(allowed)}; got {','.join(values)!r}")


def check_positive_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{name} must be a positive number; got {value!r}")


def check_placement(count: tuple[str, int | None], cpus: tuple[str, float | None], gpus: tuple[str, float | None]) -> None:
    """How many copies and what each reserves, each (setting name, value); None: sized from the cluster, 0 GPUs:
    none."""
    if count[1] is not None:
        check_int_range(*count, 1, 4096)
    if cpus[1] is not None:
        check_positive_number(*cpus)
    if gpus[1] is not None and gpus[1] != 0:
        check_positive_number(*gpus)


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
