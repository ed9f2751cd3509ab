"""Listing and reading batch inputs: local folders and pyarrow URIs, hidden files, symlink loops, size limits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imgclf.batch.inputs import Location, list_images, read_file
from imgclf.config import DecodeLimits
from imgclf.errors import DatasetError, ImageDecodeError, ImageTooLargeError
from utils.images import write_image


@pytest.fixture
def image_tree(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    write_image(root / "a.png")
    write_image(root / "cats" / "b.JPG", fmt="jpeg")
    write_image(root / "cats" / "deep" / "er" / "c.webp")
    write_image(root / ".hidden" / "d.png")
    write_image(root / ".e.png")
    (root / "notes.txt").write_text("not listed: not an image name")
    return root


def test_lists_image_files_recursively_sorted_skipping_hidden(image_tree: Path) -> None:
    listed = list_images(Location.parse(str(image_tree)))
    assert listed == [str(image_tree / p) for p in ("a.png", "cats/b.JPG", "cats/deep/er/c.webp")]


def test_relative_input_is_listed_as_absolute_paths(image_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(image_tree.parent)
    assert list_images(Location.parse("images"))[0] == str(image_tree / "a.png")


def test_uri_input_lists_uris_that_read_back(image_tree: Path) -> None:
    location = Location.parse(f"file://{image_tree}")
    listed = list_images(location)
    assert listed[0] == f"file://{image_tree}/a.png"
    assert read_file(location, listed[0], DecodeLimits()) == (image_tree / "a.png").read_bytes()


def test_symlink_loop_ends_and_linked_files_are_listed(image_tree: Path) -> None:
    os.symlink(image_tree, image_tree / "cats" / "loop")
    os.symlink(image_tree / "a.png", image_tree / "link.png")
    listed = list_images(Location.parse(str(image_tree)))
    assert str(image_tree / "link.png") in listed
    assert not any("/cats/loop/" in path for path in listed)


@pytest.mark.parametrize("make", ["missing", "file"])
def test_missing_input_or_a_file_is_a_dataset_error(tmp_path: Path, make: str) -> None:
    target = tmp_path / "input"
    if make == "file":
        target.write_text("x")
    with pytest.raises(DatasetError, match="does not exist or is not a folder"):
        list_images(Location.parse(str(target)))


def test_folder_without_images_is_a_dataset_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(DatasetError, match="holds no image files"):
        list_images(Location.parse(str(tmp_path)))


def test_file_over_the_byte_limit_is_refused_before_reading(image_tree: Path) -> None:
    path = str(image_tree / "a.png")
    size = os.path.getsize(path)
    with pytest.raises(ImageTooLargeError, match=f"{size} bytes exceeds the limit of {size - 1} bytes"):
        read_file(Location.parse(str(image_tree)), path, DecodeLimits(max_bytes=size - 1))


def test_unreadable_entry_is_a_decode_error_naming_it(image_tree: Path) -> None:
    folder = str(image_tree / "cats")
    with pytest.raises(ImageDecodeError, match="cannot read file") as raised:
        read_file(Location.parse(str(image_tree)), folder, DecodeLimits())
    assert raised.value.source == folder
