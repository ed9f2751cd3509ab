"""Listing and reading batch inputs: local folders and pyarrow URIs, hidden files, symlink loops, non-UTF-8 names,
size limits, FIFOs and allowed roots."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import pyarrow.fs as pafs
import pytest

from imgclf.batch.inputs import ListedFile, list_images, read_file
from imgclf.storage import Location
from imgclf.batch.roots import AllowedRoots
from imgclf.config import DecodeLimits
from imgclf.errors import DatasetError, ImageDecodeError, ImageTooLargeError, InputNotAllowedError
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
    assert [file.shown for file in listed] == [str(image_tree / p) for p in ("a.png", "cats/b.JPG", "cats/deep/er/c.webp")]
    assert [file.source for file in listed] == [os.fsencode(file.shown) for file in listed]


def test_relative_input_is_listed_as_absolute_paths(image_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(image_tree.parent)
    assert list_images(Location.parse("images"))[0].shown == str(image_tree / "a.png")


def test_uri_input_lists_uris_that_read_back(image_tree: Path) -> None:
    location = Location.parse(f"file://{image_tree}")
    listed = list_images(location)
    assert listed[0].shown == f"file://{image_tree}/a.png"
    assert read_file(location, listed[0], DecodeLimits()) == (image_tree / "a.png").read_bytes()


def test_symlink_loop_ends_and_linked_files_are_listed(image_tree: Path) -> None:
    os.symlink(image_tree, image_tree / "cats" / "loop")
    os.symlink(image_tree / "a.png", image_tree / "link.png")
    listed = [file.shown for file in list_images(Location.parse(str(image_tree)))]
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


def local_file(path: Path | str) -> ListedFile:
    return ListedFile(str(path), os.fsencode(path))


def test_a_non_utf8_name_is_listed_with_escapes_and_read_by_its_bytes(tmp_path: Path) -> None:
    name = os.path.join(os.fsencode(tmp_path), b"caf\xe9.png")
    with open(name, "wb") as handle:
        handle.write(b"image bytes")
    (listed,) = list_images(Location.parse(str(tmp_path)))
    assert listed.shown == f"{tmp_path}/caf\\xe9.png"
    assert listed.shown.encode("utf-8")  # a valid Parquet string
    assert listed.source == name
    assert read_file(Location.parse(str(tmp_path)), listed, DecodeLimits()) == b"image bytes"


@pytest.mark.parametrize("where", ["local", "remote"])
def test_file_over_the_byte_limit_is_refused_before_reading(image_tree: Path, where: str) -> None:
    path = str(image_tree / "a.png")
    size = os.path.getsize(path)
    location = Location.parse(str(image_tree))
    if where == "remote":  # a filesystem that is not LocalFileSystem is read through pyarrow, as s3:// would be
        location = Location(pafs.SubTreeFileSystem("/", pafs.LocalFileSystem()), str(image_tree), "sub://")
    with pytest.raises(ImageTooLargeError, match=f"{size} bytes exceeds the limit of {size - 1} bytes"):
        read_file(location, local_file(path), DecodeLimits(max_bytes=size - 1))


@pytest.mark.parametrize("entry, cause", [("cats", "it is a folder"), ("fifo.png", "not a regular file"),
                                          ("missing.png", "No such file or directory")])
def test_an_entry_that_is_no_readable_file_is_a_decode_error_naming_it(image_tree: Path, entry: str,
                                                                        cause: str) -> None:
    os.mkfifo(image_tree / "fifo.png")  # opening it for reading must not wait for a writer
    path = str(image_tree / entry)
    with pytest.raises(ImageDecodeError, match=f"cannot read file: {cause}") as raised:
        read_file(Location.parse(str(image_tree)), local_file(path), DecodeLimits())
    assert raised.value.source == path


def test_a_symlink_out_of_the_allowed_roots_is_refused_and_one_inside_is_read(image_tree: Path,
                                                                             tmp_path: Path) -> None:
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"secret")
    os.symlink(outside, image_tree / "out.png")
    os.symlink(image_tree / "a.png", image_tree / "in.png")
    location, roots = Location.parse(str(image_tree)), AllowedRoots.resolve([str(image_tree)])
    with pytest.raises(InputNotAllowedError, match=f"resolves to {outside}.*outside the allowed roots {image_tree}"):
        read_file(location, local_file(image_tree / "out.png"), DecodeLimits(), roots)
    assert read_file(location, local_file(image_tree / "in.png"), DecodeLimits(), roots) == (image_tree / "a.png").read_bytes()
    assert read_file(location, local_file(image_tree / "out.png"), DecodeLimits()) == b"secret"  # no roots: no limit


NOBODY = 65534


def as_nobody(action: Callable[[], str]) -> str:
    """What `action` returns when run without root's power to read any file: as root, in a forked child that
    switched to uid/gid 65534 first."""
    if os.geteuid() != 0:
        return action()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, report, exit without running pytest's cleanup
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(write_end, action().encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as answer:
        return answer.read().decode()


def read_error(location: Location, file: ListedFile) -> str:
    """The cause read_file gives for `file`, read as nobody."""
    def cause() -> str:
        try:
            read_file(location, file, DecodeLimits())
        except ImageDecodeError as exc:
            return exc.cause
        return "read"

    return as_nobody(cause)


def test_an_unreadable_file_is_a_decode_error_naming_permission_denied() -> None:
    folder = Path(tempfile.mkdtemp(prefix="imgclf-unreadable-"))  # not below pytest's 0700 temp folders
    try:
        folder.chmod(0o755)
        write_image(folder / "locked.png")
        (folder / "locked.png").chmod(0)
        location = Location.parse(str(folder))
        (listed,) = list_images(location)
        assert read_error(location, listed) == "cannot read file: Permission denied"
    finally:
        shutil.rmtree(folder)


def test_a_folder_that_cannot_be_listed_is_a_dataset_error_naming_it() -> None:
    folder = Path(tempfile.mkdtemp(prefix="imgclf-unlistable-"))  # not below pytest's 0700 temp folders
    locked = folder / "locked"
    try:
        folder.chmod(0o755)
        write_image(folder / "open.png")
        locked.mkdir()
        write_image(locked / "unseen.png")
        locked.chmod(0)

        def listing() -> str:
            try:
                return f"listed {len(list_images(Location.parse(str(folder))))}"
            except DatasetError as exc:
                return str(exc)

        assert as_nobody(listing) == f"cannot list input folder {locked}: Permission denied"
    finally:
        locked.chmod(0o755)
        shutil.rmtree(folder)
