"""Dataset factories for tests: small folder-per-class datasets on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

from imgclf.data.digits import write_digits


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
