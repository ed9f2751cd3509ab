"""Where imgclf reads and writes: a local path or a pyarrow filesystem URI (file://, s3://, gs://, hdfs://...),
and the one reader of a file's bytes under a size limit.

    location = Location.parse("s3://bucket/images")     # or a local folder, made absolute
    data = read_limited(location, path, shown, max_bytes=limits.max_bytes)
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass

import pyarrow.fs as pafs
from pyarrow.lib import ArrowException

from imgclf.errors import ConfigError, ImageDecodeError, ImageTooLargeError

IS_A_FOLDER = "it is a folder"
NOT_A_REGULAR_FILE = "not a regular file (a FIFO, socket or device)"  # opening a FIFO to read would block forever
NOT_A_FILE = {pafs.FileType.Directory: IS_A_FOLDER, pafs.FileType.Unknown: NOT_A_REGULAR_FILE}
LOCAL = pafs.LocalFileSystem()


def is_uri(where: str) -> bool:
    return "://" in where


def absolute(where: str) -> str:
    """A local path made absolute (`~` expanded); a URI as it is."""
    return where if is_uri(where) else os.path.abspath(os.path.expanduser(where))


def scheme_prefix(where: str) -> str:
    """`s3://` for `s3://bucket/x`; "" for a local path."""
    return where.split("://", 1)[0] + "://" if is_uri(where) else ""


def filesystem_of(where: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem and the path on it; raises pyarrow's or the OS's error for a URI that cannot be opened."""
    if not is_uri(where):
        return LOCAL, absolute(where)
    filesystem, path = pafs.FileSystem.from_uri(where)
    return filesystem, path.rstrip("/") or "/"


@dataclass(frozen=True)
class Location:
    """A folder on some filesystem; `prefix` turns a filesystem path back into what the user wrote (a URI)."""

    filesystem: pafs.FileSystem
    base: str
    prefix: str = ""

    @classmethod
    def parse(cls, where: str) -> Location:
        """A local path (relative paths made absolute) or a URI such as file:///data, s3://bucket/images."""
        try:
            filesystem, base = filesystem_of(where)
        except (ArrowException, OSError, ValueError) as exc:
            raise ConfigError(f"cannot open {where}: {exc}") from exc
        return cls(filesystem, base, scheme_prefix(where))

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

    def entries(self, *, recursive: bool, what: str) -> list[pafs.FileInfo]:
        """The entries below the folder (none when it does not exist); a listing failure is a ConfigError naming
        `what` and the folder."""
        selector = pafs.FileSelector(self.base, recursive=recursive, allow_not_found=True)
        try:
            return self.filesystem.get_file_info(selector)
        except (ArrowException, OSError) as exc:
            raise ConfigError(f"cannot list {what} {self.shown(self.base)}: {exc}") from exc


def read_limited(location: Location, path: str, shown: str, *, max_bytes: int) -> bytes:
    """The bytes of the file at `path`, refused when over `max_bytes` before it is read; ImageDecodeError (naming
    `shown`) for a file that cannot be read, is no regular file or is too large."""
    if location.is_local:
        return read_local(path, shown, max_bytes=max_bytes)
    try:
        info = location.filesystem.get_file_info(path)
        if info.type in NOT_A_FILE:
            raise ImageDecodeError(shown, f"cannot read file: {NOT_A_FILE[info.type]}")
        check_size(shown, info.size, max_bytes)
        with location.filesystem.open_input_stream(path) as stream:
            data = stream.read(max_bytes + 1)
    except (ArrowException, OSError) as exc:
        raise ImageDecodeError(shown, f"cannot read file: {exc}") from exc
    check_size(shown, len(data), max_bytes)  # the filesystem did not say the size, or it grew since
    return data


def read_local(path: str | os.PathLike[str], shown: str, *, max_bytes: int) -> bytes:
    try:
        # O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer; fstat then refuses it.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ImageDecodeError(shown, f"cannot read file: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            kind = IS_A_FOLDER if stat.S_ISDIR(info.st_mode) else NOT_A_REGULAR_FILE
            raise ImageDecodeError(shown, f"cannot read file: {kind}")
        check_size(shown, info.st_size, max_bytes)
        with open(descriptor, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ImageDecodeError(shown, f"cannot read file: {exc.strerror or exc}") from exc
    finally:
        os.close(descriptor)
    check_size(shown, len(data), max_bytes)  # it grew after fstat
    return data


def check_size(shown: str, size: int | None, max_bytes: int) -> None:
    if size is not None and size > max_bytes:
        raise ImageTooLargeError(shown, f"{size} bytes exceeds the limit of {max_bytes} bytes")


# --- folders on any filesystem (the registry's staging and publishing) ------------------------------------------


def join_path(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def path_exists(fs: pafs.FileSystem, path: str) -> bool:
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def move_tree(fs: pafs.FileSystem, src: str, dst: str) -> bool:
    """Move folder src to dst; False when dst already exists (a concurrent writer took it)."""
    if path_exists(fs, dst):
        return False
    try:
        fs.move(src, dst)
        return True
    except (OSError, ArrowException):
        if path_exists(fs, dst):
            return False
    # Object stores (S3, GCS) cannot move folders, only files.
    for info in fs.get_file_info(pafs.FileSelector(src, recursive=True)):
        if info.type == pafs.FileType.File:
            target = dst + info.path[len(src.rstrip("/")) :]
            fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
            fs.move(info.path, target)
    fs.delete_dir(src)
    return True


def copy_tree(source_fs: pafs.FileSystem, source: str, target_fs: pafs.FileSystem, target: str) -> None:
    """Copy every file below `source` to the same relative path below `target`, one file at a time."""
    prefix = source.rstrip("/") + "/"
    infos = source_fs.get_file_info(pafs.FileSelector(source, recursive=True))
    for info in sorted((i for i in infos if i.type == pafs.FileType.File), key=lambda i: i.path):
        destination = join_path(target, info.path[len(prefix) :])
        target_fs.create_dir(destination.rsplit("/", 1)[0], recursive=True)
        with source_fs.open_input_stream(info.path) as reader, target_fs.open_output_stream(destination) as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
