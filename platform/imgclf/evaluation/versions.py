"""A new version against the previous one of the same model: accuracy and macro F1 of both on the previous version's
test split, on the later roots' files held out for testing, and on all of them (the new version trained on most)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
from sklearn.metrics import f1_score

from imgclf.data.dataset import PreparedDataset
from imgclf.evaluation.report import MISSING
from imgclf.models.classifier import Classifier

SET_TITLES = {
    "previous_test": "previous version's test split",
    "corrections_test": "later roots' files in the test split (held out)",
    "corrections_all": "all later roots' files (the new version trained on most of them)",
}


@dataclass(frozen=True)
class SetScore:
    """Both versions' accuracy and macro F1 (over the classes the set holds) on one set of images; None: no image."""

    key: str  # a key of SET_TITLES
    images: int
    previous_accuracy: float | None = None
    new_accuracy: float | None = None
    previous_f1: float | None = None
    new_f1: float | None = None


@dataclass(frozen=True)
class VersionComparison:
    """`model` (name:version) against `previous` (name:version) of the same name; `note` says why a set has no
    scores."""

    model: str
    previous: str
    sets: tuple[SetScore, ...] = ()
    note: str | None = None

    @property
    def version(self) -> str:
        return self.model.rsplit(":", 1)[1]

    @property
    def previous_version(self) -> str:
        return self.previous.rsplit(":", 1)[1]

    @property
    def heading(self) -> str:
        return f"{self.model} against version {self.previous_version}"

    def markdown(self) -> str:
        """A table, one row per set: images, both accuracies and macro F1s, and the new minus the previous."""
        old, new = f"v{self.previous_version}", f"v{self.version}"
        lines = [row(["Images", "Count", f"Accuracy {old}", f"Accuracy {new}", "Δ", f"Macro F1 {old}",
                      f"Macro F1 {new}", "Δ"]), row(["---"] * 8)]
        for item in self.sets:
            lines.append(row([SET_TITLES[item.key], str(item.images),
                              number(item.previous_accuracy), number(item.new_accuracy),
                              change(item.previous_accuracy, item.new_accuracy),
                              number(item.previous_f1), number(item.new_f1), change(item.previous_f1, item.new_f1)]))
        return "\n".join(lines + ([f"\n{self.note}"] if self.note else []))

    def lines(self) -> list[str]:
        """One printed line per set with images, then the note (if any)."""
        scored = [f"{self.heading}, {SET_TITLES[item.key]} ({item.images} images): accuracy "
                  f"{item.previous_accuracy:.4f} → {item.new_accuracy:.4f}, macro F1 {item.previous_f1:.4f} → "
                  f"{item.new_f1:.4f}" for item in self.sets if item.images]
        return scored + ([f"{self.heading}: {self.note}"] if self.note else [])

    def to_dict(self) -> dict[str, Any]:
        return {"previous": self.previous, "sets": {item.key: asdict(item) for item in self.sets}, "note": self.note}


def row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def number(value: float | None) -> str:
    return MISSING if value is None else f"{value:.4f}"


def change(before: float | None, after: float | None) -> str:
    return MISSING if before is None or after is None else f"{after - before:+.4f}"


def predicted_labels(classifier: Classifier, images: np.ndarray) -> np.ndarray:
    """The label names `classifier` gives `images` (resized to its own input size)."""
    return np.asarray(classifier.labels)[classifier.predict_proba(list(images)).argmax(axis=1)]


def set_score(key: str, truth: np.ndarray, previous: np.ndarray, new: np.ndarray) -> SetScore:
    """Accuracy and macro F1 (over the classes `truth` holds) of both versions' label names."""
    present = sorted(set(truth.tolist()))

    def f1(predicted: np.ndarray) -> float:
        return float(f1_score(truth, predicted, labels=present, average="macro", zero_division=0))

    return SetScore(key, len(truth), float((previous == truth).mean()), float((new == truth).mean()), f1(previous),
                    f1(new))


def comparison_rows(data: PreparedDataset) -> np.ndarray:
    """The rows of any comparison set, in manifest order."""
    return np.unique(np.concatenate([np.zeros(0, np.int64), *data.comparison_sets().values()]))


def unscored(model: str, previous_ref: str, data: PreparedDataset, note: str | None = None) -> VersionComparison:
    """The comparison without scores, saying why: `note`, or else why no set has an image."""
    sets = tuple(SetScore(key, 0) for key in SET_TITLES)
    return VersionComparison(model, previous_ref, sets, note or no_image_note(data, sets))


def compare_versions(model: str, previous_ref: str, previous: Classifier, new: Classifier,
                     data: PreparedDataset) -> VersionComparison:
    """Both versions scored on each of the data's comparison sets (by label name: their label sets may differ)."""
    sets = data.comparison_sets()
    wanted = comparison_rows(data)
    names = np.asarray(data.classes)[data.labels]
    old_labels, new_labels = np.empty(len(names), object), np.empty(len(names), object)
    old_labels[wanted] = predicted_labels(previous, data.images[wanted])
    new_labels[wanted] = predicted_labels(new, data.images[wanted])
    scores = [set_score(key, names[index], old_labels[index], new_labels[index]) if len(index) else SetScore(key, 0)
              for key, index in sets.items()]
    return VersionComparison(model, previous_ref, tuple(scores), no_image_note(data, scores))


def no_image_note(data: PreparedDataset, scores: Sequence[SetScore]) -> str | None:
    """Why the sets without images have none."""
    empty = {item.key for item in scores if not item.images}
    notes = []
    if "previous_test" in empty:
        notes.append("none of the previous version's test files is among this run's files (other data)")
    if {"corrections_test", "corrections_all"} & empty and len(data.roots) > 1:
        notes.append("the later data folders add no file of their own to the test split" if "corrections_all"
                     not in empty else "the later data folders add no file of their own")
    text = "; ".join(notes)
    return f"{text[:1].upper()}{text[1:]}." if notes else None
