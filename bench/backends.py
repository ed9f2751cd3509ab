"""`backends` section: every backend × precision side by side in one run, on VGG16 at 224 px and on the digits model.

Paths: TensorFlow fp32 and mixed_bfloat16, OpenVINO f32, bf16 and int8 (NNCF post-training quantization).
Both models' variants are made by `imgclf optimize` itself: VGG16 at 224 px is the batch and serve benchmarks'
random-weight artifact (speed does not depend on the weight values), calibrated on real photos; each row of the
digits table carries its test accuracy and label agreement with fp32 next to its speed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bench.artifacts import bench_model
from bench.data import BenchInputs
from bench.model import digits_model_folder
from imgclf.config import OptimizeSettings
from imgclf.evaluation.evaluate import labelled_images
from imgclf.models.artifact import load_classifier
from imgclf.models.backends import cpu_flags, runs_natively, shown_flags
from imgclf.models.keras_api import keras
from imgclf.optimization.optimize import optimize_model
from imgclf.optimization.speed import images_per_second, tiled
from imgclf.registry import Registry

BATCH = 32
VGG_SIZE = 224
ROUNDS = 5
VARIANTS = ("fp32", "bf16", "int8")
PATHS = ("tensorflow-fp32", "tensorflow-bf16", "openvino-fp32", "openvino-bf16", "openvino-int8")
TARGET_SPEEDUP_VNNI = 3.5
TARGET_SPEEDUP_AVX2 = 2.0
TARGET_MAX_DROP_POINTS = 0.5
TARGET_MIN_AGREEMENT = 0.99


def backend_paths(folder: Path) -> dict[str, Callable[[np.ndarray], Any]]:
    """The five predict functions of one model folder holding its fp32, bf16 and int8 variants."""
    paths = {f"tensorflow-{p}": load_classifier(folder, backend="tensorflow", precision=p).predict_batch
             for p in ("fp32", "bf16")}
    for precision in VARIANTS:
        paths[f"openvino-{precision}"] = load_classifier(folder, backend="openvino", precision=precision).predict_batch
    return paths


def speeds(paths: dict[str, Callable[[np.ndarray], Any]], batch: np.ndarray) -> dict[str, dict[str, float]]:
    return against_tensorflow_fp32(images_per_second(paths, batch, rounds=ROUNDS))


def against_tensorflow_fp32(measured: dict[str, float]) -> dict[str, dict[str, float]]:
    """Each path's images/s and its speed-up over TensorFlow fp32."""
    return {path: {"images_per_s": value, "vs_tensorflow_fp32": value / measured["tensorflow-fp32"]}
            for path, value in measured.items()}


def best_path(figures: dict[str, dict[str, float]]) -> str:
    """The path with the highest speed-up over TensorFlow fp32 (the first in PATHS on a tie)."""
    return max(PATHS, key=lambda path: figures[path]["vs_tensorflow_fp32"])


def speedup_target(vnni: bool) -> float:
    """The best path's speed-up target: higher where int8 runs natively (VNNI)."""
    return TARGET_SPEEDUP_VNNI if vnni else TARGET_SPEEDUP_AVX2


def meets_targets(best_vs_tensorflow_fp32: float, int8: dict[str, float], target: float) -> bool:
    """The best path's speed-up reaches the target, and int8 keeps the digits accuracy and labels."""
    return (best_vs_tensorflow_fp32 >= target
            and int8["accuracy_drop_points"] <= TARGET_MAX_DROP_POINTS
            and int8["label_agreement_with_fp32"] >= TARGET_MIN_AGREEMENT)


def run(bench_dir: Path, *, inputs: BenchInputs, registry: str | None = None, model: str = "digits-vgg16",
        **_: Any) -> dict[str, Any]:
    flags = cpu_flags()
    random_batch = np.random.default_rng(0).integers(0, 256, (BATCH, VGG_SIZE, VGG_SIZE, 3), dtype=np.uint8)
    vgg224 = speeds(backend_paths(bench_model(bench_dir / "registry", VGG_SIZE, inputs.photos, VARIANTS).folder), random_batch)
    keras.backend.clear_session()

    source = digits_model_folder(bench_dir, registry, model)
    shutil.rmtree(bench_dir / "digits-variants", ignore_errors=True)  # a scratch registry: this run's variants only
    digits_registry = Registry(bench_dir / "digits-variants")
    digits_registry.register("digits-vgg16", source)
    outcomes = optimize_model(digits_registry, "digits-vgg16", OptimizeSettings(
        precisions=VARIANTS, max_accuracy_drop=100))  # measure every variant, refuse none here
    folder = digits_registry.local_path("digits-vgg16")
    fp32 = load_classifier(folder, backend="tensorflow", precision="fp32")
    test, labels = labelled_images(folder, fp32, Path(fp32.card["data"]["root"]), "test")
    digits = speeds(backend_paths(folder), tiled(test.images, BATCH))
    for outcome in outcomes:
        digits[outcome.variant] |= {"test_accuracy": outcome.accuracy, "accuracy_drop_points": outcome.drop_points,
                                    "label_agreement_with_fp32": outcome.agreement}
    digits["tensorflow-fp32"]["test_accuracy"] = outcomes[0].reference_accuracy

    target = speedup_target(runs_natively("int8", flags))
    best = best_path(vgg224)
    return {
        "cpu_flags": shown_flags(flags),
        "vgg16_224_batch32": vgg224,
        "digits_batch32": digits,
        "best_path_vgg16_224": best,
        "best_vs_tensorflow_fp32": vgg224[best]["vs_tensorflow_fp32"],
        "targets": {"best_vs_tensorflow_fp32_min": target, "accuracy_drop_max_points": TARGET_MAX_DROP_POINTS,
                    "label_agreement_min": TARGET_MIN_AGREEMENT},
        "meets_targets": meets_targets(vgg224[best]["vs_tensorflow_fp32"], digits["openvino-int8"], target),
    }


def rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    lines = [("CPU flags", result["cpu_flags"])]
    for path in PATHS:
        figures = result["vgg16_224_batch32"][path]
        lines.append((f"VGG16 224px batch 32, {path} images/s",
                      f"{figures['images_per_s']:.2f} ({figures['vs_tensorflow_fp32']:.2f}× TF fp32)"))
    for path in PATHS:
        figures = result["digits_batch32"][path]
        accuracy = figures.get("test_accuracy")
        shown = "" if accuracy is None else f", test accuracy {accuracy:.4f}"
        if "label_agreement_with_fp32" in figures:
            shown += f", agreement {figures['label_agreement_with_fp32']:.2%}"
        lines.append((f"digits 32px batch 32, {path} images/s",
                      f"{figures['images_per_s']:.1f} ({figures['vs_tensorflow_fp32']:.2f}×){shown}"))
    target = result["targets"]["best_vs_tensorflow_fp32_min"]
    lines += [
        (f"best ÷ TF fp32 at 224 px (target ≥ {target})", f"{result['best_vs_tensorflow_fp32']:.2f}× "
                                                           f"({result['best_path_vgg16_224']})"),
        ("meets targets", "yes" if result["meets_targets"] else "NO"),
    ]
    return lines
