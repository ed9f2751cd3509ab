"""Tests for imgclf.registry over a plain path, a file:// URI and an in-memory (mock://) remote filesystem."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from imgclf.errors import ConfigError, ModelNotFoundError, RegistryError
from imgclf.registry import ModelRef, Registry
from imgclf.storage import move_tree

FILES = {
    "model.json": json.dumps({"kind": "knn", "input_size": 32}).encode(),
    "labels.json": b'["cat", "dog"]',
    "weights.bin": bytes(range(256)) * 8,
    "plots/nested/confusion.png": b"\x89PNG\r\n\x1a\n\x00\xff",
}


def make_artifact(folder: Path, files: dict[str, bytes] = FILES) -> Path:
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder


def read_tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def dead_pid() -> int:
    """The pid of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    return make_artifact(tmp_path / "artifact")


@pytest.fixture(params=["path", "file_uri", "mock_uri"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Registry:
    roots = {"path": tmp_path / "reg", "file_uri": (tmp_path / "reg").as_uri(), "mock_uri": "mock:///reg"}
    return Registry(roots[request.param], cache_dir=tmp_path / "cache")


@pytest.fixture(params=["path", "file_uri"])
def disk_registry(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Registry, Path]:
    """A registry whose files a test can also touch on disk, to simulate crashes and stray folders."""
    root = tmp_path / "reg"
    return Registry(root if request.param == "path" else root.as_uri(), cache_dir=tmp_path / "cache"), root


def test_register_numbers_versions_and_moves_latest(registry: Registry, artifact: Path) -> None:
    assert registry.register("digits", artifact) == "1"
    assert registry.register("digits", artifact) == "2"
    assert registry.list_versions("digits") == ["1", "2"]
    assert registry.aliases("digits") == {"latest": "2"}
    assert registry.resolve("digits") == ("digits", "2")
    assert registry.list_models() == ["digits"]


def test_versions_sort_numerically(registry: Registry, artifact: Path) -> None:
    for _ in range(11):
        registry.register("m", artifact)
    assert registry.list_versions("m") == [str(i) for i in range(1, 12)]
    assert registry.resolve("m:latest") == ("m", "11")


def test_flat_artifact_round_trips(registry: Registry, tmp_path: Path) -> None:
    registry.register("flat", make_artifact(tmp_path / "flat", {"model.json": b"{}"}))
    assert read_tree(registry.local_path("flat")) == {"model.json": b"{}"}


def test_files_round_trip_byte_identical(registry: Registry, artifact: Path, tmp_path: Path) -> None:
    registry.register("digits", artifact)
    local = registry.local_path("digits:1")
    assert read_tree(local) == FILES
    assert registry.read_json("digits", "model.json") == {"kind": "knn", "input_size": 32}
    assert registry.read_text("digits:latest", "labels.json") == '["cat", "dog"]'
    if registry.is_local:
        assert local == Path(registry.version_uri("digits").removeprefix("file://"))
    else:
        assert local.is_relative_to(tmp_path / "cache")
        assert registry.local_path(ModelRef("digits", "1")) == local  # versions are immutable: reuse the copy


def test_remote_cache_is_reused_without_download(artifact: Path, tmp_path: Path) -> None:
    registry = Registry("mock:///reg", cache_dir=tmp_path / "cache")
    registry.register("m", artifact)
    local = registry.local_path("m")
    (local / "marker").write_text("kept")
    assert (registry.local_path("m:1") / "marker").read_text() == "kept"


def test_resolve_by_name_version_and_aliases(registry: Registry, artifact: Path) -> None:
    registry.register("m", artifact)
    registry.register("m", artifact, aliases=["staging"])
    registry.register("m", artifact)
    registry.set_alias("m", "production", "1")
    assert registry.resolve("m") == ("m", "3")
    assert registry.resolve("m:2") == ("m", "2")
    assert registry.resolve(ModelRef("m", "latest")) == ("m", "3")
    assert registry.resolve("m:staging") == ("m", "2")
    assert registry.resolve("m:production") == ("m", "1")
    assert registry.aliases("m") == {"latest": "3", "production": "1", "staging": "2"}
    registry.set_alias("m", "production", "3")
    assert registry.resolve("m:production") == ("m", "3")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("ghost", ["'ghost'", "models: a, b"]),
        ("a:7", ["'7'", "versions: 1", "latest -> 1"]),
        ("a:production", ["'production'", "versions: 1", "aliases: latest -> 1"]),
    ],
)
def test_missing_model_version_or_alias_names_what_exists(
    registry: Registry, artifact: Path, ref: str, expected: list[str]
) -> None:
    registry.register("a", artifact)
    registry.register("b", artifact)
    with pytest.raises(ModelNotFoundError) as info:
        registry.resolve(ref)
    assert all(part in str(info.value) for part in expected), str(info.value)


def test_missing_model_in_empty_registry(registry: Registry) -> None:
    assert registry.list_models() == []
    with pytest.raises(ModelNotFoundError, match=r"models: \(none\)"):
        registry.local_path("ghost")


def test_set_alias_to_missing_version(registry: Registry, artifact: Path) -> None:
    registry.register("m", artifact)
    with pytest.raises(ModelNotFoundError, match="versions: 1"):
        registry.set_alias("m", "production", "5")


@pytest.mark.parametrize("text", ["", ":", "m:", ":3", "a:b:c", "Digits", "has space", "-lead", "a/b", "x" * 101])
def test_malformed_refs_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="got"):
        ModelRef.parse(text)


def test_model_ref_parse_and_str() -> None:
    assert ModelRef.parse("vgg16") == ModelRef("vgg16")
    assert ModelRef.parse("vgg16:3") == ModelRef("vgg16", "3")
    assert ModelRef.parse("my-model.v2:production") == ModelRef("my-model.v2", "production")
    assert str(ModelRef("vgg16", "3")) == "vgg16:3"
    assert str(ModelRef("vgg16")) == "vgg16:latest"


def test_bad_names_and_aliases_are_rejected_before_writing(registry: Registry, artifact: Path) -> None:
    with pytest.raises(ConfigError, match="model name must match"):
        registry.register("Digits", artifact)
    with pytest.raises(ConfigError, match="alias must match"):
        registry.register("digits", artifact, aliases=["42"])
    assert registry.list_models() == []
    registry.register("digits", artifact)
    for alias in ("123", "Prod", ".hidden"):
        with pytest.raises(ConfigError, match=f"got '{alias}'"):
            registry.set_alias("digits", alias, "1")


def test_empty_or_missing_artifact_dir(registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    for folder in (tmp_path / "empty", tmp_path / "nowhere"):
        with pytest.raises(ConfigError, match="at least one file"):
            registry.register("m", folder)


def test_leftover_staging_is_not_a_version_and_only_an_abandoned_one_is_deleted(
    disk_registry: tuple[Registry, Path], artifact: Path
) -> None:
    registry, root = disk_registry
    registry.register("m", artifact)
    host = socket.gethostname()
    abandoned = f".staging-{host}-{dead_pid()}-0123abcd"  # a register killed mid-upload
    running = f".staging-{host}-{os.getpid()}-4567ef01"  # a register still copying, in this process
    elsewhere = ".staging-other-host-1-89ab"  # another host's: its pid means nothing here
    for staging in (abandoned, running, elsewhere):
        make_artifact(root / "m" / staging, {"model.json": b"{half"})
    assert registry.list_versions("m") == ["1"]
    assert registry.resolve("m") == ("m", "1")
    assert registry.register("m", artifact) == "2"
    assert registry.resolve("m:latest") == ("m", "2")
    assert sorted(p.name for p in (root / "m").iterdir()) == sorted([running, elsewhere, "1", "2", "aliases"])


def test_list_models_ignores_names_without_versions(disk_registry: tuple[Registry, Path], artifact: Path) -> None:
    registry, root = disk_registry
    registry.register("real", artifact)
    (root / "empty").mkdir()
    make_artifact(root / "crashed" / ".staging-ffff", {"model.json": b"{}"})
    make_artifact(root / "Not_A_Name" / "1", {"model.json": b"{}"})
    assert registry.list_models() == ["real"]
    with pytest.raises(ModelNotFoundError, match="models: real"):
        registry.resolve("crashed")


def test_concurrent_writer_takes_the_next_number(
    disk_registry: tuple[Registry, Path], artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry, root = disk_registry
    registry.register("m", artifact)
    stale = iter([["1"]])  # this writer listed versions before the other one published "2"
    real = registry.list_versions
    monkeypatch.setattr(registry, "list_versions", lambda name: next(stale, None) or real(name))
    make_artifact(root / "m" / "2", {"other.txt": b"other writer"})
    assert registry.register("m", artifact) == "3"
    assert read_tree(root / "m" / "2") == {"other.txt": b"other writer"}
    assert read_tree(root / "m" / "3") == FILES
    assert not list((root / "m").glob(".staging-*"))


class NoFolderMoves:
    """A filesystem that, like S3 and GCS, moves files but not folders."""

    def __init__(self, fs: pafs.FileSystem) -> None:
        self._fs = fs

    def __getattr__(self, name: str) -> object:
        return getattr(self._fs, name)

    def move(self, src: str, dst: str) -> None:
        if self._fs.get_file_info(src).type == pafs.FileType.Directory:
            raise OSError(f"cannot move folder {src}")
        self._fs.move(src, dst)


def test_move_tree_falls_back_to_file_moves(tmp_path: Path) -> None:
    local = pafs.LocalFileSystem()
    fs = NoFolderMoves(local)
    src, dst = str(make_artifact(tmp_path / "stage")), str(tmp_path / "1")
    assert move_tree(fs, src, dst)
    assert read_tree(Path(dst)) == FILES
    assert not Path(src).exists()
    assert not move_tree(fs, str(make_artifact(tmp_path / "stage2")), dst)  # taken: caller tries the next number


def test_io_errors_become_registry_errors_naming_the_path(registry: Registry, artifact: Path) -> None:
    registry.register("m", artifact)
    with pytest.raises(RegistryError, match="missing.json"):
        registry.read_text("m", "missing.json")
    with pytest.raises(RegistryError, match="JSON object"):
        registry.read_json("m", "labels.json")


def test_root_given_as_path_keeps_its_text(tmp_path: Path) -> None:
    assert Registry(tmp_path / "reg").root == str(tmp_path / "reg")
    with pytest.raises(RegistryError, match="nosuchscheme://x"):
        Registry("nosuchscheme://x")


def test_version_uri(registry: Registry, artifact: Path) -> None:
    registry.register("m", artifact)
    uri = registry.version_uri("m:latest")
    assert uri.endswith("/m/1")
    assert uri.startswith(registry.root.split("://")[0] + "://" if "://" in registry.root else "/")


@pytest.mark.parametrize("ref", ["../outside", "/tmp/model", "m/../../etc", "m:../../1", "./m", "M"])
def test_a_model_reference_cannot_name_a_path_outside_the_registry(registry: Registry, artifact: Path,
                                                                   ref: str) -> None:
    """Serving and batch jobs load what a reference resolves to: only names and versions inside the root."""
    registry.register("m", artifact)
    with pytest.raises((ConfigError, ModelNotFoundError)):
        registry.local_path(ref)


def test_add_to_version_publishes_a_folder_inside_it_and_replaces_an_older_copy(
    registry: Registry, artifact: Path, tmp_path: Path
) -> None:
    registry.register("cats", artifact)
    first = make_artifact(tmp_path / "first", {"model.xml": b"<net/>", "model.json": b'{"precision": "int8"}'})
    registry.add_to_version("cats", "variants/openvino-int8", first)
    folder = registry.local_path("cats:1")
    assert read_tree(folder / "variants" / "openvino-int8") == read_tree(first)
    assert read_tree(folder) == {**FILES, **{f"variants/openvino-int8/{k}": v for k, v in read_tree(first).items()}}

    second = make_artifact(tmp_path / "second", {"model.xml": b"<net v2/>"})
    registry.add_to_version("cats:1", "variants/openvino-int8", second)
    variants = registry.local_path("cats:1") / "variants"
    assert [p.name for p in variants.iterdir()] == ["openvino-int8"]  # no staging or retired copy left
    assert read_tree(variants / "openvino-int8") == {"model.xml": b"<net v2/>"}
    assert registry.list_versions("cats") == ["1"]


@pytest.mark.parametrize("folder", ["../escape", "variants/../../x", "/abs", "variants/.hidden", "Variants/x"])
def test_add_to_version_takes_only_plain_relative_names(registry: Registry, artifact: Path, folder: str) -> None:
    registry.register("cats", artifact)
    with pytest.raises(ConfigError, match="folder must be a relative path of names"):
        registry.add_to_version("cats", folder, artifact)
