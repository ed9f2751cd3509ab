"""Retraining from the digits plus a folder of corrections: `imgclf train --data DIGITS --data CORRECTIONS` counts equal
files once (a correction's label wins), keeps version 1's test split, and reports version 2 against version 1 on it
and on the corrections, with numbers a recomputation from the two registered versions gives again."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from imgclf.data.decode import decode_file
from imgclf.data.digits import write_digits
from imgclf.models.artifact import load_classifier
from imgclf.registry import Registry
from utils.cli import CliResult, run_cli
from utils.digits_run import DIGITS_PER_CLASS, RUN_NAME

pytestmark = pytest.mark.slow

MODELS = ("digits-knn-pixels", "digits-dt-pixels")  # VGG16 would take minutes: its loading is the same call
RELABELLED_TEST = 3  # version 1 test files of class 3 the corrections call 5
RELABELLED_TRAIN = 3  # version 1 training files of class 1 the corrections call 7
SAME_LABEL = 2  # version 1 files of class 0 the corrections confirm
NEW_FOURS = 20  # fours version 1 never saw
SETS = ("previous_test", "corrections_test", "corrections_all")


@dataclass(frozen=True)
class Retrained:
    digits: Path
    corrections: Path
    registry: Registry
    first: Path  # version 1's run folder
    second: Path  # version 2's
    cli: CliResult  # what the second `imgclf train` printed
    relabelled_test: dict[str, str]  # version 1 test path -> the correction's absolute path
    relabelled_train: dict[str, str]
    new_fours: list[str]  # absolute paths


def manifest(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def copy_as_correction(source: Path, corrections: Path, label: str) -> str:
    """The file as the page saves a correction: <root>/<label>/<sha256[:16]>.png; its absolute POSIX path."""
    target = corrections / label / f"{hashlib.sha256(source.read_bytes()).hexdigest()[:16]}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    return target.resolve().as_posix()


def train(root: Path, output: str, *data: Path) -> CliResult:
    config = root / "settings.yaml"
    config.write_text(yaml.safe_dump({"cache_dir": str(root / "cache")}))
    options = [option for folder in data for option in ("--data", folder)]
    result = run_cli(["train", *options, "--config", config, "--models", "knn,dt", "--features", "pixels",
                      "--image-size", "32", "--registry", root / "registry", "--output", root / output,
                      "--name", RUN_NAME])
    assert result.exit_code == 0, result.stderr
    return result


def only_run(folder: Path) -> Path:
    (run,) = folder.iterdir()
    return run


@pytest.fixture(scope="module")
def retrained(digits_dir: Path, tmp_path_factory: pytest.TempPathFactory, ray_cluster) -> Retrained:
    root = tmp_path_factory.mktemp("retrain")
    digits = root / "digits"
    shutil.copytree(digits_dir, digits)
    train(root, "runs1", digits)
    first = only_run(root / "runs1")
    rows = manifest(first / "manifest.csv")
    corrections = root / "corrections"

    def pick(label: str, split: str, count: int) -> list[str]:
        return [row["path"] for row in rows if row["label"] == label and row["split"] == split][:count]

    relabelled_test = {path: copy_as_correction(digits / path, corrections, "5")
                       for path in pick("3", "test", RELABELLED_TEST)}
    relabelled_train = {path: copy_as_correction(digits / path, corrections, "7")
                        for path in pick("1", "train", RELABELLED_TRAIN)}
    for path in pick("0", "train", SAME_LABEL):
        copy_as_correction(digits / path, corrections, "0")
    every_digit = root / "all-digits"
    write_digits(every_digit)
    unseen = sorted((every_digit / "4").glob("*.png"))[DIGITS_PER_CLASS : DIGITS_PER_CLASS + NEW_FOURS]
    new_fours = [copy_as_correction(path, corrections, "4") for path in unseen]
    (corrections / "corrections.csv").write_text("file,label\n")  # the page's log: not an image, not scanned
    cli = train(root, "runs2", digits, corrections)
    return Retrained(digits, corrections, Registry(root / "registry"), first, only_run(root / "runs2"), cli,
                     relabelled_test, relabelled_train, new_fours)


def test_equal_files_are_counted_once_and_a_corrections_label_wins(retrained: Retrained) -> None:
    report = json.loads((retrained.second / "data_report.json").read_text())

    assert report["images"] == 10 * DIGITS_PER_CLASS + NEW_FOURS
    assert report["duplicates"]["count"] == RELABELLED_TEST + RELABELLED_TRAIN + SAME_LABEL
    assert report["duplicates"]["label_conflicts"] == RELABELLED_TEST + RELABELLED_TRAIN
    assert {d["path"]: (d["kept"], d["kept_label"]) for d in report["duplicates"]["files"] if d["label"] == "3"} == {
        path: (kept, "5") for path, kept in retrained.relabelled_test.items()}
    assert report["classes_only_in_later_roots"] == {}
    assert sum(d["label"] == d["kept_label"] == "0" for d in report["duplicates"]["files"]) == SAME_LABEL


def test_version_1s_test_split_stays_test_and_new_files_are_split_as_usual(retrained: Retrained) -> None:
    first = {row["path"]: row for row in manifest(retrained.first / "manifest.csv")}
    second = {row["path"]: row for row in manifest(retrained.second / "manifest.csv")}
    moved = retrained.relabelled_test | retrained.relabelled_train

    for path, row in first.items():  # every version 1 file keeps its split, a relabelled one under its new path
        assert second[moved.get(path, path)]["split"] == row["split"], path
    assert all(second[path]["label"] == "5" for path in retrained.relabelled_test.values())
    assert all(second[path]["label"] == "7" for path in retrained.relabelled_train.values())
    fours = [second[path]["split"] for path in retrained.new_fours]
    assert (fours.count("test"), fours.count("val"), fours.count("train")) == (3, 3, 14)
    assert len(second) == len(first) + NEW_FOURS
    registered = retrained.registry.local_path(f"{MODELS[0]}:2") / "manifest.csv"
    assert registered.read_bytes() == (retrained.second / "manifest.csv").read_bytes()


def recomputed(retrained: Retrained, model: str) -> dict[str, tuple[int, float, float]]:
    """Per set: (images, version 1 accuracy, version 2 accuracy) from the registered versions, read anew."""
    rows = manifest(retrained.second / "manifest.csv")
    first_test = {row["path"] for row in manifest(retrained.first / "manifest.csv") if row["split"] == "test"}
    later = str(retrained.corrections.resolve())
    sets = {
        "previous_test": [r for r in rows if r["path"] in first_test | set(retrained.relabelled_test.values())],
        "corrections_test": [r for r in rows if r["path"].startswith(later) and r["split"] == "test"],
        "corrections_all": [r for r in rows if r["path"].startswith(later)],
    }
    versions = [load_classifier(retrained.registry.local_path(f"{model}:{v}")) for v in (1, 2)]
    scores = {}
    for key, chosen in sets.items():
        images = [decode_file(retrained.digits / row["path"]) for row in chosen]
        truth = np.array([row["label"] for row in chosen])
        old, new = (np.asarray(c.labels)[c.predict_proba(images).argmax(axis=1)] for c in versions)
        scores[key] = (len(chosen), float((old == truth).mean()), float((new == truth).mean()))
    return scores


@pytest.mark.parametrize("model", MODELS)
def test_the_comparison_against_version_1_matches_a_recomputation(retrained: Retrained, model: str) -> None:
    against = json.loads((retrained.second / "metrics.json").read_text())[model]["against_previous"]
    report = (retrained.second / "report.md").read_text()

    assert against["previous"] == f"{model}:1"
    expected = recomputed(retrained, model)
    assert expected["previous_test"][0] == sum(r["split"] == "test" for r in manifest(retrained.first / "manifest.csv"))
    assert (expected["corrections_test"][0], expected["corrections_all"][0]) == (
        RELABELLED_TEST + 3, RELABELLED_TEST + RELABELLED_TRAIN + NEW_FOURS)
    for key in SETS:
        score = against["sets"][key]
        images, old, new = expected[key]
        assert (score["images"], score["previous_accuracy"], score["new_accuracy"]) == (
            images, pytest.approx(old), pytest.approx(new)), key
    assert f"## {model}:2 against version 1 (`{model}:1`)" in report
    old_test = against["sets"]["previous_test"]
    assert (f"| previous version's test split | {old_test['images']} | {old_test['previous_accuracy']:.4f} | "
            f"{old_test['new_accuracy']:.4f} |") in report
    assert (f"{model}:2 against version 1, previous version's test split ({old_test['images']} images): accuracy "
            f"{old_test['previous_accuracy']:.4f} → {old_test['new_accuracy']:.4f}") in retrained.cli.stdout


def test_the_corrections_relabelled_test_files_make_version_1_wrong_on_them(retrained: Retrained) -> None:
    """Version 1 learned them as threes: on the held-out corrections it misses at least those, which version 2's
    test split holds with their corrected label."""
    against = json.loads((retrained.second / "metrics.json").read_text())[MODELS[0]]["against_previous"]
    held_out = against["sets"]["corrections_test"]

    assert held_out["previous_accuracy"] <= 1 - RELABELLED_TEST / held_out["images"]
