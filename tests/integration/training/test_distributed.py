"""VGG16 on Ray Train: two data-parallel workers, and a run that survives a worker failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from imgclf.training.distributed import FAIL_MARKER_ENV, FAIL_ONCE_AT_EPOCH_ENV
from utils.cli import run_cli
from utils.datasets import write_digits_subset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_digits_subset(tmp_path_factory.mktemp("tiny") / "digits", per_class=10)


def train(data: Path, root: Path, *, workers: int, epochs: int):
    config = root / "settings.yaml"
    config.write_text(yaml.safe_dump({"cache_dir": str(root / "cache"), "cluster": {"storage_path": str(root / "ckpt")}}))
    result = run_cli(
        ["train", "--data", data, "--config", config, "--models", "vgg16", "--image-size", "32",
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


def test_two_workers_train_a_model_that_predicts(tiny_digits: Path, tmp_path: Path, ray_cluster) -> None:
    train(tiny_digits, tmp_path, workers=2, epochs=2)
    metrics = json.loads((artifact(tmp_path) / "metrics.json").read_text())
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "images_per_second"):
        assert len(metrics["history"][key]) == 2, key
    card = json.loads((artifact(tmp_path) / "model.json").read_text())
    assert card["training"]["cluster"]["workers"] == 2
    assert card["best_epoch"] in (1, 2)
    assert [state["epochs_done"] for state in checkpoint_states(tmp_path)] == [1, 2]
    image = next((tiny_digits / "7").glob("*.png"))
    predicted = run_cli(["predict", "tiny-vgg16", str(image), "--json", "--registry", tmp_path / "registry"])
    assert predicted.exit_code == 0
    row = json.loads(predicted.stdout.strip().splitlines()[-1])
    assert row["label"] in [str(digit) for digit in range(10)] and 0.0 <= row["score"] <= 1.0


def test_failed_worker_resumes_from_the_last_checkpoint(
    tiny_digits: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_cluster
) -> None:
    marker = tmp_path / "failed-once"
    monkeypatch.setenv(FAIL_ONCE_AT_EPOCH_ENV, "2")
    monkeypatch.setenv(FAIL_MARKER_ENV, str(marker))
    train(tiny_digits, tmp_path, workers=1, epochs=2)
    assert marker.exists(), "the injected failure did not happen"
    states = checkpoint_states(tmp_path)
    assert [state["epochs_done"] for state in states] == [1, 2]
    final_history = states[-1]["history"]
    assert len(final_history["loss"]) == 2 and len(final_history["val_loss"]) == 2
    assert final_history["loss"][0] == states[0]["history"]["loss"][0], "epoch 1 was trained again"
    metrics = json.loads((artifact(tmp_path) / "metrics.json").read_text())
    assert len(metrics["history"]["loss"]) == 2
