"""The VGG16 transfer model: shapes, in-model preprocessing, trainable phases, embeddings and weight sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imgclf.errors import WeightsError
from imgclf.models.keras_api import keras
from imgclf.models.vgg import (
    BASE_LAYER,
    IMAGENET_WEIGHTS_FILE,
    VGGArchitecture,
    VGGPreprocess,
    build_vgg16,
    embedding_model,
    save_base_weights,
    set_trainable_layers,
)

SIZE = 32
CLASSES = 3
HEAD_WEIGHTS = 4  # head_dense and probabilities: kernel + bias each
BASE_WEIGHTS = 26  # 13 conv layers: kernel + bias each
BLOCK5_WEIGHTS = 6  # block5_conv1..3
# Where tf_keras' VGG16 fetches ImageNet weights from; patched so a test never downloads 58 MB.
VGG16_MODULE = "tf_keras.src.applications.vgg16"
UNREACHABLE_URL = "http://127.0.0.1:9/vgg16_weights_notop.h5"


def architecture(**overrides) -> VGGArchitecture:
    return VGGArchitecture(**{"num_classes": CLASSES, "image_size": SIZE, **overrides})


def random_images(seed: int, count: int, height: int = SIZE, width: int = SIZE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, height, width, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return build_vgg16(architecture(), weights="none")


@pytest.fixture
def offline_imagenet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty home folder (so no cached weights) and an ImageNet URL that refuses connections; returns home."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setattr(f"{VGG16_MODULE}.WEIGHTS_PATH_NO_TOP", UNREACHABLE_URL)
    return home


def test_output_is_one_probability_row_per_image(model: keras.Model, seed: int) -> None:
    probabilities = model.predict_on_batch(random_images(seed, 5))

    assert probabilities.shape == (5, CLASSES)
    assert probabilities.dtype == np.float32
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_input_is_raw_uint8_rgb_of_any_size(model: keras.Model, seed: int) -> None:
    assert model.input.dtype == "uint8"
    images = random_images(seed, 2, height=40, width=48)

    resized = keras.Model(model.input, model.get_layer("resize").output).predict_on_batch(images)
    probabilities = model.predict_on_batch(images)

    assert resized.shape == (2, SIZE, SIZE, 3)
    assert probabilities.shape == (2, CLASSES)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_preprocess_matches_keras_vgg16_preprocess_input(seed: int) -> None:
    images = np.random.default_rng(seed).uniform(0, 255, (3, 8, 8, 3)).astype(np.float32)

    ours = VGGPreprocess()(images).numpy()
    expected = keras.applications.vgg16.preprocess_input(images.copy())

    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-4)


def trainable_counts(model: keras.Model) -> tuple[int, int, list[str]]:
    base = model.get_layer(BASE_LAYER)
    return len(model.trainable_weights), len(base.trainable_weights), [w.name for w in base.trainable_weights]


@pytest.mark.parametrize(
    ("phase", "total", "in_base"),
    [
        ("head", HEAD_WEIGHTS, 0),
        ("last-block", HEAD_WEIGHTS + BLOCK5_WEIGHTS, BLOCK5_WEIGHTS),
        ("all", HEAD_WEIGHTS + BASE_WEIGHTS, BASE_WEIGHTS),
    ],
)
def test_set_trainable_layers_phases(model: keras.Model, phase: str, total: int, in_base: int) -> None:
    set_trainable_layers(model, phase)
    try:
        trainable, base_trainable, names = trainable_counts(model)
    finally:
        set_trainable_layers(model, "all")

    assert (trainable, base_trainable) == (total, in_base)
    if phase == "last-block":
        assert all(name.startswith("block5_") for name in names), names


def test_set_trainable_layers_phases_in_training_order(model: keras.Model) -> None:
    """head → last-block → all, as pretrained training then a later full fine-tune would call them."""
    seen = []
    for phase in ("head", "last-block", "all", "head"):
        set_trainable_layers(model, phase)
        seen.append(trainable_counts(model)[:2])
    set_trainable_layers(model, "all")

    assert seen == [
        (HEAD_WEIGHTS, 0),
        (HEAD_WEIGHTS + BLOCK5_WEIGHTS, BLOCK5_WEIGHTS),
        (HEAD_WEIGHTS + BASE_WEIGHTS, BASE_WEIGHTS),
        (HEAD_WEIGHTS, 0),
    ]


def test_embedding_model_outputs_512_pooled_features(model: keras.Model, seed: int) -> None:
    embedder = embedding_model(model)

    embeddings = embedder.predict_on_batch(random_images(seed, 2, height=40, width=40))

    assert embedder.output_shape == (None, 512)
    assert embeddings.shape == (2, 512)
    assert embedder.input.dtype == "uint8"
    assert embedder.get_layer(BASE_LAYER) is model.get_layer(BASE_LAYER)  # shared, not copied


def test_base_weights_file_round_trip(tmp_path: Path, seed: int) -> None:
    keras.utils.set_random_seed(seed)
    first = build_vgg16(architecture(), weights="none")
    path = tmp_path / "base.h5"
    save_base_weights(first, str(path))
    keras.utils.set_random_seed(seed + 1)  # a different random start, overwritten by the file

    second = build_vgg16(architecture(), weights=str(path))

    first_base = first.get_layer(BASE_LAYER).get_weights()
    second_base = second.get_layer(BASE_LAYER).get_weights()
    assert len(second_base) == BASE_WEIGHTS
    assert all(np.array_equal(a, b) for a, b in zip(first_base, second_base))
    images = random_images(seed, 4)
    assert np.array_equal(
        embedding_model(first).predict_on_batch(images), embedding_model(second).predict_on_batch(images)
    )
    # Only the base comes from the file: the head starts from its own initialisation.
    assert not np.array_equal(first.get_layer("head_dense").get_weights()[0], second.get_layer("head_dense").get_weights()[0])


def test_missing_weights_file_is_a_weights_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-weights.h5"

    with pytest.raises(WeightsError, match="no-such-weights.h5"):
        build_vgg16(architecture(), weights=str(missing))


def test_weights_file_of_another_shape_is_a_weights_error(tmp_path: Path) -> None:
    path = tmp_path / "not-vgg.h5"
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    other.save_weights(str(path))

    with pytest.raises(WeightsError, match="cannot load VGG16 base weights from .*not-vgg.h5"):
        build_vgg16(architecture(), weights=str(path))


def test_unavailable_imagenet_weights_name_the_cache_and_the_way_out(offline_imagenet: Path) -> None:
    with pytest.raises(WeightsError) as caught:
        build_vgg16(architecture(), weights="imagenet")

    message = str(caught.value)
    assert str(offline_imagenet / ".keras" / "models" / IMAGENET_WEIGHTS_FILE) in message
    assert "--weights none" in message
    assert "--weights PATH" in message


def test_unavailable_imagenet_weights_name_the_folder_keras_reads_with_keras_home_set(
    offline_imagenet: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    keras_home = tmp_path / "keras-home"
    keras_home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(keras_home))

    with pytest.raises(WeightsError) as caught:
        build_vgg16(architecture(), weights="imagenet")

    message = str(caught.value)
    assert "--weights none" in message
    assert str(offline_imagenet / ".keras" / "models" / IMAGENET_WEIGHTS_FILE) in message
