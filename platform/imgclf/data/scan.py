"""Find labelled images in a folder-per-class directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from imgclf.errors import DatasetError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"})
SPLIT_FOLDERS = frozenset({"train", "val", "valid", "validation", "test"})  # a published split: split/class/...


@dataclass(frozen=True)
class LabelledFile:
    """One image file: its path relative to the data root and its class."""

    path: str
    label: str


def is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def scan_folder(root: str | Path, *, min_classes: int = 2) -> tuple[list[str], list[LabelledFile]]:
    """Return (classes, files) for `root`: class = first-level folder, files found recursively, sorted.

    A root whose folders are all split names (`train/`, `val/`, `test/` ...) holding class folders, as datasets
    are often published, is read as one pool: class = the folder below the split folder (the run splits the
    pool itself). Raises DatasetError for a missing folder, fewer than `min_classes` classes (a root of
    corrections may hold one), or a class with no images.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"data folder {root} does not exist or is not a folder")
    splits = subfolders(root)
    parents = [root / split for split in splits] if splits and set(splits) <= SPLIT_FOLDERS else [root]
    classes = sorted({label for parent in parents for label in subfolders(parent)})
    if len(classes) < min_classes:
        raise DatasetError(
            f"data folder {root} must hold at least {min_classes} class folder{'s' if min_classes > 1 else ''} "
            f"(one folder per class); found {len(classes)}"
        )
    files: list[LabelledFile] = []
    for label in classes:
        found = sorted(path for parent in parents if (parent / label).is_dir() for path in class_images(root, parent / label))
        if not found:
            raise DatasetError(f"class folder {root / label} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
        files.extend(LabelledFile(path, label) for path in found)
    return classes, files


def subfolders(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))


def class_images(root: Path, class_folder: Path) -> list[str]:
    """Relative POSIX paths (from root) of the image files below class_folder."""
    found = []
    for folder, children, names in os.walk(class_folder):
        children[:] = [name for name in children if not name.startswith(".")]
        for name in names:
            if is_image_name(name):
                found.append(Path(folder, name).relative_to(root).as_posix())
    return found
