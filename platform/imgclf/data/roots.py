"""Several folder-per-class roots read as one dataset with one label set.

The first root's files are named by their path relative to it, as with a single root; a later root's by its
absolute POSIX path, so `Path(first_root) / path` is every file's location and `load_images(first_root, files)`
reads them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from imgclf.data.scan import LabelledFile, scan_folder


@dataclass(frozen=True)
class ScannedRoots:
    """Every image file of the roots in root order, the root each came from, and the union of their classes."""

    roots: tuple[Path, ...]
    classes: tuple[str, ...]  # sorted
    files: tuple[LabelledFile, ...]
    sources: tuple[int, ...]  # sources[i]: the index in `roots` of files[i]'s root

    @property
    def added_classes(self) -> dict[str, list[str]]:
        """Classes the first root lacks, each with the later roots that hold it."""
        first = {item.label for item, source in zip(self.files, self.sources) if source == 0}
        added: dict[str, list[str]] = {}
        for item, source in zip(self.files, self.sources):
            if item.label not in first and str(self.roots[source]) not in added.get(item.label, []):
                added.setdefault(item.label, []).append(str(self.roots[source]))
        return added


def scan_roots(roots: Sequence[str | Path]) -> ScannedRoots:
    """Scan every root: the first must hold two classes or more, a later one at least one (a class the first root
    lacks is allowed: the label set is the union)."""
    roots = tuple(Path(root) for root in roots)
    classes, first_files = scan_folder(roots[0])
    files, sources = list(first_files), [0] * len(first_files)
    for index, root in enumerate(roots[1:], start=1):
        later_classes, found = scan_folder(root, min_classes=1)
        base = root.resolve()
        classes += later_classes
        files += [LabelledFile((base / item.path).as_posix(), item.label) for item in found]
        sources += [index] * len(found)
    return ScannedRoots(roots, tuple(sorted(set(classes))), tuple(files), tuple(sources))
