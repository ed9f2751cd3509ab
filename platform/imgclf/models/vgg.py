"""The VGG16 transfer model: raw RGB uint8 in, class probabilities out, preprocessing inside the model."""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass

import numpy as np

from imgclf.config import WEIGHTS_KEYWORDS
from imgclf.errors import WeightsError
from imgclf.models.keras_api import keras, tf
from tf_keras.src.applications import vgg16 as keras_vgg16  # where Keras keeps the weights' URL

IMAGENET_WEIGHTS_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
IMAGENET_WEIGHTS_MD5 = "6d6bbae143d832006294945121d1f1fc"  # Keras' own checksum of that file
VGG16_MEAN_BGR = (103.939, 116.779, 123.68)
BASE_LAYER = "vgg16"
EMBEDDING_LAYER = "embedding"
FINE_TUNE_BLOCK = "block5_"


@keras.saving.register_keras_serializable(package="imgclf")
class VGGPreprocess(keras.layers.Layer):
    """RGB in [0, 255] → BGR minus the ImageNet channel means (VGG16's own `caffe` preprocessing)."""

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        bgr = tf.reverse(inputs, axis=[-1])
        return bgr - tf.constant(VGG16_MEAN_BGR, dtype=inputs.dtype)


@dataclass(frozen=True, kw_only=True)
class VGGArchitecture:
    """What it takes to rebuild the model; stored in model.json."""

    num_classes: int
    image_size: int
    head_units: int = 256
    dropout: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)


def build_vgg16(architecture: VGGArchitecture, *, weights: str) -> keras.Model:
    """VGG16 base (weights `imagenet`, `none` or a file path) + pooling → dense → dropout → softmax head."""
    size = architecture.image_size
    inputs = keras.Input(shape=(None, None, 3), dtype="uint8", name="image")
    resized = keras.layers.Resizing(size, size, interpolation="bilinear", dtype="float32", name="resize")(inputs)
    preprocessed = VGGPreprocess(dtype="float32", name="vgg_preprocess")(resized)
    features = vgg16_base(size, weights)(preprocessed)
    embedding = keras.layers.GlobalAveragePooling2D(name=EMBEDDING_LAYER)(features)
    hidden = keras.layers.Dense(architecture.head_units, activation="relu", name="head_dense")(embedding)
    hidden = keras.layers.Dropout(architecture.dropout, name="head_dropout")(hidden)
    outputs = keras.layers.Dense(
        architecture.num_classes, activation="softmax", dtype="float32", name="probabilities"
    )(hidden)
    return keras.Model(inputs, outputs, name="imgclf_vgg16")


def vgg16_base(image_size: int, weights: str) -> keras.Model:
    """The convolutional base, loading weights from Keras' cache, a local file, or none at all."""
    source = None
    if weights != "none":
        source = imagenet_weights_path() if weights == "imagenet" else weights
        if not os.path.isfile(source):
            raise WeightsError(f"weights file {source} does not exist")
    try:
        return keras.applications.VGG16(include_top=False, weights=source, input_shape=(image_size, image_size, 3))
    except Exception as exc:  # Keras raises bare Exception/ValueError for shape problems
        raise WeightsError(f"cannot load VGG16 base weights from {source}: {exc}") from exc


def imagenet_weights_path() -> str:
    """VGG16's ImageNet base weights in Keras' cache, downloaded into it first when the network allows."""
    try:
        return keras.utils.get_file(IMAGENET_WEIGHTS_FILE, keras_vgg16.WEIGHTS_PATH_NO_TOP, cache_subdir="models",
                                    file_hash=IMAGENET_WEIGHTS_MD5)
    except Exception as exc:  # Keras raises bare Exception for fetch failures
        cache = os.path.join(os.path.expanduser("~"), ".keras", "models")  # where tf_keras' get_file looks
        raise WeightsError(
            f"ImageNet weights for VGG16 are not in the Keras cache ({cache}/{IMAGENET_WEIGHTS_FILE}) and could not "
            f"be downloaded ({exc}); put the file there, pass --weights PATH, or train from scratch with --weights none"
        ) from exc


def weights_file_sha256(weights: str) -> str | None:
    """The SHA-256 of a base-weights file, so a model card pins the exact file; None for `imagenet`/`none`."""
    if weights in WEIGHTS_KEYWORDS:
        return None
    digest = hashlib.sha256()
    with open(weights, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def embedding_model(model: keras.Model) -> keras.Model:
    """The same layers up to the pooled convolutional features: raw RGB uint8 in, a 512-vector out."""
    return keras.Model(model.input, model.get_layer(EMBEDDING_LAYER).output, name="imgclf_vgg16_embedding")


def set_trainable_layers(model: keras.Model, phase: str) -> None:
    """`head`: base frozen; `last-block`: only block5 of the base trains; `all`: every layer trains."""
    base = model.get_layer(BASE_LAYER)
    base.trainable = phase != "head"
    if phase == "last-block":
        for layer in base.layers:
            layer.trainable = layer.name.startswith(FINE_TUNE_BLOCK)


def leaf_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every non-model layer, nested models flattened, in construction order."""
    leaves = []
    for layer in model.layers:
        leaves.extend(leaf_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return leaves


def ordered_weights(model: keras.Model) -> list[tf.Variable]:
    """The model's variables in layer order, independent of which layers are trainable.

    Keras' own `model.weights` lists trainable variables first, so its order changes when layers are
    frozen or unfrozen; this order does not, which makes it safe for checkpoints across training phases.
    """
    return [weight for layer in leaf_layers(model) for weight in layer.weights]


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Copy every variable of `source` into the same-architecture `target` (any precision, any phase)."""
    for source_weight, target_weight in zip(ordered_weights(source), ordered_weights(target), strict=True):
        target_weight.assign(tf.cast(source_weight, target_weight.dtype))


def save_weights_file(model: keras.Model, path: str) -> None:
    """All variables in layer order as an .npz file (a training checkpoint)."""
    np.savez(path, *[weight.numpy() for weight in ordered_weights(model)])


def load_weights_file(model: keras.Model, path: str) -> None:
    with np.load(path) as arrays:
        values = [arrays[f"arr_{index}"] for index in range(len(arrays.files))]
    for weight, value in zip(ordered_weights(model), values, strict=True):
        weight.assign(value)


def save_base_weights(model: keras.Model, path: str) -> None:
    """Write the convolutional base's weights in the Keras HDF5 layout that `weights=PATH` reads."""
    model.get_layer(BASE_LAYER).save_weights(path)
