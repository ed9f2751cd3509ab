"""write_digits: scikit-learn's digits written out as one folder of RGB PNGs per class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgclf.data.digits import write_digits
from imgclf.data.scan import scan_folder

DIGIT_COUNT = 1797


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory) -> tuple[Path, int]:
    folder = tmp_path_factory.mktemp("digits")
    return folder, write_digits(folder)


def test_returns_the_number_of_images_written(digits_dir):
    folder, count = digits_dir

    assert count == DIGIT_COUNT
    assert len(list(folder.rglob("*.png"))) == DIGIT_COUNT


def test_one_folder_per_digit(digits_dir):
    folder, _ = digits_dir

    assert sorted(p.name for p in folder.iterdir()) == [str(d) for d in range(10)]
    assert all(len(list((folder / str(d)).glob("*.png"))) > 150 for d in range(10))


def test_images_are_32x32_rgb_gray_digits(digits_dir):
    folder, _ = digits_dir
    paths = sorted(folder.rglob("*.png"))

    for path in paths[:: len(paths) // 12]:
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.mode == "RGB"
            assert image.size == (32, 32)
            array = np.asarray(image)
        assert (array[:, :, 0] == array[:, :, 1]).all() and (array[:, :, 1] == array[:, :, 2]).all()
        assert array.max() > array.min()  # a drawn digit, not a blank square


def test_the_folder_scans_as_a_dataset(digits_dir):
    folder, _ = digits_dir

    classes, files = scan_folder(folder)

    assert classes == [str(d) for d in range(10)]
    assert len(files) == DIGIT_COUNT


def test_size_is_configurable(tmp_path):
    write_digits(tmp_path, size=8)

    with Image.open(next(tmp_path.rglob("*.png"))) as image:
        assert image.size == (8, 8)


def test_inverted_digits_are_the_same_digits_dark_on_light(digits_dir, tmp_path):
    folder, _ = digits_dir
    assert write_digits(tmp_path, inverted=True) == DIGIT_COUNT
    for name in ("0/digit_0000.png", "7/digit_0007.png"):
        plain, inverted = (np.asarray(Image.open(root / name)).astype(int) for root in (folder, tmp_path))
        assert np.abs(plain + inverted - 255).max() <= 1  # the same digit (resizing rounds each once)
        assert plain.mean() < 128 < inverted.mean()


def test_the_data_command_writes_inverted_digits(digits_dir, tmp_path):
    from utils.cli import run_cli

    folder, _ = digits_dir
    done = run_cli(["data", "digits", tmp_path / "paper", "--inverted"])
    assert done.exit_code == 0 and done.stdout == f"wrote {DIGIT_COUNT} inverted digit images to {tmp_path / 'paper'}\n"
    plain, inverted = (np.asarray(Image.open(root / "5/digit_0005.png")).astype(int) for root in (folder, tmp_path / "paper"))
    assert np.abs(plain + inverted - 255).max() <= 1
