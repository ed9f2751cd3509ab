"""Settings objects built from plain values (a YAML file, command-line options, a Serve user_config): each nested
settings object is picked by its field's type hint, and a key no field has is refused."""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from pathlib import Path
from typing import Any, Mapping

import yaml

from imgclf.config.checks import SettingsT
from imgclf.errors import ConfigError


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


def build_dataclass(cls: type[SettingsT], values: Mapping[str, Any], prefix: str) -> SettingsT:
    """An instance of the dataclass `cls` from plain values; `prefix` names where they came from in errors."""
    refuse_unknown_keys(cls, values, prefix=prefix)
    nested = nested_settings(cls)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key in nested:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{prefix}{key} must be a mapping of settings; got {value!r}")
            value = build_dataclass(nested[key], value, f"{prefix}{key}.")
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad settings for {prefix or cls.__name__}: {exc}") from exc


def refuse_unknown_keys(cls: type, values: Mapping[str, Any], *, prefix: str = "", noun: str = "setting",
                        error: type[Exception] = ConfigError) -> None:
    """Raise `error` naming the first key of `values` that no field of the dataclass `cls` has, and the fields."""
    known = sorted(item.name for item in dataclasses.fields(cls))
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise error(f"unknown {noun} {prefix}{unknown[0]}; expected one of {', '.join(known)}")


@functools.cache
def nested_settings(cls: type) -> dict[str, type]:
    """The fields of the dataclass `cls` that hold settings objects themselves (`X` or `X | None`), by name."""
    hints = typing.get_type_hints(cls)
    nested = {}
    for item in dataclasses.fields(cls):
        candidates = [hint for hint in settings_types(hints[item.name]) if dataclasses.is_dataclass(hint)]
        if len(candidates) == 1:
            nested[item.name] = candidates[0]
    return nested


def settings_types(hint: Any) -> tuple[Any, ...]:
    """The types a hint allows: the members of a union (`X | None`, `Optional[X]`), else the hint itself."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)
