"""POST /v1/explain on a real Serve deployment of serve_config.yaml: every served model's explanation equals
`imgclf predict --explain`'s, a named class is explained, and bad requests get the classify route's 4xx."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from test_http_api import BAD_REQUESTS  # noqa: I001 - the classify route's table of bad requests
from utils.cli import run_cli
from utils.digits_run import SERVED_MODELS, VGG_MODEL, TrainedRun
from utils.serve_app import ServeApp

pytestmark = pytest.mark.slow
METHODS = {"vgg16": "grad-cam", "knn": "neighbours", "dt": "decision-path"}


@pytest.fixture(scope="module")
def digit(trained_run: TrainedRun) -> Path:
    return sorted((trained_run.data_dir / "7").glob("*.png"))[0]


def explain(app: ServeApp, digit: Path, **params: str) -> httpx.Response:
    return httpx.post(f"{app.url}/v1/explain", params=params, timeout=120,
                      files={"file": (digit.name, digit.read_bytes(), "image/png")})


def heatmap(body: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(body["heatmap_png"]))), np.float32) / 255


@pytest.mark.parametrize("model", SERVED_MODELS)
def test_explain_equals_imgclf_predict_explain(served: ServeApp, serve_registry: Path, digit: Path, model: str,
                                               tmp_path: Path) -> None:
    written = run_cli(["predict", f"{model}:1", digit, "--explain", tmp_path, "--registry", serve_registry])
    assert written.exit_code == 0, written.stderr
    expected = json.loads((tmp_path / f"{digit.stem}.{model}.explanation.json").read_text())
    answer = explain(served, digit, model=model)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    for key in ("model", "method", "predicted", "label", "summary"):
        assert body[key] == expected[key], key
    assert body["score"] == pytest.approx(expected["score"], abs=1e-5)
    if body["method"] == "grad-cam":
        assert heatmap(body).shape == Image.open(digit).size[::-1]  # the upload's size
        assert np.abs(heatmap(body) - heatmap(expected)).max() <= 2 / 255
    elif body["method"] == "neighbours":
        assert [(n["reference"], n["label"], n["thumbnail_png"]) for n in body["neighbours"]] == [
            (n["reference"], n["label"], n["thumbnail_png"]) for n in expected["neighbours"]]
        assert [n["distance"] for n in body["neighbours"]] == pytest.approx(
            [n["distance"] for n in expected["neighbours"]], rel=1e-4)
    else:
        assert (body["path"], body["leaf"]) == (expected["path"], expected["leaf"])


def test_models_route_says_how_each_model_explains(served: ServeApp) -> None:
    models = httpx.get(f"{served.url}/v1/models", timeout=30).json()["models"]
    assert [m["explanation"]["method"] for m in models] == [METHODS[m["kind"]] for m in models]
    assert models[0]["explanation"]["runs_on"] == "the served TensorFlow network"


def test_a_named_class_is_explained_instead_of_the_predicted_one(served: ServeApp, digit: Path) -> None:
    predicted = explain(served, digit, model=VGG_MODEL).json()
    other = "3" if predicted["predicted"] != "3" else "4"
    named = explain(served, digit, model=VGG_MODEL, label=other)
    assert named.status_code == 200, named.text
    body = named.json()
    assert (body["label"], body["predicted"]) == (other, predicted["predicted"])
    assert body["score"] < predicted["score"]
    assert not np.array_equal(heatmap(body), heatmap(predicted))


def test_an_unknown_class_is_a_400_naming_the_classes_and_the_service_keeps_serving(served: ServeApp,
                                                                                     digit: Path) -> None:
    for model in SERVED_MODELS:
        answer = explain(served, digit, model=model, label="cow")
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["code"] == "unknown_class" and "'cow'" in error["message"]
        assert all(str(digit_class) in error["message"] for digit_class in range(10))
    assert explain(served, digit).status_code == 200


@pytest.mark.parametrize("case", [case for case in BAD_REQUESTS if "top_k" not in case])
def test_bad_input_gets_the_classify_routes_error(served: ServeApp, digit: Path, case: str) -> None:
    request, status, code = BAD_REQUESTS[case]
    answer = httpx.post(f"{served.url}/v1/explain", timeout=60, **request)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert explain(served, digit, model="digits-knn-pixels").status_code == 200


def test_an_unknown_model_is_a_404_naming_the_served_ones(served: ServeApp, digit: Path) -> None:
    answer = explain(served, digit, model="digits-resnet")
    assert answer.status_code == 404, answer.text
    assert all(name in answer.json()["error"]["message"] for name in SERVED_MODELS)
