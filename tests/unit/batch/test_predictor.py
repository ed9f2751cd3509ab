"""The batch model actor's work, in-process: paths in, one schema-conformant row per path out."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from imgclf.batch.inputs import ListedFile, files_table
from imgclf.batch.predictor import BatchPredictor, PredictorSpec
from imgclf.batch.schema import output_schema
from imgclf.config import BaselineSettings, DecodeLimits
from imgclf.data.decode import decode_file
from imgclf.models.artifact import load_classifier, save_estimator_artifact
from imgclf.models.card import ModelCard
from imgclf.models.baselines import build_knn
from imgclf.models.prediction import Prediction
from imgclf.models.features import PixelFeatures
from imgclf.registry import Registry
from utils.images import BLUE, GREEN, RED, make_image_bytes, with_declared_png_size, write_image

LABELS = ["blue", "green", "red"]
SIZE = 8


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry with `colours:1`: KNN on 4×4 pixels telling solid red, green and blue images apart."""
    rng = np.random.default_rng(0)
    colours = np.array([BLUE, GREEN, RED], np.float64)
    labels = np.repeat(np.arange(3), 10)
    images = np.clip(colours[labels][:, None, None, :] + rng.normal(0, 20, (30, SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
    features = PixelFeatures(4)
    estimator = build_knn(BaselineSettings(knn_neighbors=3), 0).fit(features.transform(images), labels)
    folder = tmp_path_factory.mktemp("artifact")
    save_estimator_artifact(folder, estimator, features, ModelCard(name="colours", kind="knn", labels=LABELS, input_size=SIZE))
    root = tmp_path_factory.mktemp("registry")
    Registry(root).register("colours", folder)
    return root


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "red": write_image(tmp_path / "red.png", color=RED, size=(20, 12)),
        "blue": write_image(tmp_path / "sub" / "blue.jpg", color=BLUE),
        "empty": tmp_path / "empty.png",
        "text": tmp_path / "notes.jpg",
        "bomb": tmp_path / "bomb.png",
    }
    paths["empty"].write_bytes(b"")
    paths["text"].write_text("not an image")
    paths["bomb"].write_bytes(with_declared_png_size(make_image_bytes("png"), 30_000, 30_000))
    return paths


def predictor(registry: Path, folder: Path, **changes) -> BatchPredictor:
    spec = PredictorSpec(registry=str(registry), name="colours", version="1", input=str(folder), top_k=2,
                         embeddings=False, limits=DecodeLimits(), backend="auto", precision=None, threads=1)
    return BatchPredictor(PredictorSpec(**{**spec.__dict__, **changes}))


def listed(*paths: str) -> pa.Table:
    return files_table([ListedFile(path, os.fsencode(path)) for path in paths])


def test_one_row_per_path_in_order_with_errors_for_bad_files(registry: Path, inputs: dict[str, Path], tmp_path: Path) -> None:
    paths = [str(inputs[key]) for key in ("red", "empty", "blue", "text", "bomb")]
    rows = predictor(registry, tmp_path)(listed(*paths))
    assert rows.schema == output_schema(embeddings=False)
    table = rows.to_pylist()
    assert [row["path"] for row in table] == paths
    assert [row["label"] for row in table] == ["red", None, "blue", None, None]
    assert table[1]["error"] == "EmptyImageError: empty file (0 bytes)"
    assert table[3]["error"].startswith("UnsupportedImageError: not an image")
    assert "ImageTooLargeError: 30000x30000 = 900000000 pixels exceeds the limit" in table[4]["error"]
    assert all(row["model"] == "colours" and row["model_version"] == "1" for row in table)
    assert table[0]["error"] is None and table[1]["top_k"] is None and table[1]["score"] is None


def test_rows_agree_with_the_classifier_on_the_same_file(registry: Path, inputs: dict[str, Path], tmp_path: Path) -> None:
    row = predictor(registry, tmp_path)(listed(str(inputs["red"]))).to_pylist()[0]
    classifier = load_classifier(Registry(registry).local_path("colours:1"))
    expected = Prediction.from_probabilities(classifier.predict_proba([decode_file(inputs["red"])])[0],
                                             classifier.labels, 2, model_name="colours", model_version="1").top_k
    assert [entry["label"] for entry in row["top_k"]] == [label for label, _ in expected]
    assert [entry["score"] for entry in row["top_k"]] == pytest.approx([score for _, score in expected])
    assert row["label"] == expected[0][0] and row["score"] == pytest.approx(expected[0][1])
    assert row["label_index"] == LABELS.index(row["label"])


def test_embeddings_column_holds_the_feature_vector(registry: Path, inputs: dict[str, Path], tmp_path: Path) -> None:
    rows = predictor(registry, tmp_path, embeddings=True)(listed(str(inputs["blue"]), str(inputs["empty"])))
    assert rows.schema == output_schema(embeddings=True)
    embedding, missing = rows.column("embedding").to_pylist()
    assert len(embedding) == 4 * 4 * 3 and missing is None


def test_a_batch_of_only_bad_files_still_gives_rows(registry: Path, inputs: dict[str, Path], tmp_path: Path) -> None:
    rows = predictor(registry, tmp_path)(listed(str(inputs["text"])))
    assert rows.num_rows == 1 and rows.column("error")[0].as_py().startswith("UnsupportedImageError")
