"""The HTTP API of a real Serve deployment of serve_config.yaml: answers equal `imgclf predict`, and every bad
request gets its 4xx JSON error while the service keeps serving."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from imgclf.registry import Registry
from utils.cli import run_cli
from utils.digits_run import SERVED_MODELS, VGG_MODEL, TrainedRun
from utils.images import make_image_bytes, truncated, with_declared_png_size
from utils.serve_app import ServeApp

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digit(trained_run: TrainedRun) -> Path:
    return sorted((trained_run.data_dir / "7").glob("*.png"))[0]


def classify(app: ServeApp, **request) -> httpx.Response:
    return httpx.post(f"{app.url}/v1/classify", timeout=60, **request)


@pytest.mark.parametrize("model", [None, *SERVED_MODELS])
def test_classify_equals_imgclf_predict(served: ServeApp, serve_registry: Path, digit: Path, model: str | None) -> None:
    """Every served model answers as `imgclf predict` of that model does; without `?model=`, the default (VGG16)."""
    name = model or VGG_MODEL
    predicted = run_cli(["predict", f"{name}:1", digit, "--json", "--top-k", "10", "--registry", serve_registry])
    expected = json.loads(predicted.stdout)
    for request in ({"files": {"file": (digit.name, digit.read_bytes(), "image/png")}},
                    {"content": digit.read_bytes(), "headers": {"content-type": "image/png"}}):
        answer = classify(served, params={"top_k": 10} | ({"model": model} if model else {}), **request)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["label"] == expected["label"]
        assert body["model"] == {"name": name, "version": "1"}
        assert [e["label"] for e in body["top_k"]] == [e["label"] for e in expected["top_k"]]
        assert [e["score"] for e in body["top_k"]] == pytest.approx([e["score"] for e in expected["top_k"]], abs=1e-5)


def test_default_top_k_comes_from_the_config(served: ServeApp, digit: Path) -> None:
    answer = classify(served, content=digit.read_bytes(), headers={"content-type": "application/octet-stream"})
    assert len(answer.json()["top_k"]) == 3


BAD_REQUESTS = {
    "text body": ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415, "unsupported_media_type"),
    "json body": ({"json": {"image": "x"}}, 415, "unsupported_media_type"),
    "not an image": ({"content": b"hello", "headers": {"content-type": "image/png"}}, 415, "unsupported_image"),
    "empty body": ({"content": b"", "headers": {"content-type": "image/png"}}, 400, "empty_image"),
    "truncated png": ({"files": {"file": ("t.png", truncated(make_image_bytes("png", size=(64, 64))), "image/png")}},
                      400, "corrupt_image"),
    "pixel bomb": ({"content": with_declared_png_size(make_image_bytes("png"), 40_000, 40_000),
                    "headers": {"content-type": "image/png"}}, 400, "image_too_large"),
    "over the body limit": ({"content": b"\0" * (10 * 2**20 + 1), "headers": {"content-type": "image/jpeg"}},
                            413, "body_too_large"),
    "form without file": ({"files": {"image": ("a.png", make_image_bytes("png"), "image/png")}}, 400, "missing_file"),
    "top_k zero": ({"content": make_image_bytes("png"), "params": {"top_k": 0}}, 400, "bad_request"),
    "top_k not a number": ({"content": make_image_bytes("png"), "params": {"top_k": "many"}}, 400, "bad_request"),
    "top_k over the max": ({"content": make_image_bytes("png"), "params": {"top_k": 101}}, 400, "bad_request"),
}


@pytest.mark.parametrize("case", BAD_REQUESTS)
def test_bad_request_gets_its_json_error_and_the_service_keeps_serving(served: ServeApp, digit: Path, case: str) -> None:
    request, status, code = BAD_REQUESTS[case]
    answer = classify(served, **request)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code and error["message"]
    good = classify(served, content=digit.read_bytes(), headers={"content-type": "image/png"})
    assert good.status_code == 200 and good.json()["label"]


def test_an_unknown_model_gets_404_naming_the_served_ones_and_the_service_keeps_serving(
    served: ServeApp, digit: Path
) -> None:
    answer = classify(served, params={"model": "digits-resnet"}, content=digit.read_bytes(),
                      headers={"content-type": "image/png"})
    assert answer.status_code == 404, answer.text
    error = answer.json()["error"]
    assert error["code"] == "model_not_found" and "digits-resnet" in error["message"]
    assert all(name in error["message"] for name in SERVED_MODELS)
    good = classify(served, content=digit.read_bytes(), headers={"content-type": "image/png"})
    assert good.status_code == 200 and good.json()["model"]["name"] == VGG_MODEL


def test_models_route_describes_every_served_model_the_default_first(served: ServeApp, serve_registry: Path) -> None:
    models = httpx.get(f"{served.url}/v1/models", timeout=30).json()["models"]
    assert [described["name"] for described in models] == list(SERVED_MODELS)
    assert [described["kind"] for described in models] == ["vgg16", "knn", "dt"]
    registry = Registry(serve_registry)
    for described in models:  # the scores of each model's metrics.json, not its history or per-image answers
        saved = registry.read_json(f"{described['name']}:{described['version']}", "metrics.json")
        assert described["metrics"] == {key: saved[key] for key in ("test", "calibration", "timing", "cv")}
    model = models[0]
    assert (model["name"], model["version"], model["kind"]) == (VGG_MODEL, "1", "vgg16")
    assert model["labels"] == [str(d) for d in range(10)] and model["input_size"] == 32
    assert model["weights"] == "none"  # trained from random initialisation, as model.json says
    # The registry version has no compiled variant: `auto` serves it with TensorFlow, and says so.
    assert (model["inference"]["backend"], model["inference"]["variant"]) == ("tensorflow", None)
    assert model["inference"]["reason"].startswith("auto: no variant")


def test_probes_and_openapi(served: ServeApp) -> None:
    assert httpx.get(f"{served.url}/healthz", timeout=10).json() == {"status": "ok"}
    assert httpx.get(f"{served.url}/readyz", timeout=10).json() == {"status": "ready", "model": f"{VGG_MODEL}:1"}
    spec = httpx.get(f"{served.url}/openapi.json", timeout=10).json()
    assert {"/v1/classify", "/v1/models", "/healthz", "/readyz"} <= set(spec["paths"])
    body = spec["paths"]["/v1/classify"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "image/*", "application/octet-stream"} <= set(body)
    assert httpx.get(f"{served.url}/docs", timeout=10).status_code == 200
