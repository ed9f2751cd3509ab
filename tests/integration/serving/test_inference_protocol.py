"""The Open Inference Protocol on the running app, driven by tritonclient (a client nobody here wrote): health,
metadata, and infer with binary and base64 images; probabilities equal `/v1/classify` and `imgclf predict`
within 1e-5; bad input gets a 4xx in the protocol's error form and the service keeps serving."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from utils.cli import run_cli
from utils.digits_run import DIGIT_CLASSES, SERVED_BASELINES, VGG_MODEL, TrainedRun
from utils.images import truncated
from utils.serve_app import ServeApp

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits(trained_run: TrainedRun) -> list[Path]:
    return [sorted((trained_run.data_dir / digit).glob("*.png"))[0] for digit in ("1", "4", "7")]


@pytest.fixture(scope="module")
def client(served: ServeApp):
    with triton.InferenceServerClient(url=served.url.removeprefix("http://"), network_timeout=120) as client:
        yield client


def image_input(images: list[bytes]) -> triton.InferInput:
    tensor = triton.InferInput("IMAGE", [len(images)], "BYTES")
    tensor.set_data_from_numpy(np.array(images, dtype=np.object_), binary_data=True)
    return tensor


def by_label(probabilities: np.ndarray) -> dict[str, float]:
    return dict(zip(DIGIT_CLASSES, probabilities.tolist()))


def test_health_and_metadata(client) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert {"binary_tensor_data", "classification"} <= set(client.get_server_metadata()["extensions"])
    assert client.is_model_ready(VGG_MODEL) and client.is_model_ready(VGG_MODEL, "1")
    assert not client.is_model_ready(VGG_MODEL, "9") and not client.is_model_ready("digits-resnet")
    assert all(client.is_model_ready(name) for name in SERVED_BASELINES)
    metadata = client.get_model_metadata(VGG_MODEL)
    assert metadata["name"] == VGG_MODEL and metadata["versions"] == ["1"]
    assert metadata["inputs"] == [{"name": "IMAGE", "datatype": "BYTES", "shape": [-1]}]
    assert metadata["outputs"] == [{"name": "PROBABILITIES", "datatype": "FP32", "shape": [-1, 10]},
                                   {"name": "LABEL", "datatype": "BYTES", "shape": [-1]}]


def test_infer_equals_v1_classify_and_imgclf_predict(client, served: ServeApp, serve_registry: Path,
                                                     digits: list[Path]) -> None:
    result = client.infer(VGG_MODEL, [image_input([path.read_bytes() for path in digits])], model_version="1")
    probabilities, labels = result.as_numpy("PROBABILITIES"), result.as_numpy("LABEL")
    assert probabilities.shape == (3, 10) and labels.shape == (3,)
    assert result.get_response()["model_name"] == VGG_MODEL and result.get_response()["model_version"] == "1"
    predicted = run_cli(["predict", f"{VGG_MODEL}:1", *digits, "--json", "--top-k", "10", "--registry", serve_registry])
    assert predicted.exit_code == 0, predicted.stderr
    for path, row, label, line in zip(digits, probabilities, labels, predicted.stdout.splitlines()):
        expected = {entry["label"]: entry["score"] for entry in json.loads(line)["top_k"]}
        answer = httpx.post(f"{served.url}/v1/classify", params={"top_k": 10}, content=path.read_bytes(),
                            headers={"content-type": "image/png"}, timeout=60).json()
        over_v1 = {entry["label"]: entry["score"] for entry in answer["top_k"]}
        assert by_label(row) == pytest.approx(expected, abs=1e-5) == over_v1
        assert label.decode() == answer["label"] == json.loads(line)["label"]


@pytest.mark.parametrize("model", SERVED_BASELINES)
def test_a_baseline_answers_on_its_own_path_as_over_v1(client, served: ServeApp, digits: list[Path], model: str) -> None:
    metadata = client.get_model_metadata(model)
    assert metadata["name"] == model and metadata["platform"] in ("imgclf_knn", "imgclf_dt")
    result = client.infer(model, [image_input([path.read_bytes() for path in digits])])
    assert result.get_response()["model_name"] == model
    for path, row in zip(digits, result.as_numpy("PROBABILITIES")):
        answer = httpx.post(f"{served.url}/v1/classify", params={"top_k": 10, "model": model},
                            content=path.read_bytes(), headers={"content-type": "image/png"}, timeout=60).json()
        assert answer["model"]["name"] == model
        assert by_label(row) == pytest.approx({entry["label"]: entry["score"] for entry in answer["top_k"]}, abs=1e-6)


def test_classification_extension_and_base64_json(client, served: ServeApp, digits: list[Path]) -> None:
    top3 = triton.InferRequestedOutput("PROBABILITIES", class_count=3)
    result = client.infer(VGG_MODEL, [image_input([digits[0].read_bytes()])], outputs=[top3])
    entries = [item.decode().split(":") for item in result.as_numpy("PROBABILITIES").reshape(-1)]
    full = client.infer(VGG_MODEL, [image_input([digits[0].read_bytes()])]).as_numpy("PROBABILITIES")[0]
    assert [int(index) for _, index, _ in entries] == np.argsort(-full, kind="stable")[:3].tolist()
    assert [label for _, _, label in entries] == [DIGIT_CLASSES[int(index)] for _, index, _ in entries]
    assert [float(score) for score, _, _ in entries] == pytest.approx(sorted(full, reverse=True)[:3], abs=1e-6)

    body = {"inputs": [{"name": "IMAGE", "datatype": "BYTES", "shape": [1],
                        "data": [base64.b64encode(digits[0].read_bytes()).decode()]}]}
    answer = httpx.post(f"{served.url}/v2/models/{VGG_MODEL}/infer", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    [probabilities] = [output for output in answer.json()["outputs"] if output["name"] == "PROBABILITIES"]
    assert probabilities["shape"] == [1, 10] and probabilities["data"] == pytest.approx(full.tolist(), abs=1e-6)


def test_bad_input_gets_a_4xx_in_the_protocols_form(client, served: ServeApp, digits: list[Path]) -> None:
    with pytest.raises(InferenceServerException) as refused:
        client.infer(VGG_MODEL, [image_input([digits[0].read_bytes(), truncated(digits[1].read_bytes())])])
    assert refused.value.status() == "400" and "image 1" in refused.value.message()
    with pytest.raises(InferenceServerException) as unknown:
        client.infer("digits-resnet", [image_input([digits[0].read_bytes()])])
    assert unknown.value.status() == "404" and "is not served here" in unknown.value.message()
    image = {"name": "IMAGE", "datatype": "BYTES", "shape": [1], "data": [base64.b64encode(digits[0].read_bytes()).decode()]}
    for body in (b"{not json", b"[" * 100_000, json.dumps({"inputs": [image], "parameters": 1}).encode()):
        answer = httpx.post(f"{served.url}/v2/models/{VGG_MODEL}/infer", content=body, timeout=60)
        assert answer.status_code == 400 and set(answer.json()) == {"error"}, answer.text
    assert client.infer(VGG_MODEL, [image_input([digits[2].read_bytes()])]).as_numpy("LABEL").shape == (1,)
