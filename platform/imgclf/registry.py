"""Model registry: versioned artifact folders `<root>/<name>/<version>/` with alias files, on any pyarrow filesystem.

Layout under the root (a local path or a URI such as `file:///abs`, `s3://bucket/prefix`, `gs://...`):

    <name>/<version>/...           one folder per version, versions "1", "2", ...; add_to_version publishes
                                   more into it (compiled variants)
    <name>/<version>/.manifest.json
                                   the version's files and a publish id, renewed by each publish: the cached
                                   copies of a remote registry follow it (registry_cache.py)
    <name>/aliases/<alias>         a small text file holding a version (`latest` moves on every register)
    <name>/.staging-<host>-<pid>-<uuid>/, <name>/<version>/.../.retired-<host>-<pid>-<uuid>/
                                   an upload in progress, an older copy being replaced; never listed. One left by
                                   a process that was killed is deleted by the next publish there from the same host.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pyarrow.fs as pafs
from pyarrow.lib import ArrowException

from imgclf.errors import ConfigError, ModelNotFoundError, RegistryError
from imgclf.registry_cache import fresh_copy, new_manifest, write_manifest
from imgclf.storage import LOCAL, copy_tree, filesystem_of, join_path, move_tree, path_exists, scheme_prefix

MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"
LATEST = "latest"
DEFAULT_CACHE_DIR = Path("~/.cache/imgclf/registry")
_VERSION_RE = re.compile(r"^[1-9][0-9]*$")
_SCRATCH_KINDS = ("staging", "retired")  # folders of a publish in progress: see the layout above
_MAX_PUBLISH_ATTEMPTS = 100


def check_model_name(name: Any) -> None:
    if not isinstance(name, str) or not re.match(MODEL_NAME_PATTERN, name):
        raise ConfigError(f"model name must match {MODEL_NAME_PATTERN} (lowercase); got {name!r}")


def check_alias(alias: Any) -> None:
    if not isinstance(alias, str) or not re.match(MODEL_NAME_PATTERN, alias) or alias.isdigit():
        raise ConfigError(f"alias must match {MODEL_NAME_PATTERN} and not be all digits; got {alias!r}")


@dataclass(frozen=True)
class ModelRef:
    """A model name with a version number or alias; version None means `latest`."""

    name: str
    version: str | None = None

    def __post_init__(self) -> None:
        check_model_name(self.name)
        if self.version is not None and not re.match(MODEL_NAME_PATTERN, str(self.version)):
            raise ConfigError(f"model version must be a number or an alias; got {self.version!r}")

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse `name`, `name:3` or `name:alias`."""
        name, sep, version = text.partition(":") if isinstance(text, str) else ("", "", "")
        if not name or (sep and not version) or ":" in version:
            raise ConfigError(f"model reference must look like 'name', 'name:3' or 'name:alias'; got {text!r}")
        return cls(name, version or None)

    def __str__(self) -> str:
        return f"{self.name}:{self.version or LATEST}"


@contextlib.contextmanager
def _io(path: str) -> Iterator[None]:
    """Turn filesystem errors into RegistryError naming the path."""
    try:
        yield
    except (OSError, ArrowException) as exc:
        raise RegistryError(f"model registry IO failed at {path}: {exc}") from exc


def _scratch_name(kind: str) -> str:
    """A folder name of this process's own, for one of _SCRATCH_KINDS."""
    return f".{kind}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}"


def _abandoned(name: str) -> bool:
    """Whether a folder name is the scratch folder of a process of this host that is gone."""
    match = re.match(rf"^\.(?:{'|'.join(_SCRATCH_KINDS)})-{re.escape(socket.gethostname())}-([0-9]+)-", name)
    return match is not None and not psutil.pid_exists(int(match.group(1)))


class Registry:
    """Versioned model artifacts under a local folder or a pyarrow filesystem URI."""

    def __init__(self, root: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] = DEFAULT_CACHE_DIR) -> None:
        self.root = os.fspath(root)
        self._shown_root = self.root.split("?")[0]  # URI query parameters may hold credentials
        self.cache_dir = Path(cache_dir).expanduser()
        with _io(self._shown_root):
            self._fs, self._base = filesystem_of(self.root)

    def __repr__(self) -> str:
        return f"Registry(root={self._shown_root!r})"

    @property
    def is_local(self) -> bool:
        return isinstance(self._fs, pafs.LocalFileSystem)

    def _path(self, *parts: str) -> str:
        return join_path(self._base, *parts)

    def _children(self, path: str, file_type: pafs.FileType) -> list[str]:
        """Base names of the entries of one type directly inside path (none if it does not exist)."""
        with _io(path):
            infos = self._fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
        return [info.base_name for info in infos if info.type == file_type]

    def _read_bytes(self, path: str) -> bytes:
        with _io(path), self._fs.open_input_stream(path) as stream:
            return stream.read()

    def list_models(self) -> list[str]:
        """Sorted names of the models that have at least one version."""
        names = self._children(self._base, pafs.FileType.Directory)
        return sorted(n for n in names if re.match(MODEL_NAME_PATTERN, n) and self.list_versions(n))

    def list_versions(self, name: str) -> list[str]:
        check_model_name(name)
        names = self._children(self._path(name), pafs.FileType.Directory)
        return sorted((n for n in names if _VERSION_RE.match(n)), key=int)

    def aliases(self, name: str) -> dict[str, str]:
        """Alias name -> version for one model."""
        check_model_name(name)
        folder = self._path(name, "aliases")
        files = self._children(folder, pafs.FileType.File)
        names = [n for n in files if re.match(MODEL_NAME_PATTERN, n) and not n.isdigit()]
        return {n: self._read_bytes(join_path(folder, n)).decode().strip() for n in sorted(names)}

    def register(self, name: str, artifact_dir: str | os.PathLike[str], *, aliases: Sequence[str] = ()) -> str:
        """Copy a local folder into the next version atomically, point `latest` (and aliases) at it; return the version."""
        check_model_name(name)
        for alias in aliases:
            check_alias(alias)
        source = Path(artifact_dir).resolve()
        if not source.is_dir() or not any(p.is_file() for p in source.rglob("*")):
            raise ConfigError(f"artifact_dir must be a folder holding at least one file; got {str(artifact_dir)!r}")
        self._delete_abandoned_staging(name)
        staging = self._path(name, _scratch_name("staging"))
        try:
            with _io(staging):
                self._fs.create_dir(staging, recursive=True)
                copy_tree(LOCAL, str(source), self._fs, staging)
                write_manifest(self._fs, staging, new_manifest(self._fs, staging))
                version = self._publish(name, staging)
        finally:
            with contextlib.suppress(OSError, ArrowException):
                if path_exists(self._fs, staging):
                    self._fs.delete_dir(staging)
        for alias in (LATEST, *aliases):
            self._write_alias(name, alias, version)
        return version

    def add_to_version(self, ref: str | ModelRef, folder: str, artifact_dir: str | os.PathLike[str]) -> str:
        """Publish a local folder as `folder` (e.g. `variants/openvino-int8`) inside a version, staged and moved
        into place like a version, then the version's manifest renewed; an older copy of that folder is replaced.
        Returns the published path."""
        name, version = self.resolve(ref)
        parts = folder.split("/")
        if any(not re.match(MODEL_NAME_PATTERN, part) for part in parts):
            raise ConfigError(f"folder must be a relative path of names matching {MODEL_NAME_PATTERN}; got {folder!r}")
        *parents, leaf = parts
        base = self._path(name, version, *parents)
        self._delete_abandoned_staging_below(base)
        staging, retired = join_path(base, _scratch_name("staging")), join_path(base, _scratch_name("retired"))
        target = join_path(base, leaf)
        try:
            with _io(staging):
                self._fs.create_dir(staging, recursive=True)
                copy_tree(LOCAL, str(Path(artifact_dir).resolve()), self._fs, staging)
                if path_exists(self._fs, target):
                    move_tree(self._fs, target, retired)
                if not move_tree(self._fs, staging, target):
                    raise RegistryError(f"{target} was published by another writer at the same time")
                version_folder = self._path(name, version)
                write_manifest(self._fs, version_folder, new_manifest(self._fs, version_folder))
        finally:
            with contextlib.suppress(OSError, ArrowException):
                for leftover in (staging, retired):
                    if path_exists(self._fs, leftover):
                        self._fs.delete_dir(leftover)
        return target

    def _delete_abandoned_staging(self, name: str) -> None:
        """Delete uploads left by killed registers on this host (their process is gone)."""
        self._delete_abandoned_staging_below(self._path(name))

    def _delete_abandoned_staging_below(self, folder: str) -> None:
        for child in filter(_abandoned, self._children(folder, pafs.FileType.Directory)):
            with contextlib.suppress(OSError, ArrowException):
                self._fs.delete_dir(join_path(folder, child))

    def _publish(self, name: str, staging: str) -> str:
        """Move a staged upload to the next free version number."""
        tried = 0
        for _ in range(_MAX_PUBLISH_ATTEMPTS):
            tried = max([tried, *map(int, self.list_versions(name))]) + 1
            if move_tree(self._fs, staging, self._path(name, str(tried))):
                return str(tried)
        raise RegistryError(f"no free version for {name!r} after {_MAX_PUBLISH_ATTEMPTS} attempts")

    def set_alias(self, name: str, alias: str, version: str) -> None:
        check_model_name(name)
        check_alias(alias)
        versions = self.list_versions(name)
        if str(version) not in versions:
            raise ModelNotFoundError(f"model {name!r} has no version {version!r}; versions: {_listing(versions)}")
        self._write_alias(name, alias, str(version))

    def _write_alias(self, name: str, alias: str, version: str) -> None:
        folder = self._path(name, "aliases")
        tmp = join_path(folder, f".tmp-{uuid.uuid4().hex}")
        with _io(join_path(folder, alias)):
            self._fs.create_dir(folder, recursive=True)
            with self._fs.open_output_stream(tmp) as out:
                out.write(version.encode())
            self._fs.move(tmp, join_path(folder, alias))

    def resolve(self, ref: str | ModelRef) -> tuple[str, str]:
        """(name, concrete version) for a reference such as `name`, `name:3` or `name:production`."""
        ref = ModelRef.parse(ref) if isinstance(ref, str) else ref
        versions = self.list_versions(ref.name)
        if not versions:
            raise ModelNotFoundError(
                f"no model {ref.name!r} in registry {self._shown_root}; models: {_listing(self.list_models())}"
            )
        wanted = ref.version or LATEST
        version = wanted if wanted.isdigit() else self.aliases(ref.name).get(wanted)
        if version not in versions:
            aliases = ", ".join(f"{a} -> {v}" for a, v in self.aliases(ref.name).items()) or "(none)"
            raise ModelNotFoundError(
                f"model {ref.name!r} has no version or alias {wanted!r}; "
                f"versions: {_listing(versions)}; aliases: {aliases}"
            )
        return ref.name, version

    def read_text(self, ref: str | ModelRef, filename: str) -> str:
        """One file of the resolved version, decoded as UTF-8."""
        return self._read_bytes(self._path(*self.resolve(ref), filename)).decode()

    def read_json(self, ref: str | ModelRef, filename: str) -> dict[str, Any]:
        text = self.read_text(ref, filename)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RegistryError(f"{filename} of {ref} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise RegistryError(f"{filename} of {ref} must hold a JSON object; got {type(data).__name__}")
        return data

    def local_path(self, ref: str | ModelRef) -> Path:
        """A local folder with the version's files: the folder itself, or for remote roots a cached copy, downloaded
        anew when the version's manifest changed since (a variant published from another machine)."""
        name, version = self.resolve(ref)
        source = self._path(name, version)
        if self.is_local:
            return Path(source)
        with _io(source):
            return fresh_copy(self._fs, source, self._cache_folder(name, version))

    def _cache_folder(self, name: str, version: str) -> Path:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", self._shown_root).strip("_")[:80]
        return self.cache_dir / f"{slug}-{hashlib.sha256(self.root.encode()).hexdigest()[:12]}" / name / version

    def version_uri(self, ref: str | ModelRef) -> str:
        """Where a version lives, for display (URI query parameters left out)."""
        path = self._path(*self.resolve(ref))
        return scheme_prefix(self.root) + path


def _listing(items: Sequence[str]) -> str:
    return ", ".join(items) or "(none)"
