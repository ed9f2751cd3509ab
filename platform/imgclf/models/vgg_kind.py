"""The vgg16 model kind: a Keras VGG16 transfer model saved as `model.keras`, trained with Ray Train, run by
TensorFlow at fp32 or bf16 or as a compiled OpenVINO variant. TensorFlow is imported only when a network is
loaded or built (a compiled variant runs without it)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from imgclf.config import PRECISIONS, TrainSettings
from imgclf.explanations.gradcam import GRAD_CAM_EXPLAINER
from imgclf.models.artifact import KERAS_FILE, classifier_arguments, load_keras_file, save_keras_artifact
from imgclf.models.backends import BackendChoice
from imgclf.models.card import ModelCard
from imgclf.models.classifier import Classifier, KerasClassifier, OpenVINOClassifier
from imgclf.models.kinds import ModelKind

if TYPE_CHECKING:
    from imgclf.models.keras_api import keras


def save_vgg16(folder: Path, classifier: KerasClassifier, card: ModelCard) -> None:
    save_keras_artifact(folder, classifier.model, card)


def load_vgg16(folder: Path, card: ModelCard, choice: BackendChoice, network=None) -> Classifier:
    """The compiled `network` when given, else the saved Keras model at the chosen precision."""
    common = classifier_arguments(card, choice, folder)
    if network is not None:
        return OpenVINOClassifier(network, **common)
    return KerasClassifier(load_keras_model(folder, card, choice.precision), **common)


def load_keras_model(folder: Path, card: ModelCard, precision: str) -> keras.Model:
    """The saved model as is for fp32; for bf16 the same architecture rebuilt under mixed_bfloat16."""
    from imgclf.models.keras_api import precision_policy
    from imgclf.models.vgg import VGGArchitecture, build_vgg16, copy_weights

    saved = load_keras_file(folder / KERAS_FILE)
    if precision == "fp32":
        return saved
    with precision_policy(precision):
        rebuilt = build_vgg16(VGGArchitecture(**card.architecture), weights="none")
    copy_weights(saved, rebuilt)
    return rebuilt


def always(settings: TrainSettings) -> bool:
    del settings
    return True


VGG16 = ModelKind(
    name="vgg16",
    trainer="imgclf.training.vgg16_trainer:train_vgg16_models",
    save=save_vgg16,
    load=load_vgg16,
    network_file=lambda card: KERAS_FILE,
    runtime="tensorflow",
    precisions=PRECISIONS,
    serve_rank=0,  # the strongest kind: a pattern's default
    loads_base_weights=always,
    explainer=GRAD_CAM_EXPLAINER,
)
