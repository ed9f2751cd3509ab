"""Deterministic, stratified train/validation/test splits, saved as a manifest next to each model."""

from __future__ import annotations

import csv
import hashlib
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from imgclf.config import SplitSettings
from imgclf.data.scan import LabelledFile
from imgclf.errors import DatasetError

SPLITS = ("train", "val", "test")
MANIFEST_COLUMNS = ("path", "label", "split")


@dataclass(frozen=True)
class ManifestRow:
    path: str
    label: str
    split: str


@dataclass(frozen=True)
class Manifest:
    """Which file is in which split, for one data root; `classes` fixes the label order."""

    classes: tuple[str, ...]
    rows: tuple[ManifestRow, ...]

    def subset(self, *splits: str) -> list[ManifestRow]:
        return [row for row in self.rows if row.split in splits]

    def label_index(self, label: str) -> int:
        return self.classes.index(label)

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(MANIFEST_COLUMNS)
        writer.writerows((row.path, row.label, row.split) for row in self.rows)
        return buffer.getvalue()

    def digest(self) -> str:
        """A short content hash naming exactly these files, labels and splits."""
        text = ",".join(self.classes) + "\n" + self.to_csv()
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_csv())

    @classmethod
    def load(cls, path: str | Path, classes: Sequence[str]) -> "Manifest":
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise DatasetError(f"cannot read manifest {path}: {exc}") from exc
        return cls.from_csv(text, classes)

    @classmethod
    def from_csv(cls, text: str, classes: Sequence[str]) -> "Manifest":
        reader = csv.DictReader(io.StringIO(text))
        if tuple(reader.fieldnames or ()) != MANIFEST_COLUMNS:
            raise DatasetError(f"manifest must have columns {','.join(MANIFEST_COLUMNS)}; got {reader.fieldnames}")
        rows = tuple(ManifestRow(r["path"], r["label"], r["split"]) for r in reader)
        for row in rows:
            if row.split not in SPLITS or row.label not in classes:
                raise DatasetError(
                    f"manifest row {row.path!r} has split {row.split!r} (expected one of {', '.join(SPLITS)}) "
                    f"and label {row.label!r} (expected one of {', '.join(classes)})"
                )
        return cls(tuple(classes), rows)


def stratified_split(files: Iterable[LabelledFile], classes: Sequence[str], settings: SplitSettings) -> Manifest:
    """Split each class on its own so every split keeps the class proportions; same seed, same split."""
    return split_keeping(files, classes, settings, {})


def split_keeping(files: Iterable[LabelledFile], classes: Sequence[str], settings: SplitSettings,
                  kept: Mapping[str, str]) -> Manifest:
    """The files whose path `kept` names keep that split (a previous version's); the others are split each class
    on its own, so the splits keep the class proportions: same seed, same split. Every class needs a file."""
    by_class: dict[str, list[str]] = defaultdict(list)
    for item in files:
        if item.label not in classes:
            raise DatasetError(f"{item.path} has label {item.label!r}, not one of the classes {', '.join(classes)}")
        by_class[item.label].append(item.path)
    rng = np.random.default_rng(settings.seed)
    rows: list[ManifestRow] = []
    for label in classes:
        if not by_class.get(label):
            raise DatasetError(f"class {label!r} has no readable images")
        rows += [ManifestRow(path, label, kept[path]) for path in by_class[label] if path in kept]
        paths = sorted(path for path in by_class[label] if path not in kept)
        if not paths:
            continue
        order = rng.permutation(len(paths))
        n_test, n_val = split_sizes(len(paths), settings)
        for rank, index in enumerate(order):
            split = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
            rows.append(ManifestRow(paths[index], label, split))
    rows.sort(key=lambda row: (SPLITS.index(row.split), row.label, row.path))
    return Manifest(tuple(classes), tuple(rows))


def split_sizes(count: int, settings: SplitSettings) -> tuple[int, int]:
    """(test, val) sizes for one class of `count` files; training always keeps at least one."""
    n_test = min(int(round(count * settings.test_fraction)), max(count - 1, 0))
    n_val = min(int(round(count * settings.val_fraction)), max(count - 1 - n_test, 0))
    return n_test, n_val
