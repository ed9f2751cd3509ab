"""Transfer learning end to end, the path a user with pretrained weights runs: a convolutional base trained here
(so not random) → `imgclf train --weights FILE` on real photos through Ray Train → head phase with the base
frozen → block 5 fine-tuned at its own learning rate, crashed by a SIGKILL of the worker and resumed by a new worker
from the last checkpoint's weights, block 5 still training after the resume."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from imgclf.models.artifact import KERAS_FILE, load_keras_file
from imgclf.models.vgg import BASE_LAYER, FINE_TUNE_BLOCK, IMAGENET_WEIGHTS_FILE, VGGArchitecture, build_vgg16
from imgclf.models.vgg import load_weights_file, save_base_weights
from imgclf.registry import Registry
from imgclf.training.distributed import WEIGHTS_FILE
from utils.cli import run_cli
from utils.datasets import hymenoptera
from utils.digits_run import VGG_MODEL, TrainedRun
from utils.train_worker import KillTrainWorker, checkpoint_folder, checkpoint_state, registered_epochs, resume_checks
from utils.train_worker import worker_records

pytestmark = pytest.mark.slow

PHOTOS_PER_CLASS = 60
IMAGE_SIZE = 96  # large enough that a fine-tune epoch outlasts Ray Train's checkpoint registration (≤ 2 s)
HEAD_EPOCHS, FINE_TUNE_EPOCHS = 2, 2
LEARNING_RATE, FINE_TUNE_LEARNING_RATE = 1e-4, 1e-5
NAME = "transfer-vgg16"


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first photos of each class of the shared ants-vs-bees set."""
    source = hymenoptera("train")
    root = tmp_path_factory.mktemp("hymenoptera")
    for label in ("ants", "bees"):
        (root / label).mkdir()
        for path in sorted((source / label).glob("*.jpg"))[:PHOTOS_PER_CLASS]:
            shutil.copy(path, root / label / path.name)
    return root


@pytest.fixture(scope="module")
def pretrained_base(trained_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The convolutional base of the session's digits VGG16 (trained from scratch, so not random weights)."""
    model = load_keras_file(Registry(trained_run.registry).local_path(VGG_MODEL) / KERAS_FILE)
    path = tmp_path_factory.mktemp("base") / "digits-base.weights.h5"
    save_base_weights(model, str(path))
    return path


def layer_weights(weights: Path | str, *, npz: bool) -> dict[str, list[np.ndarray]]:
    """Each base layer's and head layer's weights, from a base weights file or a full checkpoint (.npz)."""
    model = build_vgg16(VGGArchitecture(num_classes=2, image_size=IMAGE_SIZE), weights="none" if npz else str(weights))
    if npz:
        load_weights_file(model, str(weights))
    layers = {f"base/{layer.name}": layer for layer in model.get_layer(BASE_LAYER).layers}
    layers |= {layer.name: layer for layer in model.layers if layer.name.startswith("head_") or layer.name == "probabilities"}
    return {name: layer.get_weights() for name, layer in layers.items() if layer.get_weights()}


def same(first: list[np.ndarray], second: list[np.ndarray]) -> bool:
    return all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_pretrained_base_trains_head_then_block5_and_resumes_after_a_killed_worker(
    photos: Path, pretrained_base: Path, tmp_path: Path, ray_cluster
) -> None:
    storage, registry = tmp_path / "ckpt", tmp_path / "registry"
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump({
        "cache_dir": str(tmp_path / "cache"), "cluster": {"storage_path": str(storage), "max_failures": 1},
        "vgg": {"learning_rate": LEARNING_RATE, "fine_tune_learning_rate": FINE_TUNE_LEARNING_RATE,
                "schedule": "constant", "warmup_epochs": 0},  # each phase at its own rate, as the test checks
    }))
    with KillTrainWorker(storage, after_epoch=HEAD_EPOCHS + 1) as killer:
        result = run_cli(
            ["train", "--data", photos, "--config", config, "--models", "vgg16", "--weights", pretrained_base,
             "--image-size", str(IMAGE_SIZE), "--epochs", str(HEAD_EPOCHS), "--fine-tune-epochs",
             str(FINE_TUNE_EPOCHS), "--workers", "1", "--registry", registry, "--output", tmp_path / "runs",
             "--name", "transfer"]
        )
    assert result.exit_code == 0, result.stderr[-3000:]
    total = HEAD_EPOCHS + FINE_TUNE_EPOCHS

    # The worker was killed in the fine-tune phase, after epoch 3's checkpoint and before the last one.
    kill = killer.kill
    print(f"\nSIGKILL of Ray Train worker {kill.pid} with checkpoints of epochs {kill.epochs_registered} registered")
    assert kill.failure is None and kill.pid is not None, kill.failure
    resumed_from = max(kill.epochs_registered)
    assert HEAD_EPOCHS < resumed_from < total, f"killed with checkpoints {kill.epochs_registered} registered"
    # The resumed run went on from that checkpoint: every epoch registered once, the epochs before the kill
    # not trained again (their history is the one the killed worker recorded).
    assert registered_epochs(storage) == list(range(1, total + 1))
    before_kill, final = checkpoint_state(storage, resumed_from), checkpoint_state(storage, total)
    assert final["history"]["loss"][:resumed_from] == before_kill["history"]["loss"]
    # A new worker process went on: it logged the resume, and its first epoch started from the checkpoint's weights.
    failed = [name for name, ok in resume_checks(storage, kill, result.stderr, total).items() if not ok]
    assert not failed, f"{failed}\n{result.stderr[-3000:]}"

    # Head phase: the base is exactly the pretrained file; fine-tune phase: only block 5 and the head changed.
    pretrained = layer_weights(pretrained_base, npz=False)
    after_head = layer_weights(checkpoint_folder(storage, HEAD_EPOCHS) / WEIGHTS_FILE, npz=True)
    after_fine_tune = layer_weights(checkpoint_folder(storage, total) / WEIGHTS_FILE, npz=True)
    base_layers = [name for name in pretrained if name.startswith("base/")]
    assert base_layers, "no base layer has weights"
    for name in base_layers:
        assert same(after_head[name], pretrained[name]), f"{name} changed while the base was frozen"
        changed = not same(after_fine_tune[name], after_head[name])
        assert changed == name.startswith(f"base/{FINE_TUNE_BLOCK}"), f"{name}: changed={changed} in fine-tuning"
    head_layers = [name for name in after_head if not name.startswith("base/")]
    for name in head_layers:
        assert not same(after_fine_tune[name], after_head[name]), f"head layer {name} did not train in fine-tuning"
    # Block 5 and the head still trained after the resume, and were the layers the resumed worker had trainable.
    fine_tuned = [name for name in base_layers if name.startswith(f"base/{FINE_TUNE_BLOCK}")]
    after_resume = layer_weights(checkpoint_folder(storage, resumed_from) / WEIGHTS_FILE, npz=True)
    for name in fine_tuned + head_layers:
        assert not same(after_fine_tune[name], after_resume[name]), f"{name} did not train after the resume"
    for epoch in range(1, total + 1):
        trainable = head_layers + (fine_tuned if epoch > HEAD_EPOCHS else [])
        [record] = worker_records(storage, epoch)
        assert sorted(record["trainable_layers"]) == sorted(name.removeprefix("base/") for name in trainable), epoch
    assert final["history"]["learning_rate"] == pytest.approx(
        [LEARNING_RATE] * HEAD_EPOCHS + [FINE_TUNE_LEARNING_RATE] * FINE_TUNE_EPOCHS, rel=1e-5)

    # The registered model records where its weights came from and carries both phases' history.
    folder = Registry(registry).local_path(NAME)
    card = json.loads((folder / "model.json").read_text())
    assert card["pretrained"] is True
    assert card["weights_source"] == str(pretrained_base)
    assert card["weights_sha256"] == hashlib.sha256(pretrained_base.read_bytes()).hexdigest()
    history = json.loads((folder / "metrics.json").read_text())["history"]
    assert len(history["loss"]) == total and history["loss"] == final["history"]["loss"]

    image = next((photos / "bees").glob("*.jpg"))
    predicted = run_cli(["predict", NAME, image, "--json", "--registry", registry])
    assert predicted.exit_code == 0, predicted.stderr
    answer = json.loads(predicted.stdout.strip().splitlines()[-1])
    assert answer["label"] in ("ants", "bees") and 0.0 <= answer["score"] <= 1.0


def test_imagenet_weights_missing_from_the_keras_cache_fail_with_the_path(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked before any training starts: the Keras cache is empty and the weights' URL refuses connections."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr("tf_keras.src.applications.vgg16.WEIGHTS_PATH_NO_TOP", "http://127.0.0.1:9/vgg16_notop.h5")
    result = run_cli(["train", "--data", photos, "--models", "vgg16", "--weights", "imagenet", "--image-size", "32",
                      "--epochs", "1", "--registry", tmp_path / "registry", "--output", tmp_path / "runs"])
    assert result.exit_code != 0
    error_lines = [line for line in result.stderr.splitlines() if IMAGENET_WEIGHTS_FILE in line]
    assert len(error_lines) == 1, result.stderr[-3000:]
    assert str(tmp_path / "home" / ".keras" / "models" / IMAGENET_WEIGHTS_FILE) in error_lines[0]
    assert not (tmp_path / "registry").exists() and not (tmp_path / "runs").exists()
