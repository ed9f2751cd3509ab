"""split_keeping: the files a previous version split keep their split; the new ones are split as stratified_split
would split them alone; nothing kept gives exactly stratified_split's manifest."""

from __future__ import annotations

from collections import Counter

import pytest

from imgclf.config import SplitSettings
from imgclf.data.scan import LabelledFile
from imgclf.data.split import split_keeping, stratified_split
from imgclf.errors import DatasetError

CLASSES = ("ant", "bee", "cow")


def files(label: str, count: int, prefix: str = "") -> list[LabelledFile]:
    return [LabelledFile(f"{prefix}{label}/{i:03d}.png", label) for i in range(count)]


def test_nothing_kept_is_the_split_imgclf_always_made() -> None:
    """Pinned: one root's manifests (and so the runs made before several roots) stay byte for byte the same."""
    every = files("ant", 40) + files("bee", 23) + files("cow", 7)

    manifest = split_keeping(every, CLASSES, SplitSettings(seed=42), {})

    assert manifest.digest() == "70a400f82a5427e2"
    assert manifest.to_csv() == stratified_split(every, CLASSES, SplitSettings(seed=42)).to_csv()


def test_kept_files_keep_their_split_and_new_ones_split_as_they_would_alone(seed: int) -> None:
    old = files("ant", 40) + files("bee", 20)
    settings = SplitSettings(seed=seed)
    previous = {row.path: row.split for row in stratified_split(old, ("ant", "bee"), settings).rows}
    new = files("bee", 20, "/fixes/") + files("cow", 7, "/fixes/")

    manifest = split_keeping(old + new, CLASSES, settings, previous)

    got = {row.path: row.split for row in manifest.rows}
    assert {path: got[path] for path in previous} == previous
    alone = stratified_split(new, ("bee", "cow"), settings)
    assert {path: got[path] for path in got if path.startswith("/fixes/")} == {r.path: r.split for r in alone.rows}
    assert Counter(row.split for row in manifest.rows if row.path.startswith("/fixes/cow")) == {
        "test": 1, "val": 1, "train": 5}


def test_a_class_with_no_file_at_all_is_still_refused(seed: int) -> None:
    with pytest.raises(DatasetError, match="class 'cow' has no readable images"):
        split_keeping(files("ant", 5) + files("bee", 5), CLASSES, SplitSettings(seed=seed), {"ant/000.png": "test"})
