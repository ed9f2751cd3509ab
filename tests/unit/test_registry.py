"""Tests for imgclf.registry over a plain path, a file:// URI, an in-memory (mock://) remote filesystem, and an S3
endpoint (moto's server) that several Registry objects share, each with a cache of its own, as machines do."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from imgclf.errors import ConfigError, ModelNotFoundError, RegistryError
from imgclf.registry import ModelRef, Registry
from imgclf.registry_cache import MANIFEST_FILE
from imgclf.storage import move_tree
from utils.s3_server import S3_ENV, S3Server, s3_server

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
    """The files below `folder` (the registry's manifest left out)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and p.name != MANIFEST_FILE}


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


# --- a shared remote registry: each machine's cached copy follows what any of them publishes ----------------------


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture
def s3_root(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A registry root of this test's own on the S3 endpoint."""
    for variable, value in S3_ENV.items():
        monkeypatch.setenv(variable, value)
    return s3.uri(f"reg-{uuid.uuid4().hex}")


def machines(root: str, tmp_path: Path) -> tuple[Registry, Registry]:
    """(reader, writer): two Registry objects on the same root, each with the cache folder of its own machine."""
    return Registry(root, cache_dir=tmp_path / "reader-cache"), Registry(root, cache_dir=tmp_path / "writer-cache")


def test_a_variant_published_elsewhere_reaches_a_copy_cached_before(s3_root: str, artifact: Path,
                                                                     tmp_path: Path) -> None:
    reader, writer = machines(s3_root, tmp_path)
    writer.register("cats", artifact)
    cached = reader.local_path("cats")
    assert read_tree(cached) == FILES
    int8 = make_artifact(tmp_path / "int8", {"model.xml": b"<net/>", "model.json": b'{"precision": "int8"}'})
    writer.add_to_version("cats:1", "variants/openvino-int8", int8)
    assert reader.local_path("cats:1") == cached
    assert read_tree(cached) == {**FILES, **{f"variants/openvino-int8/{k}": v for k, v in read_tree(int8).items()}}
    # Replaced by files of the very same names and sizes: the publish, not a listing, says the copy is old.
    again = make_artifact(tmp_path / "again", {"model.xml": b"<NET/>", "model.json": b'{"precision": "INT8"}'})
    writer.add_to_version("cats", "variants/openvino-int8", again)
    assert read_tree(reader.local_path("cats") / "variants" / "openvino-int8") == read_tree(again)
    assert not [p.name for p in cached.parent.iterdir() if p.name != "1"]  # no download or old copy left beside it


def test_a_version_without_a_manifest_is_followed_by_its_listing(s3_root: str, artifact: Path, tmp_path: Path) -> None:
    """A version registered before manifests existed: its copy is kept while its files stay the same."""
    reader, writer = machines(s3_root, tmp_path)
    writer.register("m", artifact)
    filesystem, base = pafs.FileSystem.from_uri(s3_root)
    filesystem.delete_file(f"{base}/m/1/{MANIFEST_FILE}")
    copy = reader.local_path("m")
    assert read_tree(copy) == FILES
    (copy / "marker").write_text("kept")
    assert (reader.local_path("m:1") / "marker").read_text() == "kept"
    with filesystem.open_output_stream(f"{base}/m/1/extra.bin") as out:
        out.write(b"added by hand")
    assert read_tree(reader.local_path("m")) == {**FILES, "extra.bin": b"added by hand"}


BIG_VARIANT_FILES = 96  # of 1 MiB: copied one by one, long enough to be killed in the middle
PUBLISH_CHILD = "import sys; from imgclf.registry import Registry; Registry(sys.argv[1]).add_to_version(*sys.argv[2:])"


def kill_mid_publish(root: Path, big: Path) -> tuple[bool, list[str]]:
    """Start a process publishing `big` as cats:1's openvino-int8 and SIGKILL it once some of its files, but not
    all, are below the version; (whether it was still running then, the scratch folders it left)."""
    variants = root / "cats" / "1" / "variants"
    child = subprocess.Popen([sys.executable, "-c", PUBLISH_CHILD, str(root), "cats:1", "variants/openvino-int8",
                              str(big)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while child.poll() is None and time.monotonic() < deadline:
        if 0 < len(list(variants.rglob("big-*"))) < BIG_VARIANT_FILES // 2:
            break
        time.sleep(0.001)
    running = child.poll() is None
    child.kill()
    child.communicate(timeout=30)
    return running, sorted(p.name for p in variants.iterdir() if p.name.startswith("."))


def test_a_variant_publish_killed_mid_write_leaves_nothing_half_visible(artifact: Path, tmp_path: Path) -> None:
    root = tmp_path / "reg"
    registry = Registry(root, cache_dir=tmp_path / "cache")
    registry.register("cats", artifact)
    old = make_artifact(tmp_path / "old", {"model.xml": b"<old/>", "model.json": b'{"precision": "int8"}'})
    registry.add_to_version("cats", "variants/openvino-int8", old)
    big_files = {f"big-{i:03d}.bin": bytes([i]) * (1 << 20) for i in range(BIG_VARIANT_FILES)}
    big = make_artifact(tmp_path / "big", big_files)

    running, scratch = kill_mid_publish(root, big)
    assert running, "the publish ended before it could be killed: nothing was tested"
    assert scratch, "the killed publish left no staging folder"
    version = root / "cats" / "1"
    visible = [p.name for p in (version / "variants").iterdir() if not p.name.startswith(".")]
    assert visible in ([], ["openvino-int8"]), visible
    if visible:
        assert read_tree(version / "variants" / "openvino-int8") == read_tree(old)  # the old variant, whole
    manifest = json.loads((version / MANIFEST_FILE).read_text())
    published = {p: len(data) for p, data in read_tree(version).items() if not p.startswith("variants/.")}
    assert manifest["files"] == dict(sorted(published.items()))  # what readers copy: the version before the kill

    newer = make_artifact(tmp_path / "newer", {"model.xml": b"<newer/>"})
    (version / "variants" / f".retired-{socket.gethostname()}-{dead_pid()}-0123abcd").mkdir()  # killed after retiring
    registry.add_to_version("cats", "variants/openvino-int8", newer)
    assert sorted(p.name for p in (version / "variants").iterdir()) == ["openvino-int8"]  # the abandoned ones deleted
    assert read_tree(version / "variants" / "openvino-int8") == read_tree(newer)
