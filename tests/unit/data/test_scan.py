"""scan_folder: one folder per class, image files found recursively, sorted; DatasetError for unusable folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgclf.data.scan import IMAGE_SUFFIXES, LabelledFile, is_image_name, scan_folder
from imgclf.errors import DatasetError
from utils.images import write_image


def touch(root: Path, *relative: str) -> None:
    for name in relative:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")  # scanning looks at names only


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    touch(
        tmp_path,
        "dog/b.jpg",
        "dog/a.PNG",
        "dog/puppies/deeper/c.JPG",
        "dog/notes.txt",
        "dog/.hidden.jpg",
        "dog/.thumbs/d.jpg",
        "dog/e.jpeg",
        "cat/x.gif",
        "cat/y.bmp",
        "cat/sub/z.WebP",
        "cat/readme.md",
        "cat/archive.jpg.zip",
        "loose.jpg",  # not inside a class folder
        ".git/objects/f.png",  # hidden folder is not a class
    )
    return tmp_path


def test_classes_are_first_level_folders_sorted(dataset):
    classes, _ = scan_folder(dataset)

    assert classes == ["cat", "dog"]


def test_files_are_found_recursively_sorted_and_labelled(dataset):
    _, files = scan_folder(dataset)

    assert files == [
        LabelledFile("cat/sub/z.WebP", "cat"),
        LabelledFile("cat/x.gif", "cat"),
        LabelledFile("cat/y.bmp", "cat"),
        LabelledFile("dog/a.PNG", "dog"),
        LabelledFile("dog/b.jpg", "dog"),
        LabelledFile("dog/e.jpeg", "dog"),
        LabelledFile("dog/puppies/deeper/c.JPG", "dog"),
    ]


def test_paths_are_relative_posix_and_resolve_under_the_root(dataset):
    _, files = scan_folder(str(dataset))

    for item in files:
        assert not Path(item.path).is_absolute()
        assert "\\" not in item.path
        assert (dataset / item.path).is_file()
        assert item.path.split("/")[0] == item.label


@pytest.mark.parametrize("suffix", sorted(IMAGE_SUFFIXES))
@pytest.mark.parametrize("case", [str.lower, str.upper, str.title])
def test_image_suffixes_are_case_insensitive(suffix, case):
    assert is_image_name("photo" + case(suffix))


@pytest.mark.parametrize("name", [".hidden.jpg", "notes.txt", "photo.tiff", "jpg", "photo.jpg.bak", "photo"])
def test_non_images_and_hidden_files_are_not_image_names(name):
    assert not is_image_name(name)


def test_scan_works_on_real_images(tmp_path):
    write_image(tmp_path / "red" / "1.png", color=(255, 0, 0))
    write_image(tmp_path / "blue" / "1.jpg", color=(0, 0, 255))

    classes, files = scan_folder(tmp_path)

    assert classes == ["blue", "red"]
    assert [f.path for f in files] == ["blue/1.jpg", "red/1.png"]


def test_missing_folder_raises_naming_it(tmp_path):
    missing = tmp_path / "no-such-data"

    with pytest.raises(DatasetError, match="does not exist") as info:
        scan_folder(missing)

    assert str(missing) in str(info.value)


def test_a_file_instead_of_a_folder_raises_naming_it(tmp_path):
    path = tmp_path / "data.zip"
    path.write_bytes(b"PK")

    with pytest.raises(DatasetError, match="not a folder") as info:
        scan_folder(path)

    assert str(path) in str(info.value)


@pytest.mark.parametrize("class_folders", [[], ["only"]])
def test_fewer_than_two_classes_raises(tmp_path, class_folders):
    for name in class_folders:
        touch(tmp_path, f"{name}/a.png")
    touch(tmp_path, "loose.png", ".hidden/b.png")

    with pytest.raises(DatasetError, match=f"at least 2 class folders.*found {len(class_folders)}") as info:
        scan_folder(tmp_path)

    assert str(tmp_path) in str(info.value)


@pytest.mark.parametrize(
    "contents",
    [[], ["notes.txt"], [".hidden.png"], [".cache/a.png"], ["sub/readme.md"]],
    ids=["empty", "text-only", "hidden-file", "hidden-subfolder", "nested-text"],
)
def test_class_folder_without_images_raises_naming_it(tmp_path, contents):
    touch(tmp_path, "good/a.png")
    (tmp_path / "empty").mkdir()
    touch(tmp_path, *(f"empty/{name}" for name in contents))

    with pytest.raises(DatasetError, match="holds no image files") as info:
        scan_folder(tmp_path)

    assert str(tmp_path / "empty") in str(info.value)


def test_a_published_split_is_read_as_one_pool_of_its_classes(tmp_path):
    touch(tmp_path, "train/ants/a.jpg", "train/bees/b.jpg", "val/ants/c.jpg", "val/bees/d.jpg", "test/bees/e.jpg")
    classes, files = scan_folder(tmp_path)
    assert classes == ["ants", "bees"]
    assert files == [LabelledFile("train/ants/a.jpg", "ants"), LabelledFile("val/ants/c.jpg", "ants"),
                     LabelledFile("test/bees/e.jpg", "bees"), LabelledFile("train/bees/b.jpg", "bees"),
                     LabelledFile("val/bees/d.jpg", "bees")]


def test_a_class_named_like_a_split_beside_other_classes_stays_a_class(tmp_path):
    touch(tmp_path, "train/a.jpg", "boat/b.jpg")
    classes, _ = scan_folder(tmp_path)
    assert classes == ["boat", "train"]
