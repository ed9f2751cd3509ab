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
from imgclf.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """Everything one training run needs; `data_dir` is the only required value.

    `extra_data_dirs` are more folder-per-class roots read after `data_dir` (the page's corrections, say): one label
    set across them all, a file whose bytes equal an earlier one's counted once (data/dataset.py).
    """

    data_dir: Path
    extra_data_dirs: tuple[Path, ...] = ()
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
        if isinstance(self.extra_data_dirs, (str, os.PathLike)):
            raise ConfigError(f"extra_data_dirs must be a list of folders; got {str(self.extra_data_dirs)!r}")
        object.__setattr__(self, "extra_data_dirs", tuple(Path(folder) for folder in self.extra_data_dirs))
        check_distinct_roots(self.data_dirs)
        object.__setattr__(self, "output_dir", Path(self.output_dir))
        object.__setattr__(self, "cache_dir", Path(self.cache_dir))
        object.__setattr__(self, "models", tuple(self.models))
        check_subset("models", self.models, model_kind_names())
        check_int_range("seed", self.seed, 0, MAX_SEED)
        if not self.name:
            object.__setattr__(self, "name", self.data_dir.resolve().name or "model")

    @property
    def data_dirs(self) -> tuple[Path, ...]:
        """Every data root, `data_dir` first."""
        return (self.data_dir, *self.extra_data_dirs)

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


def check_distinct_roots(roots: tuple[Path, ...]) -> None:
    """Refuse a data root given twice (the same folder, however spelled)."""
    seen: dict[Path, Path] = {}
    for root in roots:
        resolved = root.resolve()
        if resolved in seen:
            raise ConfigError(f"data folders must differ; got {seen[resolved]} and {root}, the same folder")
        seen[resolved] = root


def json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
