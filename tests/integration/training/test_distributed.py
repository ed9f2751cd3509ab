"""VGG16 on Ray Train with two data-parallel workers. A killed worker's resume is proven by
`tests/integration/training/test_transfer.py` (fine-tune phase) and the reliability scenarios (head phase)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from utils.cli import run_cli
from utils.datasets import write_digits_subset

pytestmark = pytest.mark.slow


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

