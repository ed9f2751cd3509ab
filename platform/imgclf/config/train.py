"""A training run's settings."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from imgclf.config.build import build_settings
from imgclf.config.checks import MAX_SEED, check_int_range, check_subset, default_registry, model_kind_names
from imgclf.config.sections import (
    BaselineSettings,
    ClusterSettings,
    DecodeLimits,
    OptimizeSettings,
    SplitSettings,
    VGGSettings,
)


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """Everything one training run needs; `data_dir` is the only required value."""

    data_dir: Path
    registry: str = field(default_factory=default_registry)
    name: str = ""
    models: tuple[str, ...] = field(default_factory=model_kind_names)
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
        check_subset("models", self.models, model_kind_names())
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


def json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
