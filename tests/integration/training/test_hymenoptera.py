"""Training on real photos: the shared ants-vs-bees JPEGs (various sizes, EXIF, large images) end to end, with the
baselines (VGG16 on these photos: `test_transfer.py`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imgclf.registry import Registry
from utils.cli import run_cli
from utils.datasets import hymenoptera

pytestmark = pytest.mark.slow

VAL_IMAGES = 153  # 70 ants + 83 bees
MODELS = ("hymenoptera-knn-pixels", "hymenoptera-dt-pixels")


@pytest.fixture(scope="module")
def hymenoptera_val() -> Path:
    return hymenoptera("val")


def test_trains_on_real_photos(hymenoptera_val: Path, tmp_path: Path) -> None:
    registry_root, output = tmp_path / "registry", tmp_path / "runs"

    result = run_cli(
        ["train", "--data", hymenoptera_val, "--models", "knn,dt", "--features", "pixels", "--image-size", "32",
         "--registry", registry_root, "--output", output, "--name", "hymenoptera"]
    )

    assert result.exit_code == 0, result.stderr
    (run_dir,) = output.iterdir()
    data_report = json.loads((run_dir / "data_report.json").read_text())
    assert data_report["skipped"] == []
    assert data_report["images"] == VAL_IMAGES
    assert data_report["classes"] == ["ants", "bees"]
    registry = Registry(registry_root)
    assert registry.list_models() == sorted(MODELS)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert sorted(metrics) == sorted(MODELS)
    for name in MODELS:
        assert registry.read_json(name, "model.json")["labels"] == ["ants", "bees"]
        roc = metrics[name]["test"]["roc"]
        assert roc["average"] == "binary"
        assert isinstance(roc["auc"], float) and 0.0 <= roc["auc"] <= 1.0
        assert list(metrics[name]["test"]["per_class"]) == ["ants", "bees"]
