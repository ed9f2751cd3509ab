"""The HTTP app of the ingress over a classify service whose Classifier is a stand-in: each face only translates
(same answer through /v1 and /v2), errors come out of one table in each protocol's form, and the guard's token
check and route labels."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from starlette.routing import BaseRoute

from imgclf.explanations.explanation import GRAD_CAM, Explanation, ExplanationParts
from imgclf.models.prediction import Prediction
from imgclf.serving.answered_by import answering_version
from imgclf.serving.http_app import OTHER_ROUTE, build_api, route_label
from imgclf.serving.service import ClassifyService, HandleClassifier
from imgclf.serving.settings import ApiConfig
from test_service import SUMMARY, Handle, Method, answer  # noqa: I001 - this folder's stand-ins


def png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 120, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


class Classifying(Method):
    """The Classifier's classify: the fixed probabilities of `answer`, with the k asked for."""

    async def remote(self, image: np.ndarray, k: int, model: str | None) -> Prediction:
        self.calls.append((image, k, model))
        return answer(k=k)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.delenv("IMGCLF_API_TOKEN", raising=False)
    service = ClassifyService(HandleClassifier(Handle(Classifying())), ApiConfig.from_mapping({}))
    return TestClient(build_api(service))


def test_v1_and_v2_give_the_same_scores(client: TestClient) -> None:
    v1 = client.post("/v1/classify?top_k=2", content=png(), headers={"content-type": "image/png"})
    assert v1.status_code == 200, v1.text
    v2 = client.post("/v2/models/pets/infer", json={"inputs": [{"name": "IMAGE", "datatype": "BYTES", "shape": [1],
                                                                "data": [base64.b64encode(png()).decode()]}]})
    assert v2.status_code == 200, v2.text
    probabilities = next(o for o in v2.json()["outputs"] if o["name"] == "PROBABILITIES")["data"]
    assert {row["label"]: row["score"] for row in v1.json()["top_k"]} == dict(zip(SUMMARY["labels"], probabilities))


def test_v1_and_v2_answers_name_the_version_that_answered_in_their_headers(client: TestClient) -> None:
    """The headers a client reads, and the Api's request metrics are tagged with, on both protocols."""
    v1 = client.post("/v1/classify", content=png(), headers={"content-type": "image/png"})
    v2 = client.post("/v2/models/pets/infer", json={"inputs": [{"name": "IMAGE", "datatype": "BYTES", "shape": [2],
                                                                "data": [base64.b64encode(png()).decode()] * 2}]})
    for response in (v1, v2):
        assert response.status_code == 200, response.text
        assert answering_version(response.headers.raw) == {"name": "pets", "version": "2"}


@pytest.mark.parametrize("path, body, status, v1_code", [
    ("/v1/classify", b"not an image", 415, "unsupported_image"),
    ("/v1/classify?top_k=0", b"", 400, "bad_request"),
    ("/v1/classify?top_k=101", png(), 400, "bad_request"),
    ("/v1/explain", b"not an image", 415, "unsupported_image"),
    ("/v1/explain", b"", 400, "empty_image"),
    ("/v2/models/cats/infer", b"{}", 404, None),
    ("/v2/models/pets/infer", b"{", 400, None),
    ("/v2/models/pets/infer", b'{"inputs": 3}', 400, None),
])
def test_errors_come_out_in_the_form_of_the_protocol_they_belong_to(client: TestClient, path: str, body: bytes,
                                                                     status: int, v1_code: str | None) -> None:
    answer_ = client.post(path, content=body, headers={"content-type": "application/octet-stream"})
    assert answer_.status_code == status, answer_.text
    error = answer_.json()["error"]
    if v1_code:
        assert error["code"] == v1_code and error["message"]
    else:
        assert isinstance(error, str) and error


def test_the_token_guards_every_route_but_the_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGCLF_API_TOKEN", "s3cret")
    service = ClassifyService(HandleClassifier(Handle(Classifying())), ApiConfig.from_mapping({}))
    client = TestClient(build_api(service))
    for path in ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready"):
        assert client.get(path).status_code == 200, path
    refused = client.get("/v1/models")
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert client.post("/v1/explain", content=png(), headers={"content-type": "image/png"}).status_code == 401
    allowed = client.post("/v1/explain", content=png(), headers={"content-type": "image/png",
                                                                 "authorization": "Bearer s3cret"})
    assert allowed.status_code == 200, allowed.text
    assert refused.json()["error"]["code"] == "unauthorized"
    assert client.get("/v2/models/pets").json() == {"error": "this API wants `Authorization: Bearer <token>`"}
    assert client.get("/v2/models/pets", headers={"authorization": "Bearer s3cret"}).status_code == 200


def routes() -> list[BaseRoute]:
    service = ClassifyService(HandleClassifier(Handle(Classifying())), ApiConfig.from_mapping({}))
    return build_api(service).router.routes


@pytest.mark.parametrize("method, path, label", [
    ("POST", "/v1/classify", "/v1/classify"), ("GET", "/v1/classify", "/v1/classify"), ("GET", "/readyz", "/readyz"),
    ("POST", "/v1/explain", "/v1/explain"),
    ("GET", "/v2", "/v2"), ("GET", "/v2/health/ready", "/v2/health/ready"),
    ("GET", "/v2/models/digits-vgg16", "/v2/models/{name}"),
    ("POST", "/v2/models/digits-vgg16/versions/3/infer", "/v2/models/{name}/versions/{version}/infer"),
    ("GET", "/v2/models/x/ready", "/v2/models/{name}/ready"),
    ("GET", "/v2/models/x/versions/1/other", OTHER_ROUTE), ("GET", "/etc/passwd", OTHER_ROUTE),
])
def test_the_metrics_route_label_is_the_matched_routes_template(method: str, path: str, label: str) -> None:
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    assert route_label(routes(), scope) == label


def test_explain_answers_the_replicas_explanation_for_the_upload_in_json(client: TestClient) -> None:
    answered = client.post("/v1/explain?model=pets&label=dog", content=png(), headers={"content-type": "image/png"})
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert (body["method"], body["predicted"], body["label"], body["model"]) == (
        "neighbours", "dog", "dog", {"name": "pets", "version": "2", "kind": "knn"})
    assert [(n["reference"], n["label"], n["distance"]) for n in body["neighbours"]] == [
        ("dog/0.png", "dog", 0.5), ("dog/1.png", "dog", 1.5)]
    thumbnail = Image.open(io.BytesIO(base64.b64decode(body["neighbours"][0]["thumbnail_png"])))
    assert thumbnail.size == (4, 4)


class GradCamExplaining(Method):
    """The Classifier's explain: a Grad-CAM heatmap at the model's 8 px input size, hottest in its top left."""

    async def remote(self, image: np.ndarray, label: str | None, model: str | None) -> Explanation:
        heat = np.zeros((8, 8), np.float32)
        heat[:4, :4] = 1.0
        return Explanation(model_name="pets", model_version="2", kind="vgg16", predicted="dog", label="dog",
                           label_index=1, score=0.75, parts=ExplanationParts(GRAD_CAM, heatmap=heat))


def test_an_explanations_heatmap_comes_back_at_the_uploads_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMGCLF_API_TOKEN", raising=False)
    handle = Handle(Classifying(), explain=GradCamExplaining())
    client = TestClient(build_api(ClassifyService(HandleClassifier(handle), ApiConfig.from_mapping({}))))
    upload = io.BytesIO()
    Image.fromarray(np.zeros((12, 20, 3), np.uint8)).save(upload, format="PNG")
    answered = client.post("/v1/explain", content=upload.getvalue(), headers={"content-type": "image/png"})
    assert answered.status_code == 200, answered.text
    heat = np.asarray(Image.open(io.BytesIO(base64.b64decode(answered.json()["heatmap_png"]))))
    assert heat.shape == (12, 20)  # height, width of the upload, not the model's 8 × 8
    assert heat[0, 0] == 255 and heat[-1, -1] == 0
