"""stratified_split and Manifest: deterministic, stratified, lossless splits and their CSV manifest."""

from __future__ import annotations

import os
import random
from collections import Counter

import pytest

from imgclf.config import SplitSettings
from imgclf.data.scan import LabelledFile
from imgclf.data.split import MANIFEST_COLUMNS, SPLITS, Manifest, ManifestRow, split_sizes, stratified_split
from imgclf.errors import DatasetError

CLASS_SIZES = {"ant": 40, "bee": 23, "cow": 7, "dog": 1}
CLASSES = tuple(sorted(CLASS_SIZES))


@pytest.fixture
def seed() -> int:
    """Seed for the split; override with IMGCLF_TEST_SEED to reproduce a failure."""
    return int(os.environ.get("IMGCLF_TEST_SEED", "42"))


def make_files(sizes: dict[str, int] = CLASS_SIZES) -> list[LabelledFile]:
    return [LabelledFile(f"{label}/img_{i:03d}.png", label) for label, count in sizes.items() for i in range(count)]


@pytest.fixture
def manifest(seed) -> Manifest:
    return stratified_split(make_files(), CLASSES, SplitSettings(seed=seed))


def test_same_seed_gives_the_same_manifest(seed):
    first = stratified_split(make_files(), CLASSES, SplitSettings(seed=seed))
    second = stratified_split(make_files(), CLASSES, SplitSettings(seed=seed))

    assert first == second
    assert first.to_csv() == second.to_csv()


def test_input_order_does_not_change_the_split(seed):
    files = make_files()
    shuffled = files[:]
    random.Random(seed).shuffle(shuffled)

    assert stratified_split(shuffled, CLASSES, SplitSettings(seed=seed)) == stratified_split(
        files, CLASSES, SplitSettings(seed=seed)
    )


def test_different_seed_gives_a_different_manifest(seed):
    first = stratified_split(make_files(), CLASSES, SplitSettings(seed=seed))
    second = stratified_split(make_files(), CLASSES, SplitSettings(seed=seed + 1))

    assert first.rows != second.rows
    assert first.digest() != second.digest()


def test_every_file_lands_in_exactly_one_split(manifest):
    paths = [row.path for row in manifest.rows]

    assert len(paths) == len(set(paths))
    assert sorted(paths) == sorted(item.path for item in make_files())
    assert {row.split for row in manifest.rows} <= set(SPLITS)
    for split in SPLITS:
        others = {row.path for row in manifest.rows if row.split != split}
        assert not others & {row.path for row in manifest.subset(split)}


def test_labels_are_kept(manifest):
    for row in manifest.rows:
        assert row.path.startswith(f"{row.label}/")


@pytest.mark.parametrize(("val_fraction", "test_fraction"), [(0.15, 0.15), (0.1, 0.2), (0.3, 0.3)])
def test_each_class_keeps_the_split_proportions(seed, val_fraction, test_fraction):
    settings = SplitSettings(val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)

    manifest = stratified_split(make_files(), CLASSES, settings)

    counts = Counter((row.label, row.split) for row in manifest.rows)
    for label, total in CLASS_SIZES.items():
        if total < 2:
            continue
        assert abs(counts[label, "test"] - total * test_fraction) <= 1, label
        assert abs(counts[label, "val"] - total * val_fraction) <= 1, label
        assert counts[label, "train"] + counts[label, "val"] + counts[label, "test"] == total


def test_every_split_gets_every_class_with_at_least_seven_files(manifest):
    counts = Counter((row.label, row.split) for row in manifest.rows)

    for label, total in CLASS_SIZES.items():
        if total >= 7:
            for split in SPLITS:
                assert counts[label, split] >= 1, (label, split)


def test_a_one_file_class_stays_in_train(manifest):
    assert [(row.path, row.split) for row in manifest.rows if row.label == "dog"] == [("dog/img_000.png", "train")]


@pytest.mark.parametrize(
    ("count", "val_fraction", "test_fraction", "expected"),
    [
        (0, 0.15, 0.15, (0, 0)),
        (1, 0.15, 0.15, (0, 0)),
        (2, 0.45, 0.44, (1, 0)),
        (3, 0.45, 0.44, (1, 1)),
        (7, 0.15, 0.15, (1, 1)),
        (100, 0.15, 0.15, (15, 15)),
        (10, 0.1, 0.2, (2, 1)),
    ],
)
def test_split_sizes_always_leave_a_training_file(count, val_fraction, test_fraction, expected):
    settings = SplitSettings(val_fraction=val_fraction, test_fraction=test_fraction)

    n_test, n_val = split_sizes(count, settings)

    assert (n_test, n_val) == expected
    assert count == 0 or count - n_test - n_val >= 1


def test_rows_are_ordered_by_split_label_and_path(manifest):
    keys = [(SPLITS.index(row.split), row.label, row.path) for row in manifest.rows]

    assert keys == sorted(keys)


def test_classes_fix_the_label_order(manifest):
    assert manifest.classes == CLASSES
    assert [manifest.label_index(label) for label in CLASSES] == [0, 1, 2, 3]


def test_subset_selects_rows_by_split(manifest):
    train_and_val = manifest.subset("train", "val")

    assert {row.split for row in train_and_val} == {"train", "val"}
    assert len(train_and_val) + len(manifest.subset("test")) == len(manifest.rows)


def test_a_class_without_files_raises_naming_it(seed):
    with pytest.raises(DatasetError, match="'emu'"):
        stratified_split(make_files(), CLASSES + ("emu",), SplitSettings(seed=seed))


# --- CSV manifest -------------------------------------------------------------------------------------------------


def test_to_csv_has_a_header_and_one_line_per_row(manifest):
    lines = manifest.to_csv().splitlines()

    assert lines[0] == ",".join(MANIFEST_COLUMNS)
    assert len(lines) == len(manifest.rows) + 1
    assert lines[1] == ",".join((manifest.rows[0].path, manifest.rows[0].label, manifest.rows[0].split))


def test_csv_round_trip(manifest):
    assert Manifest.from_csv(manifest.to_csv(), manifest.classes) == manifest


def test_save_and_load_round_trip(tmp_path, manifest):
    path = tmp_path / "split.csv"

    manifest.save(path)

    assert Manifest.load(path, manifest.classes) == manifest


def test_awkward_paths_survive_the_round_trip(tmp_path):
    rows = (
        ManifestRow('a/with, comma.png', "a", "train"),
        ManifestRow('a/with "quotes".png', "a", "val"),
        ManifestRow("b/café ü.png", "b", "test"),
    )
    manifest = Manifest(("a", "b"), rows)
    path = tmp_path / "split.csv"

    manifest.save(path)

    assert Manifest.load(path, ("a", "b")) == manifest


def test_digest_is_stable(manifest, seed):
    rebuilt = stratified_split(make_files(), CLASSES, SplitSettings(seed=seed))

    assert manifest.digest() == manifest.digest() == rebuilt.digest()
    assert len(manifest.digest()) == 16
    int(manifest.digest(), 16)  # hex


def test_digest_changes_when_one_row_changes(manifest):
    first = manifest.rows[0]
    moved = ManifestRow(first.path, first.label, "test" if first.split != "test" else "train")
    changed = Manifest(manifest.classes, (moved,) + manifest.rows[1:])

    assert changed.digest() != manifest.digest()


def test_digest_changes_when_the_class_order_changes(manifest):
    reordered = Manifest(tuple(reversed(manifest.classes)), manifest.rows)

    assert reordered.digest() != manifest.digest()


@pytest.mark.parametrize(
    "text",
    ["", "file,label,split\na.png,a,train\n", "path,label\na.png,a\n", "path,split,label\na.png,train,a\n"],
    ids=["empty", "wrong-name", "missing-column", "wrong-order"],
)
def test_bad_manifest_header_raises(text):
    with pytest.raises(DatasetError, match="manifest must have columns path,label,split"):
        Manifest.from_csv(text, ("a", "b"))


def test_loading_a_missing_manifest_raises_naming_it(tmp_path):
    path = tmp_path / "missing.csv"

    with pytest.raises(DatasetError, match="cannot read manifest") as info:
        Manifest.load(path, ("a", "b"))

    assert str(path) in str(info.value)


@pytest.mark.parametrize("row", ["a.png,a,trian", "a.png,zebra,train"], ids=["unknown-split", "unknown-label"])
def test_manifest_rows_with_unknown_values_raise(row):
    with pytest.raises(DatasetError):
        Manifest.from_csv(f"path,label,split\n{row}\n", ("a", "b"))
