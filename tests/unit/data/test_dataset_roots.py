"""prepare_dataset over several roots: equal files counted once, the previous version's split kept, the report, and
one root's manifest exactly as before."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from imgclf.config import DecodeLimits, SplitSettings
from imgclf.data.dataset import PreparedDataset, PreviousSplit, prepare_dataset
from imgclf.data.scan import scan_folder
from imgclf.data.split import stratified_split
from utils.images import write_image

SPLIT = SplitSettings(val_fraction=0.2, test_fraction=0.2)


def prepare(*roots: Path, previous: PreviousSplit | None = None) -> PreparedDataset:
    return prepare_dataset(roots, image_size=8, split=SPLIT, limits=DecodeLimits(), previous=previous, progress=False)


def colour(index: int) -> tuple[int, int, int]:
    return (index * 7 % 256, index * 13 % 256, index * 29 % 256)


@pytest.fixture
def digits(tmp_path: Path) -> Path:
    """Classes a and b, ten distinct images each."""
    for index in range(20):
        write_image(tmp_path / "digits" / "ab"[index // 10] / f"{index:02d}.png", color=colour(index))
    return tmp_path / "digits"


@pytest.fixture
def first(digits: Path) -> PreparedDataset:
    return prepare(digits)


def previous_of(data: PreparedDataset) -> PreviousSplit:
    return PreviousSplit("digits-knn-pixels:1", {row.path: row.split for row in data.manifest.rows})


def correct(digits: Path, corrections: Path, path: str, label: str) -> str:
    """Copy a file of `digits` into `corrections` under `label`; its absolute POSIX path."""
    target = corrections / label / Path(path).name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(digits / path, target)
    return target.resolve().as_posix()


def test_one_roots_manifest_is_the_plain_stratified_split(digits: Path, first: PreparedDataset) -> None:
    classes, files = scan_folder(digits)

    assert first.manifest.to_csv() == stratified_split(files, classes, SPLIT).to_csv()
    assert first.report()["duplicates"] == {"count": 0, "label_conflicts": 0, "files": []}
    assert first.report()["previous_split"] is None


def test_a_correction_relabels_a_test_file_which_stays_test(digits: Path, first: PreparedDataset,
                                                            tmp_path: Path) -> None:
    test_a = next(row.path for row in first.manifest.rows if row.split == "test" and row.label == "a")
    train_b = next(row.path for row in first.manifest.rows if row.split == "train" and row.label == "b")
    corrections = tmp_path / "corrections"
    moved_test, moved_train = correct(digits, corrections, test_a, "b"), correct(digits, corrections, train_b, "a")
    write_image(corrections / "c" / "new.png", color=(1, 2, 3))

    data = prepare(digits, corrections, previous=previous_of(first))

    rows = {row.path: row for row in data.manifest.rows}
    assert (rows[moved_test].label, rows[moved_test].split) == ("b", "test")
    assert (rows[moved_train].label, rows[moved_train].split) == ("a", "train")
    assert test_a not in rows and train_b not in rows
    assert data.classes == ("a", "b", "c")
    report = data.report()
    assert report["duplicates"]["label_conflicts"] == 2
    assert report["classes_only_in_later_roots"] == {"c": [str(corrections)]}
    assert report["previous_split"] == {"version": "digits-knn-pixels:1", "test_files": 4, "test_files_found": 4}
    assert [root["images"] for root in report["roots"]] == [18, 3]


def test_comparison_sets_are_the_old_test_rows_and_the_later_roots_rows(digits: Path, first: PreparedDataset,
                                                                          tmp_path: Path) -> None:
    test_a = next(row.path for row in first.manifest.rows if row.split == "test" and row.label == "a")
    corrections = tmp_path / "corrections"
    moved = correct(digits, corrections, test_a, "b")
    for index in range(5):
        write_image(corrections / "a" / f"new{index}.png", color=(200, index, 9))

    data = prepare(digits, corrections, previous=previous_of(first))

    sets = {key: [data.manifest.rows[i].path for i in index] for key, index in data.comparison_sets().items()}
    old_test = {row.path for row in first.manifest.rows if row.split == "test"} - {test_a} | {moved}
    assert set(sets["previous_test"]) == old_test
    assert set(sets["corrections_all"]) == {moved} | {(corrections / "a" / f"new{i}.png").resolve().as_posix()
                                                      for i in range(5)}
    split_of = {row.path: row.split for row in data.manifest.rows}
    assert set(sets["corrections_test"]) == {path for path in sets["corrections_all"] if split_of[path] == "test"}
    assert moved in sets["corrections_test"]


def test_the_same_data_again_keeps_the_manifest_byte_for_byte_whatever_the_seed(digits: Path,
                                                                                first: PreparedDataset) -> None:
    again = prepare_dataset([digits], image_size=8, split=SplitSettings(val_fraction=0.2, test_fraction=0.2, seed=7),
                            limits=DecodeLimits(), previous=previous_of(first), progress=False)

    assert again.manifest.to_csv() == first.manifest.to_csv()
    assert again.report()["previous_split"]["test_files_found"] == len(first.indices("test"))
