"""Batch inputs: list the image files below a folder or a pyarrow filesystem URI, and read one file's bytes."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import pyarrow as pa
import pyarrow.fs as pafs
from pyarrow.lib import ArrowException

from imgclf.batch.roots import AllowedRoots
from imgclf.config import DecodeLimits
from imgclf.data.scan import is_image_name
from imgclf.errors import ConfigError, DatasetError, ImageDecodeError, ImageTooLargeError, InputNotAllowedError

IS_A_FOLDER = "it is a folder"
NOT_A_REGULAR_FILE = "not a regular file (a FIFO, socket or device)"  # opening a FIFO to read would block forever
NOT_A_FILE = {pafs.FileType.Directory: IS_A_FOLDER, pafs.FileType.Unknown: NOT_A_REGULAR_FILE}


class ListedFile(NamedTuple):
    """One input file. `shown` is its output row's `path`: what the user wrote, with the bytes of a name that is
    not UTF-8 as \\xNN escapes; `source` is its filesystem path as bytes, so such a file is still read."""

    shown: str
    source: bytes


@dataclass(frozen=True)
class Location:
    """A folder on some filesystem; `prefix` turns a filesystem path back into what the user wrote (a URI)."""

    filesystem: pafs.FileSystem
    base: str
    prefix: str = ""

    @classmethod
    def parse(cls, where: str) -> Location:
        """A local path (relative paths made absolute) or a URI such as file:///data, s3://bucket/images."""
        if "://" not in where:
            return cls(pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(where)))
        try:
            filesystem, base = pafs.FileSystem.from_uri(where)
        except (ArrowException, OSError, ValueError) as exc:
            raise ConfigError(f"cannot open {where}: {exc}") from exc
        return cls(filesystem, base.rstrip("/") or "/", where.split("://", 1)[0] + "://")

    @property
    def is_local(self) -> bool:
        return isinstance(self.filesystem, pafs.LocalFileSystem)

    def shown(self, path: str) -> str:
        """How a filesystem path appears in output rows and messages."""
        return self.prefix + path if self.prefix and not path.startswith(self.prefix) else path

    def is_folder(self) -> bool:
        try:
            return self.filesystem.get_file_info(self.base).type == pafs.FileType.Directory
        except (ArrowException, OSError):
            return False


def require_folder(location: Location) -> None:
    if not location.is_folder():
        raise DatasetError(f"input {location.shown(location.base)} does not exist or is not a folder")


def list_images(location: Location) -> list[ListedFile]:
    """Every image file below the folder, recursively (hidden files and folders left out), sorted by shown path.

    Raises DatasetError when the folder does not exist or holds no image files.
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
    looping one gets an error row)."""
    found = []
    for folder, subfolders, names in os.walk(base):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        found.extend(os.path.join(folder, name) for name in names if is_image_name(name))
    return found


def walk_remote(location: Location) -> list[str]:
    base = location.base.rstrip("/") + "/"
    return [
        info.path
        for info in list_folder(location, recursive=True, what="input")
        if info.type == pafs.FileType.File
        and is_image_name(info.base_name)
        and not any(part.startswith(".") for part in info.path[len(base) :].split("/"))
    ]


def list_folder(location: Location, *, recursive: bool, what: str) -> list[pafs.FileInfo]:
    """The entries below the folder (none when it does not exist); a listing failure is a ConfigError naming it."""
    selector = pafs.FileSelector(location.base, recursive=recursive, allow_not_found=True)
    try:
        return location.filesystem.get_file_info(selector)
    except (ArrowException, OSError) as exc:
        raise ConfigError(f"cannot list {what} {location.shown(location.base)}: {exc}") from exc


def read_file(location: Location, file: ListedFile, limits: DecodeLimits,
              roots: AllowedRoots = AllowedRoots()) -> bytes:
    """One file's bytes, refusing files over the byte limit (or, for local files, resolving outside the allowed
    roots) before reading; ImageDecodeError names the cause."""
    if location.is_local:
        return read_local(file, limits, roots)
    path = file.source.decode("utf-8")
    try:
        info = location.filesystem.get_file_info(path)
        if info.type in NOT_A_FILE:
            raise ImageDecodeError(file.shown, f"cannot read file: {NOT_A_FILE[info.type]}")
        check_size(file, info.size, limits)
        with location.filesystem.open_input_stream(path) as stream:
            return stream.read()
    except (ArrowException, OSError) as exc:
        raise ImageDecodeError(file.shown, f"cannot read file: {exc}") from exc


def read_local(file: ListedFile, limits: DecodeLimits, roots: AllowedRoots) -> bytes:
    path = os.fsdecode(file.source)
    if roots:
        real = os.path.realpath(path)
        if not roots.holds(real):
            raise InputNotAllowedError(file.shown, roots.refusal(path, "file"))
        path = real  # open what was checked
    try:
        # O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer; fstat then refuses it.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ImageDecodeError(file.shown, f"cannot read file: {exc.strerror}") from exc
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            kind = IS_A_FOLDER if stat.S_ISDIR(info.st_mode) else NOT_A_REGULAR_FILE
            raise ImageDecodeError(file.shown, f"cannot read file: {kind}")
        check_size(file, info.st_size, limits)
        with open(descriptor, "rb", closefd=False) as handle:
            data = handle.read(limits.max_bytes + 1)
    except OSError as exc:
        raise ImageDecodeError(file.shown, f"cannot read file: {exc.strerror}") from exc
    finally:
        os.close(descriptor)
    check_size(file, len(data), limits)  # it grew after fstat
    return data


def check_size(file: ListedFile, size: int | None, limits: DecodeLimits) -> None:
    if size is not None and size > limits.max_bytes:
        raise ImageTooLargeError(file.shown, f"{size} bytes exceeds the limit of {limits.max_bytes} bytes")
