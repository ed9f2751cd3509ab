"""The on-disk model artifact: write a model folder, and load any model folder into a Classifier.

A folder holds `model.json` (the model card), `labels.json`, the model file (`model.keras` for VGG16,
`model.joblib` for baselines, plus `extractor.keras` for embedding features) and evaluation outputs.
Joblib files are pickles: load them only from a registry you trust.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib

from imgclf.errors import RegistryError
from imgclf.models.backends import BackendChoice, StoredVariant, choose_backend, cpu_flags
from imgclf.models.classifier import Classifier, KerasClassifier, OpenVINOClassifier, SklearnClassifier
from imgclf.models.features import EmbeddingFeatures, PixelFeatures
from imgclf.runtime import configure_tensorflow

if TYPE_CHECKING:
    from imgclf.models.keras_api import keras

LOG = logging.getLogger("imgclf")
CARD_FILE = "model.json"
LABELS_FILE = "labels.json"
KERAS_FILE = "model.keras"
ESTIMATOR_FILE = "model.joblib"
EXTRACTOR_FILE = "extractor.keras"
NVIDIA_GPUS = "/proc/driver/nvidia/gpus"
VARIANTS_DIR = "variants"  # compiled variants, one folder each: variants/openvino-int8/ ...
FORMAT_VERSION = 1
VERSIONED_PACKAGES = ("imgclf", "tensorflow", "tf-keras", "scikit-learn", "numpy", "pillow", "ray", "openvino", "nncf")


def framework_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def new_card(*, name: str, kind: str, labels: list[str], input_size: int, **fields: Any) -> dict[str, Any]:
    """The model card written to model.json; `fields` add kind-specific entries."""
    return {
        "format_version": FORMAT_VERSION,
        "name": name,
        "kind": kind,
        "labels": list(labels),
        "input_size": input_size,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": framework_versions(),
        **fields,
    }


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=False) + "\n")


def save_keras_artifact(folder: Path, model: keras.Model, card: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    without_optimizer(model).save(folder / KERAS_FILE)
    write_card(folder, card)


def save_estimator_artifact(
    folder: Path, estimator: Any, features: PixelFeatures | EmbeddingFeatures, card: dict[str, Any]
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, folder / ESTIMATOR_FILE)
    if isinstance(features, EmbeddingFeatures):
        without_optimizer(features.model).save(folder / EXTRACTOR_FILE)
    write_card(folder, {**card, "features": features.to_dict()})


def without_optimizer(model: keras.Model) -> keras.Model:
    """The same layers as an uncompiled model, so the saved file holds no optimizer state."""
    from imgclf.models.keras_api import keras  # noqa: F811 - TensorFlow loads only where a Keras model is used

    return keras.Model(model.inputs, model.outputs, name=model.name)


def write_card(folder: Path, card: dict[str, Any]) -> None:
    write_json(folder / CARD_FILE, card)
    write_json(folder / LABELS_FILE, card["labels"])


def read_card(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / CARD_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise RegistryError(f"{folder} is not a model folder: cannot read {CARD_FILE} ({exc})") from exc


def network_file(card: dict[str, Any]) -> str | None:
    """The Keras network a model runs (and a variant compiles): the model itself for VGG16, the embedding
    extractor for baselines on embeddings, None for baselines on pixels."""
    if card["kind"] == "vgg16":
        return KERAS_FILE
    features = card.get("features", {})
    return features.get("extractor") if features.get("kind") == "embeddings" else None


def stored_variants(folder: Path) -> dict[str, StoredVariant]:
    """The compiled variants of a model folder, keyed by precision (half-written `.staging` folders left out)."""
    found = {}
    for card_file in sorted((Path(folder) / VARIANTS_DIR).glob(f"[!.]*/{CARD_FILE}")):
        try:
            variant = StoredVariant.from_card(json.loads(card_file.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            LOG.warning("ignoring unreadable variant card %s: %s", card_file, exc)
            continue
        found[variant.precision] = variant
    return found


def gpu_visible() -> bool:
    """Whether TensorFlow sees a GPU; a node without NVIDIA's driver has none, and is told so without importing
    TensorFlow (a compiled variant then runs with OpenVINO alone)."""
    if "tensorflow" not in sys.modules and not os.path.isdir(NVIDIA_GPUS):
        return False
    from imgclf.models.keras_api import tf

    return bool(tf.config.list_physical_devices("GPU"))


def inference_choice(folder: Path, card: dict[str, Any], backend: str, precision: str | None) -> BackendChoice:
    has_network = network_file(card) is not None
    if not has_network and backend != "openvino":
        return BackendChoice("scikit-learn", "fp32", None, "pixel features: no network to compile")
    variants = stored_variants(folder) if has_network else {}
    return choose_backend(backend=backend, precision=precision, model_precision=card.get("precision", "fp32"),
                          variants=variants, flags=cpu_flags(), has_gpu=gpu_visible())


def load_classifier(
    folder: str | Path, *, backend: str = "auto", precision: str | None = None, threads: int | None = None
) -> Classifier:
    """Load a model folder to run on `backend` (auto, tensorflow, openvino) at `precision` (None: the model's
    own, or under auto the fastest variant this CPU runs natively); `threads` sizes OpenVINO's pool."""
    folder = Path(folder)
    card = read_card(folder)
    choice = inference_choice(folder, card, backend, precision)
    LOG.info("%s runs on %s", card["name"], choice)
    network = None
    if choice.variant is not None:
        from imgclf.models.openvino_backend import OpenVINONetwork

        network = OpenVINONetwork(folder / VARIANTS_DIR / choice.variant, choice.precision, threads=threads)
    elif network_file(card) is not None:
        configure_tensorflow(threads)  # TensorFlow's thread pools sized before its first use
    return assemble_classifier(folder, card, choice, network)


def assemble_classifier(folder: Path, card: dict[str, Any], choice: BackendChoice, network=None) -> Classifier:
    """The Classifier of a model folder, running the compiled `network` when given, else its Keras files."""
    common = {"labels": card["labels"], "input_size": card["input_size"], "card": card | {"inference": choice.describe()}}
    if card["kind"] == "vgg16":
        if network is not None:
            return OpenVINOClassifier(network, **common)
        return KerasClassifier(load_keras_model(folder, card, choice.precision), **common)
    estimator = joblib.load(folder / ESTIMATOR_FILE)
    features_card = card["features"]
    if features_card["kind"] == "pixels":
        features = PixelFeatures(features_card["size"])
    else:
        features = EmbeddingFeatures(network or load_keras_file(folder / features_card["extractor"]))
    return SklearnClassifier(estimator, features, **common)


def load_keras_model(folder: Path, card: dict[str, Any], precision: str) -> keras.Model:
    """The saved model as is for fp32; for bf16 the same architecture rebuilt under mixed_bfloat16."""
    from imgclf.models.keras_api import precision_policy
    from imgclf.models.vgg import VGGArchitecture, build_vgg16, copy_weights

    saved = load_keras_file(folder / KERAS_FILE)
    if precision == "fp32":
        return saved
    with precision_policy(precision):
        rebuilt = build_vgg16(VGGArchitecture(**card["architecture"]), weights="none")
    copy_weights(saved, rebuilt)
    return rebuilt


def load_keras_file(path: Path) -> keras.Model:
    from imgclf.models.keras_api import keras  # noqa: F811

    return keras.models.load_model(path, compile=False)
