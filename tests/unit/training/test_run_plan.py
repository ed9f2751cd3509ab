"""A training run's plan: which trainers run for the requested kinds and in what order, the card fields every kind
shares, and a run module that imports no TensorFlow until a network is built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from imgclf.config import DecodeLimits, SplitSettings, TrainSettings
from imgclf.data.dataset import prepare_dataset
from imgclf.training.job import TrainingJob
from imgclf.training.run import requested_kinds, trainer_groups
from utils.datasets import write_digits_subset
from utils.toy_plugin import install_toy_plugin


def test_kinds_train_in_the_tables_order_those_sharing_a_trainer_together(tmp_path: Path) -> None:
    with install_toy_plugin(tmp_path):
        settings = TrainSettings(data_dir=tmp_path, models=("toy", "dt", "vgg16", "knn"))
        assert trainer_groups(requested_kinds(settings)) == [("vgg16",), ("knn", "dt"), ("toy",)]
    assert trainer_groups(requested_kinds(TrainSettings(data_dir=tmp_path, models=("dt",)))) == [("dt",)]


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> TrainingJob:
    data_dir = write_digits_subset(tmp_path_factory.mktemp("data") / "digits", per_class=4)
    settings = TrainSettings(data_dir=data_dir, name="Hand Digits", registry="registry")
    data = prepare_dataset(data_dir, image_size=32, split=SplitSettings(val_fraction=0.25, test_fraction=0.25),
                           limits=DecodeLimits(), progress=False)
    return TrainingJob(settings, data, tmp_path_factory.mktemp("run"), progress=False)


def test_every_kinds_card_holds_the_run_and_its_data_and_no_vgg16_settings(job: TrainingJob) -> None:
    card = job.card(job.model_name("knn", "pixels"), "knn").to_dict()

    assert card["name"] == "hand-digits-knn-pixels"
    assert (card["kind"], card["labels"], card["input_size"]) == ("knn", [str(d) for d in range(10)], 224)
    assert card["training"] == job.settings.to_dict()
    assert card["data"]["images"] == 40 and card["data"]["manifest_digest"] == job.data.manifest.digest()
    assert not {"weights_source", "weights_sha256", "pretrained", "precision", "architecture"} & set(card)


def test_loading_the_training_run_imports_no_tensorflow() -> None:
    probe = "import sys, imgclf.training.run; print('tensorflow' in sys.modules, 'tf_keras' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    assert result.stdout.split() == ["False", "False"]
