"""load_images: decode and resize a file list, keeping order and reporting the files it skipped."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgclf.config import DecodeLimits
from imgclf.data.loading import LoadedImages, SkippedFile, load_images
from imgclf.data.scan import LabelledFile
from utils.images import BLUE, GREEN, RED, encode, make_image_bytes, truncated, write_image

SIZE = 16


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, list[LabelledFile]]:
    write_image(tmp_path / "warm" / "red.png", size=(10, 20), color=RED)
    (tmp_path / "warm" / "broken.png").write_bytes(truncated(make_image_bytes("png", size=(64, 64), color=RED), 0.3))
    write_image(tmp_path / "cold" / "blue.bmp", size=(40, 30), color=BLUE)
    (tmp_path / "cold" / "notes.jpg").write_text("this is a text file, not a jpeg\n")
    write_image(tmp_path / "cold" / "deep" / "green.gif", size=(SIZE, SIZE), color=GREEN)
    files = [
        LabelledFile("warm/red.png", "warm"),
        LabelledFile("warm/broken.png", "warm"),
        LabelledFile("cold/blue.bmp", "cold"),
        LabelledFile("cold/notes.jpg", "cold"),
        LabelledFile("cold/deep/green.gif", "cold"),
    ]
    return tmp_path, files


def test_good_files_are_kept_in_order(folder):
    root, files = folder

    loaded = load_images(root, files, SIZE, progress=False)

    assert isinstance(loaded, LoadedImages)
    assert [item.path for item in loaded.files] == ["warm/red.png", "cold/blue.bmp", "cold/deep/green.gif"]
    assert [item.label for item in loaded.files] == ["warm", "cold", "cold"]


def test_images_have_the_requested_size_and_content(folder):
    root, files = folder

    loaded = load_images(str(root), files, SIZE, progress=False)

    assert loaded.images.shape == (3, SIZE, SIZE, 3)
    assert loaded.images.dtype == np.uint8
    for image, colour in zip(loaded.images, (RED, BLUE, GREEN)):
        np.testing.assert_array_equal(image, np.broadcast_to(colour, (SIZE, SIZE, 3)))


def test_unreadable_files_are_skipped_with_a_readable_cause(folder):
    root, files = folder

    loaded = load_images(root, files, SIZE, progress=False)

    assert [skip.path for skip in loaded.skipped] == ["warm/broken.png", "cold/notes.jpg"]
    broken, text = loaded.skipped
    assert isinstance(broken, SkippedFile)
    assert "truncated" in broken.cause or "damaged" in broken.cause
    assert "not an image" in text.cause


def test_a_missing_file_is_skipped(folder):
    root, files = folder

    loaded = load_images(root, files + [LabelledFile("warm/gone.png", "warm")], SIZE, progress=False)

    assert loaded.skipped[-1].path == "warm/gone.png"
    assert "cannot read file" in loaded.skipped[-1].cause
    assert len(loaded.files) == 3


def test_images_over_the_pixel_limit_are_skipped(folder):
    root, files = folder

    loaded = load_images(root, files, SIZE, limits=DecodeLimits(max_pixels=300), progress=False)

    # red.png is 10x20 = 200 pixels and green.gif 16x16 = 256; blue.bmp is 40x30 = 1200
    assert [item.path for item in loaded.files] == ["warm/red.png", "cold/deep/green.gif"]
    assert "cold/blue.bmp" in {skip.path for skip in loaded.skipped}
    assert any("exceeds the limit of 300" in skip.cause for skip in loaded.skipped)


def test_nothing_readable_gives_an_empty_batch(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")

    loaded = load_images(tmp_path, [LabelledFile("a.jpg", "a")], SIZE, progress=False)

    assert loaded.images.shape == (0, SIZE, SIZE, 3)
    assert loaded.images.dtype == np.uint8
    assert loaded.files == []
    assert loaded.skipped == [SkippedFile("a.jpg", "empty file (0 bytes)")]


def test_no_progress_bar_when_progress_is_false(folder, capsys):
    root, files = folder

    load_images(root, files, SIZE, progress=False)

    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_many_files_keep_their_order(tmp_path):
    shades = list(range(0, 250, 5))
    files = []
    for shade in shades:
        path = tmp_path / "gray" / f"{shade:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode(Image.new("L", (6, 6), shade), "png"))
        files.append(LabelledFile(f"gray/{shade:03d}.png", "gray"))

    loaded = load_images(tmp_path, files, 4, progress=False)

    assert [int(image[0, 0, 0]) for image in loaded.images] == shades



def test_each_kept_file_has_the_sha256_of_its_bytes_and_an_absolute_path_reads_as_itself(folder, tmp_path_factory):
    root, files = folder
    elsewhere = write_image(tmp_path_factory.mktemp("elsewhere") / "hot" / "red.png", size=(10, 20), color=RED)

    loaded = load_images(root, [*files, LabelledFile(elsewhere.as_posix(), "warm")], SIZE, progress=False)

    assert len(loaded.digests) == len(loaded.files) == 4
    for item, digest in zip(loaded.files, loaded.digests):
        assert digest == hashlib.sha256((root / item.path).read_bytes()).hexdigest(), item.path
    assert loaded.digests[-1] == loaded.digests[0]  # the same bytes in two places
