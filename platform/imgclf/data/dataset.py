"""A folder-per-class dataset made ready for training: decoded, split, with a report of what was skipped.

Several roots make one dataset (data/roots.py): one label set, a file whose bytes equal another's counted once
(data/dedupe.py). Given a previous version's split, its files keep their split (its test files stay test) and the
new files are split as usual.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from imgclf.config import DecodeLimits, SplitSettings
from imgclf.data.dedupe import Duplicate, deduplicate
from imgclf.data.loading import LoadedImages, SkippedFile, load_images
from imgclf.data.roots import scan_roots
from imgclf.data.split import SPLITS, Manifest, split_keeping

LOG = logging.getLogger("imgclf.data")


@dataclass(frozen=True)
class PreviousSplit:
    """A registered version's split that the next run keeps: the version (`name:version`) and each manifest path's
    split."""

    version: str
    splits: Mapping[str, str]

    @property
    def test_files(self) -> int:
        return sum(split == "test" for split in self.splits.values())


@dataclass
class PreparedDataset:
    """Images in manifest order (`images[i]` is `manifest.rows[i]`) with integer labels, the root each row came from
    (`sources[i]`, an index in `roots`) and whether it was in the previous version's test split."""

    root: Path
    manifest: Manifest
    images: np.ndarray
    labels: np.ndarray
    skipped: list[SkippedFile]
    roots: tuple[Path, ...] = ()
    sources: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    previous_test: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    duplicates: list[Duplicate] = field(default_factory=list)
    added_classes: dict[str, list[str]] = field(default_factory=dict)
    previous: PreviousSplit | None = None

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

    def comparison_sets(self) -> dict[str, np.ndarray]:
        """Rows a new version and its previous one are compared on: the previous version's test split, the later
        roots' files in the test split, and all the later roots' files."""
        later = self.sources > 0
        test = np.array([row.split == "test" for row in self.manifest.rows], dtype=bool)
        return {"previous_test": np.flatnonzero(self.previous_test), "corrections_test": np.flatnonzero(later & test),
                "corrections_all": np.flatnonzero(later)}

    def report(self) -> dict[str, Any]:
        """Counts per class and split, every skipped file with its cause, the roots, the classes only later roots
        hold, the duplicates (label conflicts among them) and how much of the previous version's split was kept."""
        counts = Counter((row.label, row.split) for row in self.manifest.rows)
        return {
            "root": str(self.root),
            "manifest_digest": self.manifest.digest(),
            "classes": list(self.classes),
            "images": len(self.manifest.rows),
            "counts": {label: {split: counts[(label, split)] for split in SPLITS} for label in self.classes},
            "skipped": [{"path": item.path, "cause": item.cause} for item in self.skipped],
            "roots": [{"path": str(root), "images": int((self.sources == index).sum())}
                      for index, root in enumerate(self.roots)],
            "classes_only_in_later_roots": self.added_classes,
            "duplicates": {"count": len(self.duplicates), "label_conflicts": sum(d.conflict for d in self.duplicates),
                           "files": [duplicate.to_dict() for duplicate in self.duplicates]},
            "previous_split": None if self.previous is None else {
                "version": self.previous.version, "test_files": self.previous.test_files,
                "test_files_found": int(self.previous_test.sum())},
        }


def prepare_dataset(
    roots: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *, image_size: int, split: SplitSettings,
    limits: DecodeLimits, previous: PreviousSplit | None = None, progress: bool = True,
) -> PreparedDataset:
    """Scan, decode (skipping unreadable files), count equal files once and split one or several folder-per-class
    roots; the files of `previous` keep their split."""
    roots = (Path(roots),) if isinstance(roots, (str, os.PathLike)) else tuple(Path(root) for root in roots)
    scanned = scan_roots(roots)
    if scanned.added_classes:
        LOG.warning("classes only later data folders hold: %s", ", ".join(scanned.added_classes))
    loaded = load_images(roots[0], scanned.files, image_size, limits=limits, progress=progress)
    for item in loaded.skipped:
        LOG.warning("skipping unreadable image %s: %s", roots[0] / item.path, item.cause)
    source_of = dict(zip((item.path for item in scanned.files), scanned.sources))
    sources = [source_of[item.path] for item in loaded.files]
    kept, duplicates = deduplicate(loaded.files, loaded.digests, sources, roots[0])
    if duplicates:
        LOG.info("%d duplicate files counted once (%d with another label)", len(duplicates),
                 sum(d.conflict for d in duplicates))
    previous_splits = splits_by_digest(loaded, previous)
    digest_of = {loaded.files[i].path: loaded.digests[i] for i in kept}
    kept_splits = {path: previous_splits[digest] for path, digest in digest_of.items() if digest in previous_splits}
    manifest = split_keeping([loaded.files[i] for i in kept], scanned.classes, split, kept_splits)
    position = {item.path: index for index, item in enumerate(loaded.files)}
    order = np.array([position[row.path] for row in manifest.rows], dtype=np.int64)
    labels = np.array([manifest.label_index(row.label) for row in manifest.rows], dtype=np.int64)
    previous_test = np.array([previous_splits.get(digest_of[row.path]) == "test" for row in manifest.rows], bool)
    return PreparedDataset(roots[0], manifest, loaded.images[order], labels, loaded.skipped, roots=roots,
                           sources=np.array(sources, dtype=np.int64)[order], previous_test=previous_test,
                           duplicates=duplicates, added_classes=scanned.added_classes, previous=previous)


def splits_by_digest(loaded: LoadedImages, previous: PreviousSplit | None) -> dict[str, str]:
    """The previous version's split of each file content it had (found by path among the files read now); a
    content it had in its test split stays test."""
    if previous is None:
        return {}
    splits: dict[str, str] = {}
    for item, digest in zip(loaded.files, loaded.digests):
        split = previous.splits.get(item.path)
        if split is not None and splits.get(digest) != "test":
            splits[digest] = split
    return splits
