"""Batch inputs: list the image files below a folder or a pyarrow filesystem URI, and read one file's bytes."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import pyarrow.fs as pafs
from pyarrow.lib import ArrowException

from imgclf.config import DecodeLimits
from imgclf.data.scan import is_image_name
from imgclf.errors import ConfigError, DatasetError, ImageDecodeError, ImageTooLargeError

LOG = logging.getLogger("imgclf.batch")
# What read_file says instead of opening a listed path that is no regular file (opening a FIFO blocks forever).
NOT_A_FILE = {
    pafs.FileType.Directory: "it is a folder",
    pafs.FileType.Unknown: "not a regular file (a FIFO, socket or device)",
}


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

    def filesystem_path(self, shown: str) -> str:
        return shown[len(self.prefix) :] if self.prefix and shown.startswith(self.prefix) else shown

    def is_folder(self) -> bool:
        try:
            return self.filesystem.get_file_info(self.base).type == pafs.FileType.Directory
        except (ArrowException, OSError):
            return False


def list_images(location: Location) -> list[str]:
    """Every image file below the folder, recursively (hidden files and folders left out), sorted, as shown paths.

    Raises DatasetError when the folder does not exist or holds no image files.
    """
    if not location.is_folder():
        raise DatasetError(f"input {location.shown(location.base)} does not exist or is not a folder")
    paths = sorted(walk_local(location.base) if location.is_local else walk_remote(location))
    if not paths:
        raise DatasetError(f"input {location.shown(location.base)} holds no image files")
    return [location.shown(path) for path in paths]


def walk_local(base: str) -> list[str]:
    """os.walk does not follow symlinked folders, so symlink loops end; symlinked files are listed (a dangling or
    looping one gets an error row). Names that are not valid UTF-8 cannot be Parquet `path` strings: they are left
    out, with a warning naming them."""
    found, undecodable = [], []
    for folder, subfolders, names in os.walk(base):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        for path in (os.path.join(folder, name) for name in names if is_image_name(name)):
            (found if is_utf8(path) else undecodable).append(path)
    if undecodable:
        named = ", ".join(os.fsencode(path).decode("utf-8", "backslashreplace") for path in undecodable[:5])
        LOG.warning("left out %d file(s) whose names are not valid UTF-8: %s%s", len(undecodable), named,
                    ", ..." if len(undecodable) > 5 else "")
    return found


def is_utf8(path: str) -> bool:
    """False for names os.walk decoded with surrogate escapes (bytes that are not UTF-8)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def walk_remote(location: Location) -> list[str]:
    selector = pafs.FileSelector(location.base, recursive=True)
    try:
        infos = location.filesystem.get_file_info(selector)
    except (ArrowException, OSError) as exc:
        raise DatasetError(f"cannot list {location.shown(location.base)}: {exc}") from exc
    base = location.base.rstrip("/") + "/"
    return [
        info.path
        for info in infos
        if info.type == pafs.FileType.File
        and is_image_name(info.base_name)
        and not any(part.startswith(".") for part in info.path[len(base) :].split("/"))
    ]


def read_file(location: Location, shown: str, limits: DecodeLimits) -> bytes:
    """One file's bytes, refusing files over the byte limit before reading; ImageDecodeError names the cause."""
    path = location.filesystem_path(shown)
    try:
        info = location.filesystem.get_file_info(path)
        if info.type in NOT_A_FILE:
            raise ImageDecodeError(shown, f"cannot read file: {NOT_A_FILE[info.type]}")
        size = info.size
        if size is not None and size > limits.max_bytes:
            raise ImageTooLargeError(shown, f"{size} bytes exceeds the limit of {limits.max_bytes} bytes")
        with location.filesystem.open_input_stream(path) as stream:
            return stream.read()
    except (ArrowException, OSError) as exc:
        raise ImageDecodeError(shown, f"cannot read file: {exc}") from exc
