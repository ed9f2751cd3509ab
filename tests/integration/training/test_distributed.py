"""VGG16 on Ray Train with two data-parallel workers: two processes training one model, registered with the weights
of the epoch of lowest validation loss. A killed worker's resume is proven by
`tests/integration/training/test_transfer.py` (fine-tune phase) and the reliability scenarios (head phase)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from imgclf.models.artifact import KERAS_FILE, load_keras_file
from imgclf.models.vgg import ordered_weights
from imgclf.training.distributed import WEIGHTS_FILE
from utils.cli import run_cli
from utils.datasets import write_digits_subset
from utils.train_worker import checkpoint_folder, worker_records

pytestmark = pytest.mark.slow
EPOCHS = 3


@pytest.fixture(scope="module")
def tiny_digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_digits_subset(tmp_path_factory.mktemp("tiny") / "digits", per_class=10)


def train(data: Path, root: Path, *, workers: int, epochs: int, image_size: int = 32):
    config = root / "settings.yaml"
    config.write_text(yaml.safe_dump({"cache_dir": str(root / "cache"), "cluster": {"storage_path": str(root / "ckpt")}}))
    result = run_cli(
        ["train", "--data", data, "--config", config, "--models", "vgg16", "--image-size", str(image_size),
         "--epochs", str(epochs), "--workers", str(workers), "--registry", root / "registry",
         "--output", root / "runs", "--name", "tiny"]
    )
    assert result.exit_code == 0, result.stderr
    return result


def artifact(root: Path) -> Path:
    return root / "registry" / "tiny-vgg16" / "1"


def checkpoint_states(root: Path) -> list[dict]:
    return sorted(
        (json.loads(path.read_text()) for path in (root / "ckpt").glob("*/checkpoint_*/state.json")),
        key=lambda state: state["epochs_done"],
    )


def npz_arrays(path: Path) -> list[np.ndarray]:
    with np.load(path) as arrays:
        return [arrays[f"arr_{index}"] for index in range(len(arrays.files))]


def test_two_workers_train_a_model_that_predicts(tiny_digits: Path, tmp_path: Path, ray_cluster) -> None:
    train(tiny_digits, tmp_path, workers=2, epochs=EPOCHS)
    metrics = json.loads((artifact(tmp_path) / "metrics.json").read_text())
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "images_per_second"):
        assert len(metrics["history"][key]) == EPOCHS, key
    card = json.loads((artifact(tmp_path) / "model.json").read_text())
    assert card["training"]["cluster"]["workers"] == 2
    assert [state["epochs_done"] for state in checkpoint_states(tmp_path)] == list(range(1, EPOCHS + 1))

    # Two worker processes (neither this one) trained every epoch, each starting it from the same weights.
    records = [worker_records(tmp_path / "ckpt", epoch) for epoch in range(1, EPOCHS + 1)]
    pids = [record["pid"] for record in records[0]]
    assert len(set(pids)) == 2 and os.getpid() not in pids, pids
    for epoch, epoch_records in enumerate(records, start=1):
        assert [(record["rank"], record["pid"]) for record in epoch_records] == list(enumerate(pids)), epoch
        assert len({record["start_weights_sha256"] for record in epoch_records}) == 1, f"replicas differ at {epoch}"

    # The registered model is the epoch of lowest validation loss, with that epoch's checkpointed weights.
    assert card["best_epoch"] == int(np.argmin(metrics["history"]["val_loss"])) + 1, metrics["history"]["val_loss"]
    saved = npz_arrays(checkpoint_folder(tmp_path / "ckpt", card["best_epoch"]) / WEIGHTS_FILE)
    registered = ordered_weights(load_keras_file(artifact(tmp_path) / KERAS_FILE))
    assert all(np.array_equal(weight.numpy(), array) for weight, array in zip(registered, saved, strict=True))
    image = next((tiny_digits / "7").glob("*.png"))
    predicted = run_cli(["predict", "tiny-vgg16", str(image), "--json", "--registry", tmp_path / "registry"])
    assert predicted.exit_code == 0
    row = json.loads(predicted.stdout.strip().splitlines()[-1])
    assert row["label"] in [str(digit) for digit in range(10)] and 0.0 <= row["score"] <= 1.0

