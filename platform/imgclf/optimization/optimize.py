"""`imgclf optimize`: compiled OpenVINO variants of a registered model, each kept only if it passes the accuracy guard.

For every asked precision: convert the model's Keras network with OpenVINO (int8: quantized with NNCF, calibrated
on up to `calibration_images` of the model's own training split), score it on the model's test split next to the
TensorFlow fp32 model, measure both speeds side by side, and publish `variants/openvino-<precision>/` into the same
registry version — or refuse it, keeping nothing, when its accuracy drops more than the guard allows.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from imgclf.config import DecodeLimits, OptimizeSettings
from imgclf.data.loading import load_images
from imgclf.data.scan import LabelledFile
from imgclf.data.split import Manifest
from imgclf.errors import ConfigError
from imgclf.evaluation.evaluate import MANIFEST_FILE, evaluate_classifier, labelled_images, write_evaluation
from imgclf.models.artifact import VARIANTS_DIR, load_classifier, network_file
from imgclf.models.card import CARD_FILE, ModelCard, framework_versions, read_card, utc_now, write_json
from imgclf.models.backends import BackendChoice, cpu_flags, shown_flags
from imgclf.models.classifier import Classifier, KerasClassifier
from imgclf.models.kinds import model_kind
from imgclf.models.keras_api import keras
from imgclf.models.openvino_backend import OpenVINONetwork, convert_network, quantize_int8, save_ir
from imgclf.models.vgg import EMBEDDING_LAYER
from imgclf.optimization.guard import accuracy_drop_points, kept_by_guard
from imgclf.optimization.speed import images_per_second, tiled
from imgclf.registry import Registry
from imgclf.runtime import cpu_count

LOG = logging.getLogger("imgclf.optimize")
SPEED_BATCH = 32
CALIBRATION_BATCH = 8


@dataclass(frozen=True)
class VariantOutcome:
    """One precision's result: kept (published into the version) or refused by the guard."""

    model: str  # name:version
    variant: str
    precision: str
    kept: bool
    accuracy: float
    reference_accuracy: float
    agreement: float
    images_per_s: float
    reference_images_per_s: float
    max_accuracy_drop: float

    @property
    def drop_points(self) -> float:
        return accuracy_drop_points(self.reference_accuracy, self.accuracy)

    def line(self) -> str:
        verdict = "kept" if self.kept else f"REFUSED: accuracy drop above the {self.max_accuracy_drop:g}-point guard"
        return (f"{self.model} {self.variant}: test accuracy {self.accuracy:.4f} vs TensorFlow fp32 "
                f"{self.reference_accuracy:.4f} (drop {self.drop_points:.2f} points), label agreement {self.agreement:.2%}, "
                f"{self.images_per_s:.1f} vs {self.reference_images_per_s:.1f} images/s "
                f"({self.images_per_s / self.reference_images_per_s:.2f}×): {verdict}")


def optimize_model(registry: Registry, reference: str, settings: OptimizeSettings) -> list[VariantOutcome]:
    """Make, judge and (when they pass) publish the variants of `settings.precisions` for one registered model."""
    if not settings.precisions:
        raise ConfigError("no precision to optimize for: give int8, bf16 and/or fp32")
    name, version = registry.resolve(reference)
    folder = registry.local_path(f"{name}:{version}")
    card = read_card(folder)
    if network_file(card) is None:
        raise ConfigError(f"{name}:{version} is a {card.kind} on pixel features: it has no network to compile")
    fp32 = load_classifier(folder, backend="tensorflow", precision="fp32")
    data_dir = Path(settings.data_dir or card.data["root"])
    test, test_labels = labelled_images(folder, fp32, data_dir, "test")
    reference_predictions = fp32.predict_batch(test.images).argmax(axis=1)
    reference_accuracy = float((reference_predictions == test_labels).mean())
    converted = convert_network(keras_network(fp32), card.input_size)
    speed_batch = tiled(test.images, SPEED_BATCH)
    calibration = (calibration_images(folder, fp32, data_dir, settings.calibration_images)
                   if "int8" in settings.precisions else None)
    outcomes = []
    for precision in settings.precisions:
        variant = f"openvino-{precision}"
        with tempfile.TemporaryDirectory(prefix=f"imgclf-{variant}-") as staging:
            staging = Path(staging)
            model = converted
            if precision == "int8":
                model = quantize_int8(converted, batches(calibration, CALIBRATION_BATCH))
            save_ir(model, staging)
            choice = BackendChoice("openvino", precision, variant, "being optimized")
            classifier = model_kind(card.kind).load(folder, card, choice, OpenVINONetwork(staging, precision))
            evaluation = evaluate_classifier(classifier, test.images, test_labels)
            predictions = np.asarray(evaluation["predictions"])
            speed = images_per_second({"variant": classifier.predict_batch, "fp32": fp32.predict_batch}, speed_batch)
            outcome = VariantOutcome(
                model=f"{name}:{version}", variant=variant, precision=precision, kept=False,
                accuracy=float((predictions == test_labels).mean()), reference_accuracy=reference_accuracy,
                agreement=float((predictions == reference_predictions).mean()),
                images_per_s=speed["variant"], reference_images_per_s=speed["fp32"],
                max_accuracy_drop=settings.max_accuracy_drop,
            )
            if not kept_by_guard(outcome.reference_accuracy, outcome.accuracy, settings.max_accuracy_drop):
                LOG.warning("%s", outcome.line())
                outcomes.append(outcome)
                continue
            write_evaluation(staging, f"{name}:{version} {variant}", evaluation)
            calibrated = len(calibration) if precision == "int8" else 0
            write_json(staging / CARD_FILE, variant_card(card, f"{name}:{version}", outcome, settings, calibrated))
            registry.add_to_version(f"{name}:{version}", f"{VARIANTS_DIR}/{variant}", staging)
            outcome = replace(outcome, kept=True)
            LOG.info("%s", outcome.line())
            outcomes.append(outcome)
    return outcomes


def keras_network(fp32: Classifier) -> keras.Model:
    """What a variant compiles, taken from the loaded fp32 model: VGG16 with its embedding as a second output, or a
    baseline's extractor."""
    if isinstance(fp32, KerasClassifier):
        model = fp32.model
        return keras.Model(model.input, [model.get_layer(EMBEDDING_LAYER).output, model.output])
    return fp32.features.model


def calibration_images(folder: Path, classifier: Classifier, data_dir: Path, count: int) -> np.ndarray:
    """Up to `count` images of the model's training split, spread evenly over it, decoded by the one decoder."""
    rows = Manifest.load(folder / MANIFEST_FILE, classifier.labels).subset("train")
    picked = [rows[int(index)] for index in np.linspace(0, len(rows) - 1, min(count, len(rows)))] if rows else []
    loaded = load_images(data_dir, [LabelledFile(row.path, row.label) for row in picked], classifier.input_size,
                         limits=DecodeLimits(), progress=False)
    if not len(loaded.images):
        raise ConfigError(f"no readable training image in {data_dir} to calibrate int8 on")
    return loaded.images


def batches(images: np.ndarray, size: int) -> list[np.ndarray]:
    return [images[start : start + size] for start in range(0, len(images), size)]


def variant_card(card: ModelCard, reference: str, outcome: VariantOutcome, settings: OptimizeSettings,
                 calibrated: int) -> dict[str, Any]:
    flags = cpu_flags()
    return {
        "variant": outcome.variant,
        "backend": "openvino",
        "precision": outcome.precision,
        "source": {"model": reference, "network": network_file(card)},
        "input_size": card.input_size,
        "guard": {
            "max_accuracy_drop_points": settings.max_accuracy_drop,
            "test_accuracy": outcome.accuracy,
            "tensorflow_fp32_test_accuracy": outcome.reference_accuracy,
            "accuracy_drop_points": outcome.drop_points,
            "label_agreement_with_fp32": outcome.agreement,
        },
        "speed": {
            "images_per_s": outcome.images_per_s,
            "tensorflow_fp32_images_per_s": outcome.reference_images_per_s,
            "batch_size": SPEED_BATCH,
            "threads": cpu_count(),
            "cpu_flags": shown_flags(flags),
        },
        "calibration": {"split": "train", "images": calibrated} if calibrated else None,
        "created": utc_now(),
        "versions": framework_versions(),
    }
