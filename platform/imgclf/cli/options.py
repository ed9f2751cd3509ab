"""Argument types and option groups shared by the commands, and the one way from parsed options to settings."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Mapping

from imgclf.config import INFERENCE_PRECISIONS, backend_names, SettingsT, build_settings, default_registry


def comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer; got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {value!r}")
    return number


def add_registry(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--registry", default=default_registry(), help="registry root: a folder or a pyarrow URI (default: %(default)s)"
    )


def add_backend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", choices=backend_names(), default="auto",
        help="auto: TensorFlow on a GPU node, else the fastest stored OpenVINO variant this CPU runs natively, else "
        "TensorFlow (default: %(default)s)",
    )
    parser.add_argument("--precision", choices=INFERENCE_PRECISIONS,
                        help="run at this precision (int8: the OpenVINO variant) (default: the model's own, or auto's)")


def add_guard_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-accuracy-drop", type=float,
                        help="refuse a variant whose test accuracy drops more than this many points (default: 0.5)")
    parser.add_argument("--calibration-images", type=positive_int,
                        help="int8 calibration images from the training split (default: 300)")


def settings_from(cls: type[SettingsT], options: Mapping[str, Any], config: Path | None = None) -> SettingsT:
    """Settings of type `cls`: the YAML file `config` (if any) overlaid with every option that was given (not None)."""
    return build_settings(cls, drop_unset(options), config)


def drop_unset(values: Mapping[str, Any]) -> dict[str, Any]:
    cleaned = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            value = drop_unset(value)
        if value is not None and value != {}:
            cleaned[key] = value
    return cleaned
