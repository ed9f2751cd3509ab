"""What a run follows: the latest version of each model, the split of the newest model this run's name and kinds
registered, and a comparison that says why when the previous version cannot be loaded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from imgclf.config import TrainSettings
from imgclf.data.dataset import PreparedDataset
from imgclf.data.split import Manifest, ManifestRow
from imgclf.evaluation.report import ModelScore
from imgclf.evaluation.run_report import RegisteredModel
from imgclf.registry import Registry
from imgclf.training.previous import compare_with_previous, latest_version, previous_split


def register(registry: Registry, tmp_path: Path, name: str, *, kind: str, run: str, created: str,
             test_file: str) -> None:
    folder = tmp_path / "staging" / name / created
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps({"name": name, "kind": kind, "labels": ["0", "1"],
                                                   "created": created, "training": {"name": run}}))
    (folder / "manifest.csv").write_text(f"path,label,split\n0/a.png,0,train\n{test_file},1,test\n")
    registry.register(name, folder)


def test_latest_version_is_none_for_a_new_name_then_the_newest(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry")
    assert latest_version(registry, "digits-knn-pixels") is None

    for created in ("2026-01-01", "2026-01-02"):
        register(registry, tmp_path, "digits-knn-pixels", kind="knn", run="digits", created=created,
                 test_file="1/b.png")

    assert latest_version(registry, "digits-knn-pixels") == "digits-knn-pixels:2"


def test_the_newest_model_of_this_runs_name_and_kinds_gives_the_split(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry")
    settings = TrainSettings(data_dir="digits", models=("knn", "dt"), registry=str(tmp_path / "registry"))
    assert previous_split(registry, settings) is None

    register(registry, tmp_path, "digits-knn-pixels", kind="knn", run="digits", created="2026-01-02",
             test_file="1/knn.png")
    register(registry, tmp_path, "digits-dt-pixels", kind="dt", run="digits", created="2026-01-03",
             test_file="1/dt.png")
    register(registry, tmp_path, "digits-vgg16", kind="vgg16", run="digits", created="2026-01-04",
             test_file="1/vgg.png")  # a kind this run does not train
    register(registry, tmp_path, "digits-more-knn-pixels", kind="knn", run="digits-more", created="2026-01-05",
             test_file="1/other-run.png")  # another run's name that starts alike

    previous = previous_split(registry, settings)

    assert previous is not None
    assert previous.version == "digits-dt-pixels:1"
    assert dict(previous.splits) == {"0/a.png": "train", "1/dt.png": "test"}


def test_a_previous_version_that_cannot_be_loaded_gives_a_note_not_a_failure(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry")
    register(registry, tmp_path, "digits-knn-pixels", kind="knn", run="digits", created="2026-01-01",
             test_file="1/b.png")  # a card without the files a knn loads from
    manifest = Manifest(("0", "1"), (ManifestRow("1/b.png", "1", "test"),))
    data = PreparedDataset(Path("digits"), manifest, np.zeros((1, 4, 4, 3), np.uint8), np.array([1]), [],
                           roots=(Path("digits"),), sources=np.array([0]), previous_test=np.array([True]))
    model = RegisteredModel("digits-knn-pixels", "2", ModelScore("digits-knn-pixels", 1, 1, 1, 1, None, 1),
                            tmp_path / "new", previous="digits-knn-pixels:1")

    compare_with_previous(registry, [model], data)

    assert model.comparison is not None
    assert model.comparison.note.startswith("The previous version cannot be loaded: ")
    assert [item.images for item in model.comparison.sets] == [0, 0, 0]
