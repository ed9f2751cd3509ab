"""Files with the same bytes counted once. The label is the latest root's (a correction overrides), within one root
the newest file's (a label corrected twice keeps the last answer); the file kept is the first with that label."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from imgclf.data.scan import LabelledFile


@dataclass(frozen=True)
class Duplicate:
    """A file counted no more because `kept` has the same bytes; a conflict when their labels differ."""

    path: str
    label: str
    kept: str
    kept_label: str

    @property
    def conflict(self) -> bool:
        return self.label != self.kept_label

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "label": self.label, "kept": self.kept, "kept_label": self.kept_label}


def deduplicate(files: Sequence[LabelledFile], digests: Sequence[str], sources: Sequence[int],
                root: Path) -> tuple[list[int], list[Duplicate]]:
    """(indices of the files kept, in order; the files dropped for a kept one with the same digest).

    Of equal files the label of the one from the latest root wins; within a root the newest's (modification time,
    read only for duplicates, under `root` as `load_images` reads them), then the last in order's. The first file
    with that label is kept.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for index, digest in enumerate(digests):
        groups[digest].append(index)
    dropped: dict[int, int] = {}  # a dropped file's index -> the kept one's
    for members in groups.values():
        if len(members) > 1:
            last = max(members, key=lambda i: (sources[i], (root / files[i].path).stat().st_mtime_ns, i))
            kept = next(index for index in members if files[index].label == files[last].label)
            dropped |= {index: kept for index in members if index != kept}
    duplicates = [Duplicate(files[i].path, files[i].label, files[w].path, files[w].label) for i, w in dropped.items()]
    return [index for index in range(len(files)) if index not in dropped], duplicates
