"""The calibrated answer, and only it, from every path: `imgclf predict`, a batch job's Parquet and the HTTP API give
the saved network's probabilities scaled by the model's temperature, the same twice (training's random changes
never run at inference)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.dataset as pads
import pytest
import httpx

from imgclf.data.decode import decode_file
from imgclf.data.transforms import stack_images
from imgclf.models.calibration import apply_temperature
from imgclf.models.card import read_card
from imgclf.models.keras_api import keras
from imgclf.registry import Registry
from utils.cli import run_cli
from utils.digits_run import VGG_MODEL, TrainedRun
from utils.serve_app import ServeApp

pytestmark = pytest.mark.slow
CLASSES = 10


@pytest.fixture(scope="module")
def digits(trained_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """One digit of each of three classes in a folder of their own."""
    folder = tmp_path_factory.mktemp("same-answer")
    for label in ("1", "4", "8"):
        shutil.copy(sorted((trained_run.data_dir / label).glob("*.png"))[1], folder / f"{label}.png")
    return sorted(folder.iterdir())


def by_label(top_k: list[dict]) -> dict[str, float]:
    return {entry["label"]: entry["score"] for entry in top_k}


def test_every_path_answers_the_temperature_scaled_probabilities_the_same_each_time(
    served: ServeApp, serve_registry: Path, digits: list[Path], tmp_path: Path
) -> None:
    folder = Registry(serve_registry).local_path(f"{VGG_MODEL}:1")
    card = read_card(folder)
    assert card.temperature is not None and abs(np.log(card.temperature)) > 0.01, card.temperature
    network = keras.models.load_model(folder / "model.keras", compile=False)
    raw = network.predict(stack_images([decode_file(path) for path in digits], card.input_size), verbose=0)
    expected = apply_temperature(raw, card.temperature)
    assert np.abs(expected - raw).max() > 1e-3  # the temperature changes the answer visibly

    answers: dict[str, list[list[dict[str, float]]]] = {"predict": [], "batch": [], "serve": []}
    for attempt in range(2):
        answers["predict"].append([
            by_label(json.loads(run_cli(["predict", f"{VGG_MODEL}:1", path, "--json", "--top-k", str(CLASSES),
                                         "--registry", serve_registry]).stdout)["top_k"])
            for path in digits])
        output = tmp_path / f"parquet-{attempt}"
        result = run_cli(["classify", digits[0].parent, "--model", f"{VGG_MODEL}:1", "--output", output,
                          "--registry", serve_registry, "--top-k", str(CLASSES)])
        assert result.exit_code == 0, result.stderr
        rows = {Path(row["path"]).name: row for row in pads.dataset(output, format="parquet").to_table().to_pylist()}
        answers["batch"].append([by_label(rows[path.name]["top_k"]) for path in digits])
        served_answers = []
        for path in digits:
            response = httpx.post(f"{served.url}/v1/classify", params={"top_k": CLASSES}, timeout=60,
                                  content=path.read_bytes(), headers={"content-type": "image/png"})
            assert response.status_code == 200, response.text
            served_answers.append(by_label(response.json()["top_k"]))
        answers["serve"].append(served_answers)

    for path_name, (first, second) in answers.items():
        assert first == second, f"{path_name} answered the same image differently twice"
        for index, scores in enumerate(first):
            got = [scores[label] for label in card.labels]
            np.testing.assert_allclose(got, expected[index], atol=1e-5, err_msg=f"{path_name}, {digits[index].name}")
