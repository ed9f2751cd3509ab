"""Dataset factories for tests: small folder-per-class datasets on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

from imgclf.data.digits import write_digits
from utils.images import truncated
from utils.prerequisites import require_folder

# ../shared next to the repository root; present in CI (see ../shared/datasets/README.md).
SHARED_DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def hymenoptera(*parts: str) -> Path:
    """A folder of the shared ants-vs-bees photos (`train`, `val`, ...); skip without it, fail when CI=true."""
    return require_folder(SHARED_DATASETS.joinpath("hymenoptera", *parts), "the shared hymenoptera photos")


def write_digits_subset(folder: Path, *, per_class: int, size: int = 32) -> Path:
    """scikit-learn's digits as PNGs (see `write_digits`), keeping only the first `per_class` files of each class."""
    folder = Path(folder)
    scratch = folder.parent / f".{folder.name}-full"
    write_digits(scratch, size=size)
    for class_folder in sorted(p for p in scratch.iterdir() if p.is_dir()):
        target = folder / class_folder.name
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(class_folder.glob("*.png"))[:per_class]:
            shutil.move(str(path), target / path.name)
    shutil.rmtree(scratch)
    return folder


def write_digit_files_and_a_broken_one(folder: Path, digits_dir: Path, *, good: int, broken_name: str) -> Path:
    """`good` digit PNGs (one each from classes 0, 1, ...) and one PNG cut in half named `broken_name`."""
    folder.mkdir(parents=True)
    for digit in range(good):
        sample = sorted((digits_dir / str(digit)).glob("*.png"))[0]
        shutil.copy(sample, folder / f"digit{digit}-{sample.name}")
    sample = sorted((digits_dir / "9").glob("*.png"))[0]
    (folder / broken_name).write_bytes(truncated(sample.read_bytes()))
    return folder
