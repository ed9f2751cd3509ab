"""One classify service behind every face: for the same image and model, `/v1/classify`, the inference protocol's
`/v2/.../infer` and the page's Classify button (its Gradio event, called over HTTP by gradio_client as the
browser's click calls it; the page shows the top 3) give the same scores within 1e-6, for the VGG16 and for a
baseline."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file

from utils.digits_run import DIGIT_CLASSES, SERVED_BASELINES, VGG_MODEL, TrainedRun
from utils.serve_app import ServeApp

pytestmark = pytest.mark.slow
TOLERANCE = 1e-6
PAGE_TOP_K = 3  # the page's Label shows the Api's default_top_k (serve_config.yaml)


@pytest.fixture(scope="module")
def digit(trained_run: TrainedRun) -> Path:
    return sorted((trained_run.data_dir / "4").glob("*.png"))[2]


@pytest.fixture(scope="module")
def page(served: ServeApp) -> Client:
    return Client(f"{served.url}/ui/", verbose=False)


def over_v1(app: ServeApp, image: Path, model: str) -> dict[str, float]:
    answer = httpx.post(f"{app.url}/v1/classify", params={"top_k": len(DIGIT_CLASSES), "model": model},
                        content=image.read_bytes(), headers={"content-type": "image/png"}, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"]["name"] == model
    return {entry["label"]: entry["score"] for entry in answer.json()["top_k"]}


def over_v2(app: ServeApp, image: Path, model: str) -> dict[str, float]:
    request = {"inputs": [{"name": "IMAGE", "datatype": "BYTES", "shape": [1],
                           "data": [base64.b64encode(image.read_bytes()).decode()]}],
               "outputs": [{"name": "PROBABILITIES"}]}
    answer = httpx.post(f"{app.url}/v2/models/{model}/infer", json=request, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_name"] == model
    [output] = answer.json()["outputs"]
    return dict(zip(DIGIT_CLASSES, output["data"]))


def on_page(page: Client, image: Path, model: str) -> dict[str, float]:
    label = page.predict(handle_file(str(image)), model, api_name="/classify")
    return {entry["label"]: entry["confidence"] for entry in label["confidences"]}


@pytest.mark.parametrize("model", [VGG_MODEL, SERVED_BASELINES[0]])
def test_v1_v2_and_the_page_give_the_same_scores(served: ServeApp, page: Client, digit: Path, model: str) -> None:
    v1, v2, shown = over_v1(served, digit, model), over_v2(served, digit, model), on_page(page, digit, model)
    assert set(v1) == set(v2) == set(DIGIT_CLASSES)
    assert max(v1.values()) < 1.0 or model != VGG_MODEL  # a network's answer, not a one-hot stand-in
    for label in DIGIT_CLASSES:
        assert v2[label] == pytest.approx(v1[label], abs=TOLERANCE), label
    best = sorted(DIGIT_CLASSES, key=lambda label: -v1[label])[:PAGE_TOP_K]
    assert len(shown) == PAGE_TOP_K and set(shown) <= set(DIGIT_CLASSES)  # the page's Label shows the top k
    for label, score in shown.items():
        assert score == pytest.approx(v1[label], abs=TOLERANCE), label
    assert sorted(shown.values(), reverse=True) == pytest.approx([v1[label] for label in best], abs=TOLERANCE)
