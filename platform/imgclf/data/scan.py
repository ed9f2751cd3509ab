"""Find labelled images in a folder-per-class directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from imgclf.errors import DatasetError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"})


@dataclass(frozen=True)
class LabelledFile:
    """One image file: its path relative to the data root and its class."""

    path: str
    label: str


def is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def scan_folder(root: str | Path) -> tuple[list[str], list[LabelledFile]]:
    """Return (classes, files) for `root`: class = first-level folder, files found recursively, sorted.

    Raises DatasetError for a missing folder, fewer than two classes, or a class with no image files.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"data folder {root} does not exist or is not a folder")
    classes = sorted(entry.name for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    if len(classes) < 2:
        raise DatasetError(
            f"data folder {root} must hold at least 2 class folders (one folder per class); found {len(classes)}"
        )
    files: list[LabelledFile] = []
    for label in classes:
        found = sorted(class_images(root, label))
        if not found:
            raise DatasetError(f"class folder {root / label} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
        files.extend(LabelledFile(path, label) for path in found)
    return classes, files


def class_images(root: Path, label: str) -> list[str]:
    """Relative POSIX paths of the image files below root/label."""
    found = []
    for folder, subfolders, names in os.walk(root / label):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        for name in names:
            if is_image_name(name):
                found.append(Path(folder, name).relative_to(root).as_posix())
    return found
