"""A folder-per-class dataset made ready for training: decoded, split, with a report of what was skipped."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imgclf.config import DecodeLimits, SplitSettings
from imgclf.data.loading import SkippedFile, load_images
from imgclf.data.scan import scan_folder
from imgclf.data.split import SPLITS, Manifest, stratified_split

LOG = logging.getLogger("imgclf.data")


@dataclass
class PreparedDataset:
    """Images in manifest order (`images[i]` is `manifest.rows[i]`) with integer labels."""

    root: Path
    manifest: Manifest
    images: np.ndarray
    labels: np.ndarray
    skipped: list[SkippedFile]

    @property
    def classes(self) -> tuple[str, ...]:
        return self.manifest.classes

    def indices(self, *splits: str) -> np.ndarray:
        return np.array([i for i, row in enumerate(self.manifest.rows) if row.split in splits], dtype=np.int64)

    def split(self, *splits: str) -> tuple[np.ndarray, np.ndarray]:
        """(images, labels) of the given splits."""
        index = self.indices(*splits)
        return self.images[index], self.labels[index]

    def labels_of(self, *splits: str) -> np.ndarray:
        """The labels of the given splits, without copying their images."""
        return self.labels[self.indices(*splits)]

    def report(self) -> dict[str, Any]:
        """Counts per class and split, and every skipped file with its cause."""
        counts = Counter((row.label, row.split) for row in self.manifest.rows)
        return {
            "root": str(self.root),
            "manifest_digest": self.manifest.digest(),
            "classes": list(self.classes),
            "images": len(self.manifest.rows),
            "counts": {label: {split: counts[(label, split)] for split in SPLITS} for label in self.classes},
            "skipped": [{"path": item.path, "cause": item.cause} for item in self.skipped],
        }


def prepare_dataset(
    root: str | Path, *, image_size: int, split: SplitSettings, limits: DecodeLimits, progress: bool = True
) -> PreparedDataset:
    """Scan, decode (skipping unreadable files), and split a folder-per-class directory."""
    root = Path(root)
    classes, files = scan_folder(root)
    loaded = load_images(root, files, image_size, limits=limits, progress=progress)
    for item in loaded.skipped:
        LOG.warning("skipping unreadable image %s: %s", root / item.path, item.cause)
    manifest = stratified_split(loaded.files, classes, split)
    position = {item.path: index for index, item in enumerate(loaded.files)}
    order = np.array([position[row.path] for row in manifest.rows], dtype=np.int64)
    labels = np.array([manifest.label_index(row.label) for row in manifest.rows], dtype=np.int64)
    return PreparedDataset(root, manifest, loaded.images[order], labels, loaded.skipped)
