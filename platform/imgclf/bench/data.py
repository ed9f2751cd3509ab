"""The benchmark's data: the embedded digits set, written once into the bench folder, and real JPEG photos
(../shared/datasets/hymenoptera) copied into flat folders for the batch and serve sections."""

from __future__ import annotations

import shutil
from pathlib import Path

from imgclf.data.digits import write_digits

DATASET = Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / "hymenoptera"


def digits_folder(bench_dir: Path) -> Path:
    folder = bench_dir / "digits"
    if not folder.is_dir():
        write_digits(folder)
    return folder


def source_photos(count: int) -> list[Path]:
    """`count` JPEG photos spread evenly over the dataset's sorted files (cycled when it holds fewer)."""
    photos = sorted(path for path in DATASET.rglob("*") if path.suffix.lower() in (".jpg", ".jpeg"))
    if not photos:
        raise FileNotFoundError(f"no JPEG photos under {DATASET} (see ../shared/datasets/README.md)")
    if count <= len(photos):
        return [photos[index * len(photos) // count] for index in range(count)]
    return [photos[index % len(photos)] for index in range(count)]


def photo_folder(folder: Path, images: int, copies: int = 1) -> Path:
    """A flat folder holding `copies` copies of `images` photos, each file under its own name; reused when
    it already holds that many."""
    if folder.is_dir() and len(list(folder.glob("*.jpg"))) == images * copies:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for copy in range(copies):
        for index, source in enumerate(source_photos(images)):
            shutil.copyfile(source, folder / f"{copy:02d}-{index:05d}-{source.parent.name}-{source.stem}.jpg")
    return folder
