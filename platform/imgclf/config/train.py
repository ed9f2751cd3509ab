"""A training run's settings, and how settings of any kind are built from plain values (a YAML file, options)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from imgclf.config.checks import MAX_SEED, MODEL_KINDS, SettingsT, check_int_range, check_subset, default_registry
from imgclf.config.sections import (
    AugmentationSettings,
    BaselineSettings,
    ClusterSettings,
    DecodeLimits,
    OptimizeSettings,
    SplitSettings,
    VGGSettings,
)
from imgclf.errors import ConfigError


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
    "augmentation": AugmentationSettings,
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
