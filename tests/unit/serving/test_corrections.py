"""The corrections store on its own: files placed by hash in their class folder, the manifest, refusals that write
nothing, the rate limit on an injected clock, concurrent writers (threads and processes) and re-corrections."""

from __future__ import annotations

import csv
import fcntl
import hashlib
import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from pathlib import Path

import pytest

from imgclf.data.decode import decode_image
from imgclf.data.scan import IMAGE_SUFFIXES, scan_folder
from imgclf.errors import ConfigError
from imgclf.serving.corrections import (
    MANIFEST,
    MANIFEST_COLUMNS,
    STORED_SUFFIXES,
    CorrectionStore,
)
from imgclf.serving.errors import BadRequest, ServiceError, TooManyRequests, UnsupportedMedia
from imgclf.serving.service import ClassifyService
from imgclf.serving.settings import ApiConfig
from utils.images import BLUE, GREEN, RED, make_image_bytes

DIGITS = tuple(str(digit) for digit in range(10))
PER_MINUTE = 3


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def store_at(folder: Path | str, per_minute: int = 1000, clock: Clock | None = None) -> CorrectionStore:
    """A store deciding what is an image with the classify service's own decode."""
    decode = ClassifyService(None, ApiConfig()).decode  # type: ignore[arg-type]
    return CorrectionStore(str(folder), per_minute, decode=decode, **({"clock": clock} if clock else {}))


def save(store: CorrectionStore, data: bytes, label: str, labels: tuple[str, ...] = DIGITS, who: str = "ann") -> Path:
    return store.save(data, label=label, labels=labels, who=who, model="digits-vgg16", model_version="2",
                      predicted="1")


def rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / MANIFEST, newline="", encoding="utf-8") as manifest:
        return list(csv.DictReader(manifest))


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder below `root`: its size and modification time (in ns)."""
    found = {}
    for folder, names, files in os.walk(root):
        for name in names + files:
            path = Path(folder, name)
            found[str(path.relative_to(root))] = (path.lstat().st_size, path.lstat().st_mtime_ns)
    return found


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_correction_goes_to_its_class_folder_by_hash_with_a_manifest_row(tmp_path: Path) -> None:
    folder = tmp_path / "feedback"
    store = store_at(folder)
    seven, one = make_image_bytes("png", color=RED), make_image_bytes("jpg", color=BLUE)
    path = save(store, seven, "7", who="ann, from the lab")
    save(store, one, "1", who="bob")
    assert path == folder / "7" / f"{sha(seven)[:16]}.png"
    assert path.read_bytes() == seven
    assert (folder / "1" / f"{sha(one)[:16]}.jpg").read_bytes() == one
    first, second = rows(folder)
    assert list(first) == list(MANIFEST_COLUMNS)
    assert first | {"time": ""} == {"time": "", "who": "ann, from the lab", "model": "digits-vgg16",
                                    "model_version": "2", "predicted": "1", "label": "7",
                                    "path": f"7/{sha(seven)[:16]}.png", "sha256": sha(seven)}
    assert first["time"].endswith("+00:00") and second["who"] == "bob" and second["label"] == "1"
    classes, files = scan_folder(folder)  # a folder-per-class root as training reads it, the manifest beside
    assert classes == ["1", "7"] and [(f.path, f.label) for f in files] == [(second["path"], "1"), (first["path"], "7")]


def test_a_format_training_does_not_read_is_stored_as_the_decoded_png(tmp_path: Path) -> None:
    tiff = make_image_bytes("tiff", color=GREEN)
    path = save(store_at(tmp_path), tiff, "3")
    assert path.name == f"{sha(tiff)[:16]}.png" and path.suffix in IMAGE_SUFFIXES
    assert (decode_image(path.read_bytes()) == decode_image(tiff)).all()
    assert rows(tmp_path)[0]["sha256"] == sha(tiff)  # the upload's hash
    assert set(STORED_SUFFIXES.values()) <= IMAGE_SUFFIXES


@pytest.mark.parametrize("label", ["cat", "../outside", "..", ".", "a/b", "/etc", "x\x00y", ".hidden", "", "a\\b"])
def test_a_label_that_is_not_a_plain_class_of_the_model_is_refused_and_nothing_is_written(
        tmp_path: Path, label: str) -> None:
    """Unknown to the model ("cat"), or the model's own but no plain folder name: refused, the folder tree and
    its parent's unchanged."""
    folder = tmp_path / "feedback"
    store = store_at(folder)
    save(store, make_image_bytes("png", color=BLUE), "1")
    before = tree(tmp_path)
    labels = DIGITS if label == "cat" else (*DIGITS, label)
    with pytest.raises(BadRequest) as refused:
        save(store, make_image_bytes("png", color=RED), label, labels)
    assert refused.value.code == "unknown_label"
    assert tree(tmp_path) == before


def test_a_class_folder_that_links_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    folder, outside = tmp_path / "feedback", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    (folder / "7").symlink_to(outside, target_is_directory=True)
    before = tree(tmp_path)
    with pytest.raises(BadRequest):
        save(store_at(folder), make_image_bytes("png"), "7")
    assert tree(tmp_path) == before and not list(outside.iterdir())


@pytest.mark.parametrize("data, kind", [(b"meeting notes, not a photo\n", UnsupportedMedia), (b"", BadRequest)])
def test_bytes_that_do_not_decode_are_refused_and_nothing_is_written(tmp_path: Path, data: bytes,
                                                                     kind: type[ServiceError]) -> None:
    before = tree(tmp_path)
    with pytest.raises(kind):
        save(store_at(tmp_path / "feedback"), data, "7")
    assert tree(tmp_path) == before


def test_beyond_the_rate_a_correction_is_refused_until_the_window_slides(tmp_path: Path) -> None:
    clock = Clock()
    store = store_at(tmp_path, PER_MINUTE, clock)
    images = [make_image_bytes("png", size=(8, 6 + n)) for n in range(PER_MINUTE + 2)]
    for image in images[:PER_MINUTE]:
        save(store, image, "7")
        clock.now += 10
    before = tree(tmp_path)
    with pytest.raises(TooManyRequests) as refused:
        save(store, images[PER_MINUTE], "7")
    assert refused.value.status == 429 and refused.value.code == "too_many_corrections"
    assert refused.value.headers == {"Retry-After": str(60 - 10 * PER_MINUTE)}
    assert tree(tmp_path) == before
    clock.now = 1000.0 + 60  # the first correction has left the window
    save(store, images[PER_MINUTE], "7")
    with pytest.raises(TooManyRequests):
        save(store, images[PER_MINUTE + 1], "7")
    assert len(rows(tmp_path)) == PER_MINUTE + 1


def save_many(folder: str, start: int, count: int) -> None:
    """`count` corrections of distinct images from a process of its own."""
    store = store_at(Path(folder))
    for n in range(start, start + count):
        save(store, make_image_bytes("png", size=(4 + n, 4)), DIGITS[n % 10], who=f"writer-{start}")


def test_concurrent_corrections_from_threads_and_processes_all_get_their_row(tmp_path: Path) -> None:
    per_writer, threads, processes = 6, 4, 2
    store = store_at(tmp_path)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda writer: [save(store, make_image_bytes("png", size=(4, 4 + writer * per_writer + n)),
                                      DIGITS[n], who=f"thread-{writer}") for n in range(per_writer)], range(threads)))
    forked = multiprocessing.get_context("fork")  # after the threads have ended
    workers = [forked.Process(target=save_many, args=(str(tmp_path), 100 + w * per_writer, per_writer))
               for w in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    found = rows(tmp_path)
    assert len(found) == (threads + processes) * per_writer
    assert len({row["sha256"] for row in found}) == len(found)
    assert all((tmp_path / row["path"]).is_file() and row["time"] for row in found)
    assert (tmp_path / MANIFEST).read_text().count("time,who,") == 1


def test_a_correction_waits_while_another_writer_holds_the_manifest(tmp_path: Path) -> None:
    """Another process's writer holds the manifest's lock (an open file of its own, as here): a save writes nothing
    until it is released, then completes."""
    store = store_at(tmp_path)
    save(store, make_image_bytes("png", color=BLUE), "1")
    with ThreadPoolExecutor(1) as pool, open(tmp_path / MANIFEST, "a") as other_writer:
        fcntl.flock(other_writer, fcntl.LOCK_EX)
        pending = pool.submit(save, store, make_image_bytes("png", color=RED), "7")
        with pytest.raises(FuturesTimeout):
            pending.result(timeout=0.5)
        assert not (tmp_path / "7").exists() and len(rows(tmp_path)) == 1
        fcntl.flock(other_writer, fcntl.LOCK_UN)
        assert pending.result(timeout=30).parent.name == "7"
    assert [row["label"] for row in rows(tmp_path)] == ["1", "7"]


def test_the_same_image_corrected_again_moves_to_the_last_label(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    image, other = make_image_bytes("png", color=RED), make_image_bytes("png", color=BLUE)
    save(store, image, "7")
    save(store, other, "2")
    moved = save(store, image, "1")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png")) == sorted(
        [f"1/{sha(image)[:16]}.png", f"2/{sha(other)[:16]}.png"])
    assert moved.read_bytes() == image
    assert not (tmp_path / "7").exists()  # an empty class folder would stop training
    assert [row["label"] for row in rows(tmp_path)] == ["7", "2", "1"]
    assert scan_folder(tmp_path)[0] == ["1", "2"]


def test_a_uri_is_refused_as_the_folder() -> None:
    with pytest.raises(ConfigError, match="local folder"):
        store_at("s3://bucket/feedback")
