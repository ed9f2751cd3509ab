"""The batch model actor's work, in-process: paths in, one schema-conformant row per path out."""

from __future__ import annotations

import io
import os
import sys
import types
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from imgclf.batch.inputs import ListedFile, files_table
from imgclf.batch.predictor import BatchPredictor, PredictorSpec, loaded_line
from imgclf.models.prediction_schema import output_schema
from imgclf.config import BaselineSettings, DecodeLimits
from imgclf.data.decode import decode_file
from imgclf.models.artifact import load_classifier, save_estimator_artifact
from imgclf.models.backends import BackendChoice
from imgclf.models.card import ModelCard
from imgclf.models.baselines import build_knn
from imgclf.models.prediction import Prediction
from imgclf.models.features import PixelFeatures
from imgclf.registry import Registry
from imgclf.storage import Location
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
    assert table[4]["error"].startswith("ImageTooLargeError: ") and "900000000 pixels" in table[4]["error"]
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


def test_a_loaded_actor_says_how_its_model_runs(registry: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    predictor(registry, tmp_path)
    assert capsys.readouterr().err.startswith(
        "colours:1 runs on scikit-learn fp32 (pixel features: no network to compile) in this model actor; loaded in ")


@pytest.mark.parametrize("imported", [True, False], ids=["tensorflow-imported", "tensorflow-not-imported"])
def test_the_loaded_line_says_whether_tensorflow_was_imported(imported: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if imported:
        monkeypatch.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))
    else:
        monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    line = loaded_line("digits-vgg16:1", BackendChoice("openvino", "int8", "openvino-int8", "asked for"), 1.26)
    assert line == ("digits-vgg16:1 runs on openvino int8 (asked for) in this model actor; loaded in 1.3 s, "
                    f"TensorFlow {'imported' if imported else 'not imported'}")


def read_only(*_arguments: object) -> None:
    raise OSError("a read-only filesystem")


class CountingFile(io.FileIO):
    """A local file that adds the bytes each read returns to `counts[path]`."""

    def __init__(self, path: str, counts: Counter[str]) -> None:
        super().__init__(path, "rb")
        self.path, self.counts = path, counts

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        self.counts[self.path] += len(data)
        return data


class CountingLocalFiles(pafs.FileSystemHandler):
    """The local filesystem as pyarrow reads a remote store (through PyFileSystem, not LocalFileSystem), counting
    the bytes its input streams return per path; with `reports_size` False its file infos carry no size, as when
    a store does not say it or the file grew since it was listed."""

    def __init__(self, *, reports_size: bool) -> None:
        self.local = pafs.LocalFileSystem()
        self.reports_size = reports_size
        self.bytes_read: Counter[str] = Counter()

    def get_type_name(self) -> str:
        return "counting-local"

    def normalize_path(self, path: str) -> str:
        return path

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        infos = self.local.get_file_info(paths)
        return infos if self.reports_size else [pafs.FileInfo(info.path, info.type) for info in infos]

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return self.get_file_info([info.path for info in self.local.get_file_info(selector)])

    def open_input_stream(self, path: str) -> pa.NativeFile:
        return pa.PythonFile(CountingFile(path, self.bytes_read), mode="r")

    open_input_file = open_input_stream
    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = delete_file = move = copy_file = \
        open_output_stream = open_append_stream = staticmethod(read_only)


@pytest.mark.parametrize("reports_size, expected_bytes_read", [(True, 0), (False, 2**20 + 1)],
                         ids=["size-reported", "size-unknown"])
def test_a_remote_file_over_the_byte_limit_is_an_error_row_read_at_most_one_byte_past_it(
        registry: Path, inputs: dict[str, Path], tmp_path: Path, reports_size: bool, expected_bytes_read: int) -> None:
    """A 5 MiB file under a 1 MiB limit on a remote filesystem: refused unread when the filesystem says its size,
    else cut off after limit + 1 bytes; either way an error row naming the limit, beside a file that is read."""
    limit = 2**20
    big = tmp_path / "big.png"
    big.write_bytes(os.urandom(5 * 2**20))
    files = CountingLocalFiles(reports_size=reports_size)
    actor = predictor(registry, tmp_path, limits=DecodeLimits(max_bytes=limit))
    actor.location = Location(pafs.PyFileSystem(files), str(tmp_path), "counting://")
    red, too_big = actor(listed(str(inputs["red"]), str(big))).to_pylist()
    assert red["error"] is None and red["label"] == "red", red
    assert files.bytes_read[str(inputs["red"])] == inputs["red"].stat().st_size
    assert too_big["error"].startswith("ImageTooLargeError: ") and too_big["label"] is None, too_big
    assert too_big["error"].endswith(f"bytes exceeds the limit of {limit} bytes"), too_big
    assert files.bytes_read[str(big)] == expected_bytes_read
