"""A new version against the previous one: both scored by label name on the previous test split and the later roots'
files, shown as a table and printed lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from imgclf.data.dataset import PreparedDataset
from imgclf.data.split import Manifest, ManifestRow
from imgclf.evaluation.versions import compare_versions, set_score, unscored


class Lookup:
    """A classifier answering from a table: image value -> label name (over its own labels)."""

    def __init__(self, labels: tuple[str, ...], answers: dict[int, str]) -> None:
        self.labels, self.answers = labels, answers

    def predict_proba(self, images: list[np.ndarray]) -> np.ndarray:
        probabilities = np.zeros((len(images), len(self.labels)))
        for row, image in enumerate(images):
            probabilities[row, self.labels.index(self.answers[int(image[0, 0, 0])])] = 1.0
        return probabilities


def dataset(rows: list[tuple[str, str, int, bool]]) -> PreparedDataset:
    """Rows of (label, split, source root, in the previous test split); image i is filled with the value i."""
    manifest = Manifest(("a", "b", "c"), tuple(ManifestRow(f"f{i}.png", label, split)
                                                for i, (label, split, _, _) in enumerate(rows)))
    images = np.stack([np.full((4, 4, 3), i, np.uint8) for i in range(len(rows))])
    labels = np.array([manifest.label_index(label) for label, *_ in rows])
    return PreparedDataset(Path("digits"), manifest, images, labels, [], roots=(Path("digits"), Path("fixes")),
                           sources=np.array([source for *_, source, _ in rows]),
                           previous_test=np.array([old for *_, old in rows]))


ROWS = [("a", "test", 0, True), ("b", "test", 0, True), ("b", "test", 1, True), ("c", "test", 1, False),
        ("c", "train", 1, False), ("a", "train", 0, False)]


def test_each_set_scores_both_versions_by_label_name() -> None:
    old = Lookup(("a", "b"), {0: "a", 1: "a", 2: "a", 3: "b", 4: "b", 5: "a"})  # knows no class c
    new = Lookup(("a", "b", "c"), {0: "a", 1: "b", 2: "b", 3: "c", 4: "b", 5: "a"})

    comparison = compare_versions("m:2", "m:1", old, new, dataset(ROWS))

    scores = {item.key: item for item in comparison.sets}
    assert (scores["previous_test"].images, scores["previous_test"].previous_accuracy,
            scores["previous_test"].new_accuracy) == (3, pytest.approx(1 / 3), 1.0)
    assert (scores["corrections_test"].images, scores["corrections_test"].new_accuracy) == (2, 1.0)
    assert (scores["corrections_all"].images, scores["corrections_all"].previous_accuracy,
            scores["corrections_all"].new_accuracy) == (3, 0.0, pytest.approx(2 / 3))
    assert comparison.note is None


def test_macro_f1_averages_over_the_classes_the_set_holds() -> None:
    truth, guess = np.array(["a", "a", "b"]), np.array(["a", "c", "b"])

    score = set_score("previous_test", truth, guess, truth)

    assert score.previous_f1 == pytest.approx(f1_score(truth, guess, labels=["a", "b"], average="macro"))
    assert score.previous_f1 == pytest.approx((2 / 3 + 1) / 2)
    assert score.new_f1 == 1.0


def test_the_table_and_the_printed_lines_show_both_versions() -> None:
    old = Lookup(("a", "b", "c"), {0: "a", 1: "a", 2: "a", 3: "c", 4: "c", 5: "a"})
    new = Lookup(("a", "b", "c"), {0: "a", 1: "b", 2: "b", 3: "c", 4: "c", 5: "a"})

    comparison = compare_versions("m:2", "m:1", old, new, dataset(ROWS))

    assert comparison.heading == "m:2 against version 1"
    table = comparison.markdown().splitlines()
    assert table[0].startswith("| Images | Count | Accuracy v1 | Accuracy v2 | Δ | Macro F1 v1 | Macro F1 v2 | Δ |")
    assert table[2].startswith("| previous version's test split | 3 | 0.3333 | 1.0000 | +0.6667 | ")
    assert comparison.lines()[0] == ("m:2 against version 1, previous version's test split (3 images): accuracy "
                                     "0.3333 → 1.0000, macro F1 0.2500 → 1.0000")  # F1 of a: 0.5, of b: 0
    assert comparison.to_dict()["sets"]["corrections_all"]["images"] == 3


def test_without_shared_images_the_comparison_says_why() -> None:
    data = dataset([("a", "test", 0, False), ("b", "train", 0, False)])

    comparison = unscored("m:2", "m:1", data)

    assert [item.images for item in comparison.sets] == [0, 0, 0]
    assert comparison.note == ("None of the previous version's test files is among this run's files (other data); "
                               "the later data folders add no file of their own.")
    assert comparison.lines() == [f"m:2 against version 1: {comparison.note}"]
    assert "| previous version's test split | 0 | — | — | — |" in comparison.markdown()
