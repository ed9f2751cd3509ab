"""Model artifacts: a saved folder loads back into a Classifier that predicts exactly like the model it came from."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from imgclf.config import BaselineSettings, model_kind_names
from imgclf.errors import RegistryError
from imgclf.models.artifact import EXTRACTOR_FILE, KERAS_FILE, load_classifier, save_estimator_artifact, save_keras_artifact
from imgclf.models.card import CARD_FILE, LABELS_FILE, ModelCard, read_card
from imgclf.models.baselines import search_of
from imgclf.models.classifier import KerasClassifier, SklearnClassifier
from imgclf.models.features import EmbeddingFeatures, PixelFeatures
from imgclf.models.keras_api import keras, tf
from imgclf.models.vgg import VGGArchitecture, build_vgg16, embedding_model

LABELS = ["cat", "dog", "fox"]
SIZE = 32
PIXEL_SIZE = 8


def blocky_images(seed: int, count: int, size: int = SIZE, cells: int = 4) -> np.ndarray:
    """Random cells×cells colour patterns scaled up to size×size: images a random VGG16 tells apart."""
    small = np.random.default_rng(seed).integers(0, 256, (count, cells, cells, 3), dtype=np.uint8)
    scale = size // cells
    return np.repeat(np.repeat(small, scale, axis=1), scale, axis=2)


@pytest.fixture(scope="module")
def architecture() -> VGGArchitecture:
    return VGGArchitecture(num_classes=len(LABELS), image_size=SIZE)


@pytest.fixture(scope="module")
def vgg(seed: int, architecture: VGGArchitecture) -> keras.Model:
    """A random-weights VGG16 whose head is scaled up, so its probabilities are far from uniform and the
    argmax is stable enough to compare precisions (an untrained head gives ~1/3 for every class)."""
    keras.utils.set_random_seed(seed)
    model = build_vgg16(architecture, weights="none")
    for name in ("head_dense", "probabilities"):
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel * 4, bias])
    return model


def vgg_card(architecture: VGGArchitecture, **fields) -> ModelCard:
    return ModelCard(
        name="pets-vgg16", kind="vgg16", labels=LABELS, input_size=SIZE, architecture=architecture.to_dict(),
        weights_source="none", pretrained=False, precision="fp32", **fields,
    )


@pytest.fixture(scope="module")
def vgg_folder(vgg: keras.Model, architecture: VGGArchitecture, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("artifacts") / "pets-vgg16"
    save_keras_artifact(folder, vgg, vgg_card(architecture))
    return folder


def in_memory(model: keras.Model, card: ModelCard) -> KerasClassifier:
    return KerasClassifier(model, labels=LABELS, input_size=SIZE, card=card.to_dict())


def test_vgg_artifact_predicts_exactly_like_the_model_in_memory(
    vgg: keras.Model, vgg_folder: Path, architecture: VGGArchitecture, seed: int
) -> None:
    batch = blocky_images(seed, 8)
    other_sizes = [np.random.default_rng(seed).integers(0, 256, (40, 48, 3), dtype=np.uint8)]

    loaded = load_classifier(vgg_folder)

    assert isinstance(loaded, KerasClassifier)
    assert loaded.labels == tuple(LABELS)
    assert loaded.input_size == SIZE
    assert (vgg_folder / KERAS_FILE).is_file()
    expected = in_memory(vgg, vgg_card(architecture))
    assert np.array_equal(loaded.predict_batch(batch), expected.predict_batch(batch))
    assert np.array_equal(loaded.predict_proba(other_sizes), expected.predict_proba(other_sizes))


def test_vgg_artifact_loads_in_bf16_close_to_fp32(
    vgg: keras.Model, vgg_folder: Path, architecture: VGGArchitecture, seed: int
) -> None:
    images = blocky_images(seed, 20)

    loaded = load_classifier(vgg_folder, precision="bf16")

    assert loaded.model.get_layer("head_dense").compute_dtype == "bfloat16"
    assert loaded.model.get_layer("probabilities").compute_dtype == "float32"  # softmax stays fp32
    assert keras.mixed_precision.global_policy().name == "float32"  # loading does not leak the policy
    fp32 = in_memory(vgg, vgg_card(architecture)).predict_batch(images)
    bf16 = loaded.predict_batch(images)
    assert bf16.dtype == np.float32
    np.testing.assert_allclose(bf16, fp32, atol=0.05)
    assert (bf16.argmax(axis=1) == fp32.argmax(axis=1)).mean() >= 0.9
    np.testing.assert_allclose(bf16.sum(axis=1), 1.0, atol=1e-3)


def test_card_precision_is_the_default_and_an_argument_overrides_it(
    vgg_folder: Path, architecture: VGGArchitecture, tmp_path: Path
) -> None:
    bf16_folder = tmp_path / "pets-vgg16-bf16"
    bf16_folder.mkdir()
    (bf16_folder / KERAS_FILE).symlink_to(vgg_folder / KERAS_FILE)
    (bf16_folder / CARD_FILE).write_text(json.dumps(vgg_card(architecture).replace(precision="bf16").to_dict()))

    by_card = load_classifier(bf16_folder)
    overridden = load_classifier(bf16_folder, precision="fp32")

    assert by_card.model.get_layer("head_dense").compute_dtype == "bfloat16"
    assert overridden.model.get_layer("head_dense").compute_dtype == "float32"


def fitted_baseline(kind: str, seed: int, features) -> tuple[object, np.ndarray]:
    images = blocky_images(seed, 30)
    labels = np.arange(30) % len(LABELS)
    estimator = search_of(kind).build(BaselineSettings(knn_neighbors=3), seed)
    return estimator.fit(features.transform(images), labels), images


def baseline_card(kind: str, **fields) -> ModelCard:
    return ModelCard(name=f"pets-{kind}", kind=kind, labels=LABELS, input_size=SIZE, **fields)


@pytest.mark.parametrize("kind", ["dt", "knn"])
def test_pixel_baseline_artifact_predicts_exactly_like_the_estimator(kind: str, seed: int, tmp_path: Path) -> None:
    features = PixelFeatures(PIXEL_SIZE)
    estimator, _ = fitted_baseline(kind, seed, features)
    card = baseline_card(kind, weights_source="none", pretrained=False)
    expected = SklearnClassifier(estimator, features, labels=LABELS, input_size=SIZE, card=card.to_dict())
    new_images = blocky_images(seed + 1, 12)

    save_estimator_artifact(tmp_path, estimator, features, card)
    loaded = load_classifier(tmp_path)

    assert isinstance(loaded, SklearnClassifier)
    assert isinstance(loaded.features, PixelFeatures) and loaded.features.size == PIXEL_SIZE
    assert loaded.labels == tuple(LABELS)
    assert json.loads((tmp_path / CARD_FILE).read_text())["features"] == {"kind": "pixels", "size": PIXEL_SIZE}
    probabilities = loaded.predict_batch(new_images)
    assert probabilities.shape == (12, len(LABELS))
    assert np.array_equal(probabilities, expected.predict_batch(new_images))


def test_embedding_baseline_artifact_predicts_exactly_like_the_estimator(
    vgg: keras.Model, seed: int, tmp_path: Path
) -> None:
    features = EmbeddingFeatures(embedding_model(vgg))
    estimator, _ = fitted_baseline("knn", seed, features)
    card = baseline_card("knn", weights_source="none", pretrained=False)
    expected = SklearnClassifier(estimator, features, labels=LABELS, input_size=SIZE, card=card.to_dict())
    new_images = blocky_images(seed + 1, 12)

    save_estimator_artifact(tmp_path, estimator, features, card)
    loaded = load_classifier(tmp_path)

    assert (tmp_path / EXTRACTOR_FILE).is_file()
    assert isinstance(loaded.features, EmbeddingFeatures)
    assert np.array_equal(loaded.predict_batch(new_images), expected.predict_batch(new_images))


def test_an_embedding_baseline_loads_in_a_fresh_process(vgg: keras.Model, seed: int, tmp_path: Path) -> None:
    """Its extractor holds imgclf's VGGPreprocess layer: loading must not depend on a VGG16 loaded before it (a
    Serve replica or batch actor may load a baseline first)."""
    features = EmbeddingFeatures(embedding_model(vgg))
    estimator, _ = fitted_baseline("dt", seed, features)
    save_estimator_artifact(tmp_path, estimator, features, baseline_card("dt", weights_source="none", pretrained=False))
    load = f"from imgclf.models.artifact import load_classifier; print(list(load_classifier({str(tmp_path)!r}).labels))"
    result = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == str(LABELS)


def test_networks_saved_from_a_worker_thread_stay_in_the_native_format(vgg: keras.Model, architecture: VGGArchitecture,
                                                                       tmp_path: Path) -> None:
    """Baselines save from a worker thread, where tf_keras turns its native format off after the first save:
    every save still writes a `.keras` zip archive, and without the legacy-HDF5 warning."""
    features = EmbeddingFeatures(embedding_model(vgg))
    estimator, _ = fitted_baseline("knn", 0, features)
    folders = [tmp_path / f"model-{index}" for index in range(3)]

    def save_all() -> None:
        save_keras_artifact(folders[0], vgg, vgg_card(architecture))
        for folder in folders[1:]:
            save_estimator_artifact(folder, estimator, features,
                                    baseline_card("knn", weights_source="none", pretrained=False))

    with warnings.catch_warnings(record=True) as caught, ThreadPoolExecutor(max_workers=1) as thread:
        warnings.simplefilter("always")
        thread.submit(save_all).result()

    saved = [folders[0] / KERAS_FILE] + [folder / EXTRACTOR_FILE for folder in folders[1:]]
    assert all(zipfile.is_zipfile(path) for path in saved), [path for path in saved if not zipfile.is_zipfile(path)]
    assert not [w for w in caught if "HDF5" in str(w.message)]
    assert np.array_equal(load_classifier(folders[2]).predict_batch(blocky_images(1, 4)),
                          load_classifier(folders[1]).predict_batch(blocky_images(1, 4)))


def test_model_json_records_versions_and_the_weights_source(seed: int, tmp_path: Path) -> None:
    weights_file = str(tmp_path / "my-base.h5")
    features = PixelFeatures(PIXEL_SIZE)
    estimator, _ = fitted_baseline("knn", seed, features)

    save_estimator_artifact(
        tmp_path / "model", estimator, features, baseline_card("knn", weights_source=weights_file, pretrained=True)
    )

    card = json.loads((tmp_path / "model" / CARD_FILE).read_text())
    assert card["weights_source"] == weights_file
    assert card["pretrained"] is True
    assert card["kind"] == "knn" and card["input_size"] == SIZE and card["format_version"] == 1
    assert datetime.fromisoformat(card["created"]).tzinfo is not None
    versions = card["versions"]
    assert versions["tensorflow"] == tf.__version__
    assert versions["tf-keras"] == metadata.version("tf-keras")
    assert versions["numpy"] == np.__version__
    assert versions["imgclf"] == metadata.version("imgclf")
    assert {"python", "scikit-learn", "pillow", "ray"} <= set(versions)
    assert json.loads((tmp_path / "model" / LABELS_FILE).read_text()) == LABELS


def test_folder_without_model_json_is_a_registry_error(tmp_path: Path) -> None:
    (tmp_path / LABELS_FILE).write_text(json.dumps(LABELS))

    with pytest.raises(RegistryError, match=f"{tmp_path}.*{CARD_FILE}"):
        load_classifier(tmp_path)


def test_unreadable_model_json_is_a_registry_error(tmp_path: Path) -> None:
    (tmp_path / CARD_FILE).write_text("{not json")

    with pytest.raises(RegistryError, match="not a model folder"):
        load_classifier(tmp_path)


@pytest.mark.parametrize("kind", model_kind_names())
def test_every_model_kind_saves_loads_by_its_card_and_predicts(kind: str, vgg_folder: Path, seed: int,
                                                               tmp_path: Path) -> None:
    """A smoke test over the kinds settings accept: each has a loader, and its saved folder comes back as a
    Classifier of that kind answering one probability row per image."""
    if kind == "vgg16":
        folder = vgg_folder
    else:
        features = PixelFeatures(PIXEL_SIZE)
        estimator, _ = fitted_baseline(kind, seed, features)
        folder = tmp_path / kind
        save_estimator_artifact(folder, estimator, features, baseline_card(kind))
    loaded = load_classifier(folder)
    assert loaded.card["kind"] == kind and read_card(folder).kind == kind
    probabilities = loaded.predict_proba(list(blocky_images(seed + 2, 3)))
    assert probabilities.shape == (3, len(LABELS)) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
