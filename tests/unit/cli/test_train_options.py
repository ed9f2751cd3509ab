"""`imgclf train` options: `--data` repeated gives the data roots in order, over what a settings file says."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgclf.cli import build_parser
from imgclf.cli.train import train_settings


def settings_for(*argv: str):
    return train_settings(build_parser().parse_args(["train", *argv]))


def test_repeated_data_options_are_the_roots_in_order() -> None:
    settings = settings_for("--data", "digits", "--data", "corrections", "--data", "more")

    assert settings.data_dirs == (Path("digits"), Path("corrections"), Path("more"))


def test_one_data_option_replaces_the_settings_files_extra_roots(tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text("data_dir: old\nextra_data_dirs: [old-corrections]\n")

    assert settings_for("--data", "digits", "--config", str(config)).data_dirs == (Path("digits"),)


def test_data_is_required() -> None:
    with pytest.raises(SystemExit):
        settings_for("--models", "knn")
