"""The benchmark's data: the embedded digits set, written once into the bench folder, and real JPEG photos
(`--photos`, ../shared/datasets/hymenoptera by default) copied into flat folders for the batch and serve sections."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from imgclf.data.digits import write_digits


@dataclass(frozen=True)
class BenchInputs:
    """What the benchmark reads outside its own folder, as given on its command line."""

    photos: Path  # JPEG photos, a train/ folder of class folders among them (hymenoptera's layout)
    serve_config: Path  # the serve_config.yaml the serve section deploys


def digits_folder(bench_dir: Path) -> Path:
    folder = bench_dir / "digits"
    if not folder.is_dir():
        write_digits(folder)
    return folder


def source_photos(dataset: Path, count: int) -> list[Path]:
    """`count` JPEG photos spread evenly over the dataset's sorted files (cycled when it holds fewer)."""
    photos = sorted(path for path in dataset.rglob("*") if path.suffix.lower() in (".jpg", ".jpeg"))
    if not photos:
        raise FileNotFoundError(f"no JPEG photos under {dataset} (--photos)")
    if count <= len(photos):
        return [photos[index * len(photos) // count] for index in range(count)]
    return [photos[index % len(photos)] for index in range(count)]


def photo_folder(folder: Path, dataset: Path, images: int, copies: int = 1) -> Path:
    """A flat folder holding `copies` copies of `images` photos, each file under its own name; reused when
    it already holds that many."""
    if folder.is_dir() and len(list(folder.glob("*.jpg"))) == images * copies:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for copy in range(copies):
        for index, source in enumerate(source_photos(dataset, images)):
            shutil.copyfile(source, folder / f"{copy:02d}-{index:05d}-{source.parent.name}-{source.stem}.jpg")
    return folder


def fresh_folder(folder: Path) -> Path:
    """`folder`, emptied: every timed run writes into a folder of its own."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder


def image_paths(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jpg"))
