"""The inference protocol's wire format against tritonclient's own encoder and parser: requests it builds parse,
answers we build read back in it, JSON and binary alike; malformed requests are 4xx naming the problem."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import tritonclient.http as triton

from imgclf.models.prediction import Prediction
from imgclf.serving.errors import ServiceError
from imgclf.serving.inference_protocol import (
    IMAGE,
    LABEL,
    PROBABILITIES,
    InferenceRequest,
    RequestedOutput,
    input_images,
    output_tensor,
    requested_outputs,
    split_body,
    tensors_response,
)

LABELS = ["ants", "bees", "wasps"]
IMAGES = [b"\x89PNG first", b"\xff\xd8 second, with \x00 inside", b"third"]


def client_request(binary: bool, outputs: list | None = None) -> tuple[dict, bytes]:
    """What tritonclient sends: its request body and Inference-Header-Content-Length, parsed by us."""
    image = triton.InferInput(IMAGE, [len(IMAGES)], "BYTES")
    image.set_data_from_numpy(np.array(IMAGES, dtype=np.object_), binary_data=binary)
    body, header_length = triton.InferenceServerClient.generate_request_body([image], outputs=outputs)
    return split_body(body, None if header_length is None else str(header_length))


def predictions() -> list[Prediction]:
    rows = np.array([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25], [0.0, 0.0, 1.0]], np.float32)
    return [Prediction.from_probabilities(row, LABELS, len(LABELS), model_name="insects", model_version="2")
            for row in rows]


def test_binary_images_from_tritonclient_come_out_byte_for_byte() -> None:
    header, binary = client_request(binary=True)
    assert input_images(header, binary, max_images=8, max_image_bytes=100) == IMAGES


def test_base64_images_in_json() -> None:
    header = {"inputs": [{"name": IMAGE, "datatype": "BYTES", "shape": [2],
                          "data": [base64.b64encode(image).decode() for image in IMAGES[:2]]}]}
    assert input_images(InferenceRequest.model_validate(header), b"", max_images=8, max_image_bytes=100) == IMAGES[:2]


def read_back(outputs: list, binary: bool):
    """Our answer to `outputs` (tritonclient's requested outputs), parsed by tritonclient."""
    header, _ = client_request(binary=True, outputs=outputs)
    tensors = [output_tensor(spec, predictions(), LABELS) for spec in requested_outputs(header, len(LABELS))]
    response = tensors_response({"model_name": "insects", "model_version": "2"}, tensors)
    header_length = response.headers.get("Inference-Header-Content-Length")
    assert (header_length is not None) == binary
    return triton.InferenceServerClient.parse_response_body(
        response.body, header_length=None if header_length is None else int(header_length))


def texts(array: np.ndarray) -> list[str]:
    return [item.decode() if isinstance(item, bytes) else item for item in array.reshape(-1)]


@pytest.mark.parametrize("binary", [True, False])
def test_answers_read_back_in_tritonclient(binary: bool) -> None:
    result = read_back([triton.InferRequestedOutput(PROBABILITIES, binary_data=binary),
                        triton.InferRequestedOutput(LABEL, binary_data=binary)], binary)
    assert result.get_response()["model_name"] == "insects"
    probabilities = result.as_numpy(PROBABILITIES)
    assert probabilities.dtype == np.float32 and probabilities.shape == (3, 3)
    assert np.allclose(probabilities, [p.probabilities for p in predictions()], atol=0)
    assert texts(result.as_numpy(LABEL)) == ["bees", "ants", "wasps"]

    classified = read_back([triton.InferRequestedOutput(PROBABILITIES, binary_data=binary, class_count=2)], binary)
    assert classified.as_numpy(PROBABILITIES).shape == (3, 2)
    assert texts(classified.as_numpy(PROBABILITIES))[:2] == ["0.700000:1:bees", "0.200000:2:wasps"]


def test_classification_is_score_index_label_best_first() -> None:
    spec = RequestedOutput(name=PROBABILITIES, parameters={"classification": 2})
    tensor = output_tensor(spec, predictions(), LABELS)
    assert tensor["shape"] == [3, 2]
    assert tensor["data"][:2] == ["0.700000:1:bees", "0.200000:2:wasps"]


def test_without_outputs_both_come_back_binary_when_asked() -> None:
    header = InferenceRequest.model_validate({"inputs": [], "parameters": {"binary_data_output": True}})
    assert requested_outputs(header, len(LABELS)) == [
        RequestedOutput(name=PROBABILITIES, parameters={"binary_data": True}),
        RequestedOutput(name=LABEL, parameters={"binary_data": True})]


@pytest.mark.parametrize("header, binary, status, message", [
    ({"inputs": []}, b"", 400, "exactly one input, IMAGE"),
    ({"inputs": [{"name": "INPUT0", "datatype": "BYTES", "shape": [1], "data": ["eA=="]}]}, b"", 400, "must be IMAGE"),
    ({"inputs": [{"name": IMAGE, "datatype": "FP32", "shape": [1], "data": [1.0]}]}, b"", 400, "datatype BYTES"),
    ({"inputs": [{"name": IMAGE, "datatype": "BYTES", "shape": [2], "data": ["eA=="]}]}, b"", 400, "holds 1 images"),
    ({"inputs": [{"name": IMAGE, "datatype": "BYTES", "shape": [1], "data": ["not base64!"]}]}, b"", 400, "not base64"),
    ({"inputs": [{"name": IMAGE, "datatype": "BYTES", "shape": [1], "data": ["\u00e4"]}]}, b"", 400, "not base64"),
    ({"inputs": [{"name": IMAGE, "datatype": "BYTES", "shape": [1], "data": ["eA=="], "parameters": "x"}]}, b"", 400,
     "inputs.0.parameters: Input should be a valid dictionary"),
    ({"inputs": [{"name": IMAGE, "datatype": "BYTES", "shape": ["1"], "data": ["eA=="]}]}, b"", 400,
     "inputs.0.shape.0: Input should be a valid integer"),
    ({"inputs": [{"name": IMAGE, "datatype": "BYTES", "shape": [1, 1], "data": ["eA=="]}]}, b"", 400, "shape [n]"),
    ({"outputs": []}, b"", 400, "inputs: Field required"),
    ({"inputs": [{"name": IMAGE, "shape": [1], "data": ["eA=="]}]}, b"", 400, "inputs.0.datatype: Field required"),
    ({"inputs": [{"name": IMAGE, "datatype": "BYTES", "shape": [9], "data": []}]}, b"", 413, "limit of 8 per request"),
    ({"inputs": [{"name": IMAGE, "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 9}}]},
     b"\x05\x00\x00\x00abc", 400, "within the 7 binary bytes"),
    ({"inputs": [{"name": IMAGE, "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 7}}]},
     b"\x05\x00\x00\x00abc", 400, "ends inside an element"),
    ({"inputs": [{"name": IMAGE, "datatype": "BYTES", "shape": [1], "data": [base64.b64encode(b"x" * 101).decode()]}]},
     b"", 413, "image 0 of 101 bytes exceeds the limit of 100 bytes"),
])
def test_malformed_requests_are_client_errors(header: dict, binary: bytes, status: int, message: str) -> None:
    with pytest.raises(ServiceError) as refused:
        parsed, _ = split_body(json.dumps(header).encode(), None)
        input_images(parsed, binary, max_images=8, max_image_bytes=100)
    assert refused.value.status == status and message in refused.value.message


@pytest.mark.parametrize("body, length, message", [(b"{", None, "not JSON"), (b"[1]", None, "a JSON object"),
                                                   (b"[" * 100_000, None, "not JSON"),
                                                   (b"{}", "99", "within the body's 2")])
def test_a_bad_header_is_a_400(body: bytes, length: str | None, message: str) -> None:
    with pytest.raises(ServiceError) as refused:
        split_body(body, length)
    assert refused.value.status == 400 and message in refused.value.message


def header_of(request: dict) -> InferenceRequest:
    return split_body(json.dumps({"inputs": [], **request}).encode(), None)[0]


def test_an_unknown_output_or_class_count_is_a_400() -> None:
    with pytest.raises(ServiceError, match="unknown output 'SCORES'"):
        requested_outputs(header_of({"outputs": [{"name": "SCORES"}]}), len(LABELS))
    for count in (4, 0, True, "2"):
        with pytest.raises(ServiceError, match=f"classification must be 1 to 3; got {count!r}"):
            requested_outputs(header_of({"outputs": [{"name": LABEL, "parameters": {"classification": count}}]}),
                              len(LABELS))
    with pytest.raises(ServiceError, match="parameters: Input should be a valid dictionary"):
        header_of({"parameters": 1})
    with pytest.raises(ServiceError, match="outputs.0.parameters: Input should be a valid dictionary"):
        header_of({"outputs": [{"name": LABEL, "parameters": [1]}]})
    assert json.loads(tensors_response({"model_name": "m", "model_version": "1"}, []).body) == {
        "model_name": "m", "model_version": "1", "outputs": []}
