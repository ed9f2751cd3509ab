"""The calibrated answer, and only it, from every path: `imgclf predict`, a batch job's Parquet, the HTTP API and the
Gradio page's Classify button (its Gradio event over HTTP, as the browser calls it) give the saved model's own
probabilities scaled by the model's temperature, the same twice (training's random changes never run at
inference): for the VGG16 network and for a KNN baseline on pixels (a scikit-learn pipeline)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import joblib
import numpy as np
import pyarrow.dataset as pads
import pytest
from gradio_client import Client, handle_file

from imgclf.data.decode import decode_file
from imgclf.data.transforms import stack_images
from imgclf.models.calibration import apply_temperature
from imgclf.models.card import ModelCard, read_card
from imgclf.models.features import PixelFeatures
from imgclf.models.keras_api import keras
from imgclf.registry import Registry
from utils.cli import run_cli
from utils.digits_run import DIGIT_CLASSES, VGG_MODEL, TrainedRun
from utils.serve_app import ServeApp, deployment

pytestmark = pytest.mark.slow
CLASSES = len(DIGIT_CLASSES)
KNN_ON_PIXELS = "digits-knn-pixels"
TOLERANCE = 1e-5
Answers = list[dict[str, float]]  # one {label: score} per digit


@pytest.fixture(scope="module")
def digits(trained_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """One digit of each of three classes in a folder of their own."""
    folder = tmp_path_factory.mktemp("same-answer")
    for label in ("1", "4", "8"):
        shutil.copy(sorted((trained_run.data_dir / label).glob("*.png"))[1], folder / f"{label}.png")
    return sorted(folder.iterdir())


@pytest.fixture(scope="module")
def page(served: ServeApp) -> Client:
    return Client(f"{served.url}/ui/", verbose=False)


def own_probabilities(folder: Path, card: ModelCard, images: list[np.ndarray]) -> np.ndarray:
    """The saved model's own answers, before calibration: its Keras network, or its scikit-learn pipeline on the
    pixel features its card names."""
    batch = stack_images(images, card.input_size)
    if card.kind == "vgg16":
        return keras.models.load_model(folder / "model.keras", compile=False).predict(batch, verbose=0)
    features = PixelFeatures(card.features["size"]).transform(batch)
    return joblib.load(folder / "model.joblib").predict_proba(features)


def by_label(top_k: list[dict]) -> dict[str, float]:
    return {entry["label"]: entry["score"] for entry in top_k}


def predicted(reference: str, digits: list[Path], registry: Path) -> Answers:
    result = run_cli(["predict", reference, *digits, "--json", "--top-k", str(CLASSES), "--registry", registry])
    assert result.exit_code == 0, result.stderr
    rows = {(row := json.loads(line))["path"]: row for line in result.stdout.splitlines()}
    return [by_label(rows[str(path)]["top_k"]) for path in digits]


def batch_classified(reference: str, digits: list[Path], registry: Path, output: Path) -> Answers:
    result = run_cli(["classify", digits[0].parent, "--model", reference, "--output", output,
                      "--registry", registry, "--top-k", str(CLASSES)])
    assert result.exit_code == 0, result.stderr
    rows = {Path(row["path"]).name: row for row in pads.dataset(output, format="parquet").to_table().to_pylist()}
    return [by_label(rows[path.name]["top_k"]) for path in digits]


def served_answers(app: ServeApp, name: str, digits: list[Path]) -> Answers:
    answers = []
    for path in digits:
        response = httpx.post(f"{app.url}/v1/classify", params={"top_k": CLASSES, "model": name}, timeout=60,
                              content=path.read_bytes(), headers={"content-type": "image/png"})
        assert response.status_code == 200, response.text
        answers.append(by_label(response.json()["top_k"]))
    return answers


def page_answers(page: Client, name: str, digits: list[Path]) -> Answers:
    """What the page's Label shows for each digit: its top classes and their confidences."""
    shown = [page.predict(handle_file(str(path)), name, api_name="/classify") for path in digits]
    return [{entry["label"]: entry["confidence"] for entry in label["confidences"]} for label in shown]


def assert_calibrated(answer: dict[str, float], expected: np.ndarray, labels: tuple[str, ...], where: str) -> None:
    """Every score shown is the expected one, and the labels not shown score no higher than those shown."""
    shown = [labels.index(label) for label in answer]
    np.testing.assert_allclose([answer[label] for label in answer], expected[shown], atol=TOLERANCE, err_msg=where)
    hidden = [score for index, score in enumerate(expected) if index not in shown]
    assert not hidden or min(answer.values()) >= max(hidden) - TOLERANCE, f"{where}: not the top classes"


@pytest.mark.parametrize("name", [VGG_MODEL, KNN_ON_PIXELS])
def test_every_path_answers_the_temperature_scaled_probabilities_the_same_each_time(
    served: ServeApp, serve_registry: Path, page: Client, digits: list[Path], tmp_path: Path, name: str
) -> None:
    reference = f"{name}:1"
    folder = Registry(serve_registry).local_path(reference)
    card = read_card(folder)
    assert card.temperature is not None and abs(np.log(card.temperature)) > 0.01, card.temperature
    raw = own_probabilities(folder, card, [decode_file(path) for path in digits])
    expected = apply_temperature(raw, card.temperature)
    assert np.abs(expected - raw).max() > 1e-3  # the temperature changes the answer visibly

    answers: dict[str, list[Answers]] = {"predict": [], "batch": [], "serve": [], "page": []}
    for attempt in range(2):
        answers["predict"].append(predicted(reference, digits, serve_registry))
        answers["batch"].append(batch_classified(reference, digits, serve_registry, tmp_path / f"parquet-{attempt}"))
        answers["serve"].append(served_answers(served, name, digits))
        answers["page"].append(page_answers(page, name, digits))

    shown_by_page = deployment(served.config, "Api")["user_config"]["default_top_k"]
    for path_name, (first, second) in answers.items():
        assert first == second, f"{path_name} answered the same image differently twice"
        for index, scores in enumerate(first):
            assert len(scores) == (shown_by_page if path_name == "page" else CLASSES), (path_name, scores)
            assert_calibrated(scores, expected[index], card.labels, f"{path_name}, {digits[index].name}")
