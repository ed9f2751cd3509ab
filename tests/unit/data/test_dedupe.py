"""deduplicate: files with the same bytes counted once; the latest root's label wins (within a root the newest
file's), and the first file with that label is the one kept."""

from __future__ import annotations

import os
from pathlib import Path

from imgclf.data.dedupe import Duplicate, deduplicate
from imgclf.data.scan import LabelledFile


def files_at(root: Path, *entries: tuple[str, str, int]) -> list[LabelledFile]:
    """(path, label, modification time in seconds) each: the file written with that time."""
    for path, _, mtime in entries:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(b"x")
        os.utime(root / path, (mtime, mtime))
    return [LabelledFile(path, label) for path, label, _ in entries]


def test_distinct_files_are_all_kept(tmp_path: Path) -> None:
    files = files_at(tmp_path, ("0/a.png", "0", 1), ("1/b.png", "1", 1))

    assert deduplicate(files, ["d1", "d2"], [0, 0], tmp_path) == ([0, 1], [])


def test_a_later_copy_with_the_same_label_is_dropped_for_the_first(tmp_path: Path) -> None:
    files = files_at(tmp_path, ("0/a.png", "0", 1), ("fix/0/a.png", "0", 9))

    kept, duplicates = deduplicate(files, ["same", "same"], [0, 1], tmp_path)

    assert kept == [0]
    assert duplicates == [Duplicate("fix/0/a.png", "0", "0/a.png", "0")]
    assert not duplicates[0].conflict


def test_a_later_roots_other_label_wins_even_when_older(tmp_path: Path) -> None:
    files = files_at(tmp_path, ("3/a.png", "3", 9), ("fix/5/a.png", "5", 1), ("4/b.png", "4", 1))

    kept, duplicates = deduplicate(files, ["same", "same", "other"], [0, 1, 0], tmp_path)

    assert kept == [1, 2]
    assert duplicates == [Duplicate("3/a.png", "3", "fix/5/a.png", "5")]
    assert duplicates[0].conflict


def test_within_one_root_the_newest_files_label_wins(tmp_path: Path) -> None:
    files = files_at(tmp_path, ("5/a.png", "5", 20), ("9/a.png", "9", 30), ("7/a.png", "7", 10))

    kept, duplicates = deduplicate(files, ["same"] * 3, [1, 1, 1], tmp_path)

    assert kept == [1]
    assert {d.path for d in duplicates} == {"5/a.png", "7/a.png"}
    assert {(d.kept, d.kept_label) for d in duplicates} == {("9/a.png", "9")}
