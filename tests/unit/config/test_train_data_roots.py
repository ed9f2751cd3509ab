"""TrainSettings' data roots: `data_dir` first, `extra_data_dirs` after it, each folder once."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgclf.config import TrainSettings
from imgclf.errors import ConfigError


def test_data_dirs_are_the_first_root_then_the_extra_ones_in_order() -> None:
    settings = TrainSettings(data_dir="digits", extra_data_dirs=["corrections", "more"])

    assert settings.data_dirs == (Path("digits"), Path("corrections"), Path("more"))
    assert settings.name == "digits"  # named after the first root


def test_one_root_has_no_extra_ones() -> None:
    assert TrainSettings(data_dir="digits").data_dirs == (Path("digits"),)


def test_extra_roots_round_trip_through_a_mapping() -> None:
    settings = TrainSettings(data_dir="digits", extra_data_dirs=(Path("corrections"),))

    assert settings.to_dict()["extra_data_dirs"] == ["corrections"]
    assert TrainSettings.from_mapping(settings.to_dict()) == settings


def test_the_same_folder_twice_is_refused_however_spelled(tmp_path: Path) -> None:
    same = r"^data folders must differ; got \S*digits and \S*digits/\.\./digits, the same folder$"
    with pytest.raises(ConfigError, match=same):
        TrainSettings(data_dir=tmp_path / "digits", extra_data_dirs=[tmp_path / "digits" / ".." / "digits"])


def test_a_single_string_of_extra_roots_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^extra_data_dirs must be a list of folders; got 'corrections'$"):
        TrainSettings.from_mapping({"data_dir": "digits", "extra_data_dirs": "corrections"})
