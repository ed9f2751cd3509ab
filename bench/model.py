"""`model` section: bare VGG16 throughput fp32 vs bf16, and both precisions' accuracy on the digits test split."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.data import digits_folder
from imgclf.config import BaselineSettings, TrainSettings, VGGSettings
from imgclf.evaluation.evaluate import labelled_images
from imgclf.models.artifact import load_classifier
from imgclf.models.keras_api import keras, precision_policy
from imgclf.registry import Registry

TARGET_SPEEDUP = 1.6
TARGET_MAX_ACCURACY_LOSS_POINTS = 0.5
PRECISIONS = ("fp32", "bf16")


def bare_vgg16_throughput(*, image_size: int, batch_size: int, rounds: int) -> dict[str, float]:
    """Images/s of the convolutional base per precision, rounds interleaved so drift hits both alike."""
    batch = np.random.default_rng(0).uniform(0, 255, (batch_size, image_size, image_size, 3)).astype(np.float32)
    models = {}
    for precision in PRECISIONS:
        with precision_policy(precision):
            models[precision] = keras.applications.VGG16(
                include_top=False, weights=None, input_shape=(image_size, image_size, 3)
            )
        models[precision].predict_on_batch(batch)
    seconds: dict[str, list[float]] = {precision: [] for precision in PRECISIONS}
    for _ in range(rounds):
        for precision, model in models.items():
            started = time.perf_counter()
            model.predict_on_batch(batch)
            seconds[precision].append(time.perf_counter() - started)
    return images_per_s(batch_size, seconds)


def images_per_s(batch_size: int, seconds: dict[str, list[float]]) -> dict[str, float]:
    """Each precision's images/s at the median of its batch times."""
    return {precision: batch_size / statistics.median(times) for precision, times in seconds.items()}


def digits_model_folder(bench_dir: Path, registry: str | None, model: str) -> Path:
    """A trained digits VGG16: the given registry's, else one trained once into the bench folder."""
    if registry:
        return Registry(registry).local_path(model)
    bench_registry = Registry(bench_dir / "registry")
    if "digits-vgg16" not in bench_registry.list_models():
        from imgclf.training.run import run_training

        settings = TrainSettings(
            data_dir=digits_folder(bench_dir), name="digits", models=("vgg16",), registry=str(bench_dir / "registry"),
            output_dir=bench_dir / "runs", vgg=VGGSettings(image_size=32, epochs=6), baselines=BaselineSettings(),
        )
        run_training(settings, progress=False)
    return bench_registry.local_path("digits-vgg16")


def test_split_accuracy(folder: Path, precision: str) -> float:
    classifier = load_classifier(folder, precision=precision)
    loaded, labels = labelled_images(folder, classifier, Path(classifier.card["data"]["root"]), "test")
    return top1_accuracy(classifier.predict_batch(loaded.images), labels)


def top1_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The share of rows whose most probable class is the label."""
    return float((probabilities.argmax(axis=1) == labels).mean())


def bf16_against_fp32(throughput: dict[str, float], accuracy: dict[str, float]) -> tuple[float, float]:
    """bf16's speed-up over fp32, and the test accuracy it loses, in points."""
    return throughput["bf16"] / throughput["fp32"], (accuracy["fp32"] - accuracy["bf16"]) * 100


def meets_targets(speedup: float, loss_points: float) -> bool:
    """bf16 reaches the speed-up target and loses no more accuracy than the target allows."""
    return speedup >= TARGET_SPEEDUP and loss_points <= TARGET_MAX_ACCURACY_LOSS_POINTS


def run(bench_dir: Path, *, registry: str | None = None, model: str = "digits-vgg16", rounds: int = 5,
        **_: Any) -> dict[str, Any]:
    throughput = bare_vgg16_throughput(image_size=224, batch_size=32, rounds=rounds)
    folder = digits_model_folder(bench_dir, registry, model)
    accuracy = {precision: test_split_accuracy(folder, precision) for precision in PRECISIONS}
    speedup, loss_points = bf16_against_fp32(throughput, accuracy)
    return {
        "vgg16_224_batch32_images_per_s": throughput,
        "bf16_speedup": speedup,
        "digits_test_accuracy": accuracy,
        "bf16_accuracy_loss_points": loss_points,
        "model": str(folder),
        "targets": {"bf16_speedup_min": TARGET_SPEEDUP, "accuracy_loss_max_points": TARGET_MAX_ACCURACY_LOSS_POINTS},
        "meets_targets": meets_targets(speedup, loss_points),
    }


def rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(measure, value) lines for the printed table."""
    images = result["vgg16_224_batch32_images_per_s"]
    accuracy = result["digits_test_accuracy"]
    return [
        ("VGG16 224px batch 32, fp32 images/s", f"{images['fp32']:.2f}"),
        ("VGG16 224px batch 32, bf16 images/s", f"{images['bf16']:.2f}"),
        ("bf16 ÷ fp32 speed-up (target ≥ 1.6)", f"{result['bf16_speedup']:.2f}×"),
        ("digits test accuracy fp32", f"{accuracy['fp32']:.4f}"),
        ("digits test accuracy bf16", f"{accuracy['bf16']:.4f}"),
        ("bf16 accuracy loss, points (target ≤ 0.5)", f"{result['bf16_accuracy_loss_points']:.2f}"),
        ("meets targets", "yes" if result["meets_targets"] else "NO"),
    ]
