"""What a registry version holds, and the local copies of a remote registry's versions that follow it.

A version's manifest (`.manifest.json` in its folder) lists its files with their sizes under an id that each
publish into the version (`register`, `add_to_version`) renews. A local copy keeps the manifest it was downloaded
by; `fresh_copy` downloads the version anew when the registry's manifest differs, so a variant published from one
machine reaches the copies on every other. A version registered before manifests existed is described by a listing
of its files (path and size) instead, and is downloaded anew when that listing changes.

Names starting with "." are the registry's own (the manifest, uploads in progress, retired copies), never a
version's files.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
from pyarrow.lib import ArrowException

from imgclf.storage import join_path, path_exists

MANIFEST_FILE = ".manifest.json"
DOWNLOAD_ATTEMPTS = 3  # a publish that moves files while a copy downloads them: the copy starts over

Manifest = dict[str, Any]  # {"publish": an id, or None for a listing; "files": {relative path: size}}


def is_version_file(relative: str) -> bool:
    return not any(part.startswith(".") for part in relative.split("/"))


def listed_files(fs: pafs.FileSystem, folder: str) -> dict[str, int]:
    """Relative path -> size of every version file below `folder`, sorted."""
    prefix = folder.rstrip("/") + "/"
    infos = fs.get_file_info(pafs.FileSelector(folder, recursive=True))
    files = {info.path[len(prefix) :]: info.size for info in infos if info.type == pafs.FileType.File}
    return {path: size for path, size in sorted(files.items()) if is_version_file(path)}


def new_manifest(fs: pafs.FileSystem, folder: str) -> Manifest:
    """The manifest of what `folder` holds now, under a new publish id."""
    return {"publish": uuid.uuid4().hex, "files": listed_files(fs, folder)}


def write_manifest(fs: pafs.FileSystem, folder: str, manifest: Manifest) -> None:
    """Written under a temporary name, then moved over the old one: a reader sees the old or the new."""
    tmp = join_path(folder, f".manifest-{uuid.uuid4().hex}.tmp")
    with fs.open_output_stream(tmp) as out:
        out.write(json.dumps(manifest, indent=1).encode())
    fs.move(tmp, join_path(folder, MANIFEST_FILE))


def stored_manifest(fs: pafs.FileSystem, folder: str) -> Manifest:
    """The version's manifest; for a version without one, its listing."""
    path = join_path(folder, MANIFEST_FILE)
    if not path_exists(fs, path):
        return {"publish": None, "files": listed_files(fs, folder)}
    with fs.open_input_stream(path) as stream:
        return json.loads(stream.read())


def held_manifest(copy: Path) -> Manifest | None:
    """The manifest a local copy was downloaded by; None for no copy (or one made before manifests)."""
    try:
        return json.loads((copy / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None


def fresh_copy(fs: pafs.FileSystem, source: str, target: Path, attempts: int = DOWNLOAD_ATTEMPTS) -> Path:
    """`target`, holding the version at `source` as its manifest lists it now: kept when it does, else downloaded
    anew and swapped in."""
    wanted = stored_manifest(fs, source)
    if held_manifest(target) != wanted:
        try:
            download(fs, source, wanted, target)
        except (OSError, ArrowException):
            if attempts <= 1 or stored_manifest(fs, source) == wanted:
                raise  # a real failure, not files moved by a publish meanwhile
            return fresh_copy(fs, source, target, attempts - 1)
    return target


def download(fs: pafs.FileSystem, source: str, manifest: Manifest, target: Path) -> None:
    """The manifest's files, and the manifest, into a new folder that then takes `target`'s place."""
    tmp = target.parent / f".tmp-{uuid.uuid4().hex}"
    try:
        tmp.mkdir(parents=True)
        for relative in manifest["files"]:
            destination = tmp / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            with fs.open_input_stream(join_path(source, relative)) as reader, destination.open("wb") as writer:
                shutil.copyfileobj(reader, writer, 1 << 20)
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1))
        swap_in(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def swap_in(folder: Path, target: Path) -> None:
    """Move `folder` to `target`, deleting the copy there (a process reading it keeps the files it opened)."""
    retired = target.parent / f".old-{uuid.uuid4().hex}"
    with contextlib.suppress(FileNotFoundError):
        target.rename(retired)
    try:
        folder.rename(target)
    except OSError:
        if not target.is_dir():  # else another process swapped its fresh copy in first
            raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)
