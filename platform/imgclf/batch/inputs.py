"""Batch inputs: list the image files below a folder or a pyarrow filesystem URI, and read one file's bytes."""

from __future__ import annotations

import os
from typing import NamedTuple, Sequence

import pyarrow as pa
import pyarrow.fs as pafs

from imgclf.batch.roots import AllowedRoots
from imgclf.config import DecodeLimits
from imgclf.data.scan import is_image_name
from imgclf.errors import DatasetError, InputNotAllowedError
from imgclf.storage import Location, read_limited

class ListedFile(NamedTuple):
    """One input file. `shown` is its output row's `path`: what the user wrote, with the bytes of a name that is
    not UTF-8 as \\xNN escapes; `source` is its filesystem path as bytes, so such a file is still read."""

    shown: str
    source: bytes


def require_folder(location: Location) -> None:
    if not location.is_folder():
        raise DatasetError(f"input {location.shown(location.base)} does not exist or is not a folder")


def list_images(location: Location) -> list[ListedFile]:
    """Every image file below the folder, recursively (hidden files and folders left out), sorted by shown path.

    Raises DatasetError when the folder does not exist, holds no image files or has a folder that cannot be listed.
    """
    require_folder(location)
    paths = walk_local(location.base) if location.is_local else walk_remote(location)
    if not paths:
        raise DatasetError(f"input {location.shown(location.base)} holds no image files")
    return sorted(ListedFile(location.shown(printable(path)), os.fsencode(path)) for path in paths)


def files_table(files: Sequence[ListedFile]) -> pa.Table:
    """Listed files as the model actors receive them: `path` (string) and `source` (binary) columns."""
    return pa.table({"path": pa.array([file.shown for file in files], pa.string()),
                     "source": pa.array([file.source for file in files], pa.binary())})


def files_of(table: pa.Table) -> list[ListedFile]:
    """The inverse of files_table."""
    return [ListedFile(*row) for row in zip(table.column("path").to_pylist(), table.column("source").to_pylist())]


def printable(path: str) -> str:
    """The path as UTF-8 text: bytes that os.walk could not decode (surrogate escapes) become \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def walk_local(base: str) -> list[str]:
    """os.walk does not follow symlinked folders, so symlink loops end; symlinked files are listed (a dangling or
    looping one gets an error row). A folder that cannot be listed is a DatasetError: its images would be lost."""
    def refuse(error: OSError) -> None:
        raise DatasetError(f"cannot list input folder {printable(str(error.filename))}: {error.strerror or error}")

    found = []
    for folder, subfolders, names in os.walk(base, onerror=refuse):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        found.extend(os.path.join(folder, name) for name in names if is_image_name(name))
    return found


def walk_remote(location: Location) -> list[str]:
    base = location.base.rstrip("/") + "/"
    return [
        info.path
        for info in location.entries(recursive=True, what="input")
        if info.type == pafs.FileType.File
        and is_image_name(info.base_name)
        and not any(part.startswith(".") for part in info.path[len(base) :].split("/"))
    ]


def read_file(location: Location, file: ListedFile, limits: DecodeLimits,
              roots: AllowedRoots = AllowedRoots()) -> bytes:
    """One file's bytes, refusing files over the byte limit (or, for local files, resolving outside the allowed
    roots) before reading; ImageDecodeError names the cause."""
    if not location.is_local:
        return read_limited(location, file.source.decode("utf-8"), file.shown, max_bytes=limits.max_bytes)
    path = os.fsdecode(file.source)
    if roots:
        real = os.path.realpath(path)
        if not roots.holds(real):
            raise InputNotAllowedError(file.shown, roots.refusal(path, "file"))
        path = real  # open what was checked
    return read_limited(location, path, file.shown, max_bytes=limits.max_bytes)
