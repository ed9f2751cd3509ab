"""The on-disk model artifact: write a model folder, and load any model folder into a Classifier on the runtime
chosen for it (its kind, models/kinds.py, reads its own files; the runtime, models/runtimes.py, runs them).

A folder holds `model.json` (the model card), `labels.json`, the model file (`model.keras` for VGG16,
`model.joblib` for baselines, plus `extractor.keras` for embedding features) and evaluation outputs.
Joblib files are pickles: load them only from a registry you trust.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib

from imgclf.models.backends import BackendChoice, StoredVariant, choose_backend, cpu_flags
from imgclf.models.card import CARD_FILE, ModelCard, read_card, write_card
from imgclf.models.classifier import Classifier
from imgclf.models.features import EmbeddingFeatures, PixelFeatures
from imgclf.models.kinds import model_kind
from imgclf.models.openvino_backend import VARIANTS_DIR
from imgclf.models.runtimes import inference_runtime
from imgclf.runtime import configure_tensorflow

if TYPE_CHECKING:
    from imgclf.models.keras_api import keras

LOG = logging.getLogger("imgclf")
KERAS_FILE = "model.keras"
ESTIMATOR_FILE = "model.joblib"
EXTRACTOR_FILE = "extractor.keras"
NVIDIA_GPUS = "/proc/driver/nvidia/gpus"


def save_keras_artifact(folder: Path, model: keras.Model, card: ModelCard) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    save_network(model, folder / KERAS_FILE)
    write_card(folder, card)


def save_estimator_artifact(
    folder: Path, estimator: Any, features: PixelFeatures | EmbeddingFeatures, card: ModelCard
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator, folder / ESTIMATOR_FILE)
    if isinstance(features, EmbeddingFeatures):
        save_network(features.model, folder / EXTRACTOR_FILE)
    write_card(folder, card.replace(features=features.to_dict()))


def save_network(model: keras.Model, path: Path) -> None:
    """The layers as an uncompiled model (no optimizer state) in Keras' native `.keras` format.

    The format is named, not inferred from the suffix: tf_keras keeps its "native format on" switch per thread
    and leaves it off after a first save in any thread but the main one, so a second save from a worker thread
    (baselines train in one) would silently write legacy HDF5 under the `.keras` name.
    """
    from imgclf.models.keras_api import keras  # noqa: F811 - TensorFlow loads only where a Keras model is used

    keras.Model(model.inputs, model.outputs, name=model.name).save(path, save_format="keras_v3")


def network_file(card: ModelCard) -> str | None:
    """The Keras network a model runs (and a variant compiles), as its kind says: the model itself for VGG16, the
    embedding extractor for baselines on embeddings, None for baselines on pixels."""
    return model_kind(card.kind).network_file(card)


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


def inference_choice(folder: Path, card: ModelCard, backend: str, precision: str | None) -> BackendChoice:
    kind = model_kind(card.kind)
    has_network = kind.network_file(card) is not None
    if not has_network and backend != "openvino":
        return BackendChoice(kind.runtime, kind.precisions[0], None, "pixel features: no network to compile")
    variants = stored_variants(folder) if has_network else {}
    return choose_backend(backend=backend, precision=precision, model_precision=card.precision or kind.precisions[0],
                          variants=variants, flags=cpu_flags(), has_gpu=gpu_visible())


def load_classifier(
    folder: str | Path, *, backend: str = "auto", precision: str | None = None, threads: int | None = None
) -> Classifier:
    """Load a model folder to run on `backend` (auto, or a runtime of models/runtimes.py) at `precision` (None: the
    model's own, or under auto the fastest variant this CPU runs natively); `threads` sizes the runtime's pools."""
    folder = Path(folder)
    card = read_card(folder)
    choice = inference_choice(folder, card, backend, precision)
    LOG.info("%s runs on %s", card.name, choice)
    runtime = inference_runtime(choice.backend)
    if runtime.needs_tensorflow:
        configure_tensorflow(threads)  # TensorFlow's thread pools sized before its first use
    return model_kind(card.kind).load(folder, card, choice, runtime.network(folder, choice, threads))


def classifier_card(card: ModelCard, choice: BackendChoice) -> dict[str, Any]:
    """What a loaded Classifier describes itself with: the card and how it runs."""
    return card.to_dict() | {"inference": choice.describe()}


def classifier_arguments(card: ModelCard, choice: BackendChoice, folder: Path | None = None) -> dict[str, Any]:
    """What every kind's Classifier is built with: labels, input size, the card, the calibration temperature and
    the folder it was loaded from."""
    return {"labels": card.labels, "input_size": card.input_size, "card": classifier_card(card, choice),
            "temperature": card.temperature or 1.0, "folder": folder}


def load_keras_file(path: Path) -> keras.Model:
    """A saved network (a VGG16 or an embedding extractor), whose layers include imgclf's own VGGPreprocess."""
    from imgclf.models.keras_api import keras  # noqa: F811
    from imgclf.models.vgg import VGGPreprocess

    return keras.models.load_model(path, compile=False, custom_objects={"imgclf>VGGPreprocess": VGGPreprocess})
