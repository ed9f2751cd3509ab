"""The Open Inference Protocol (KServe v2, spoken by Triton, MLServer and OpenVINO Model Server) beside `/v1`,
on the same ingress and Classifier replicas, with Triton's binary-tensor and classification extensions.

    GET  /v2, /v2/health/live, /v2/health/ready
    GET  /v2/models/{name}[/versions/{v}], .../ready
    POST /v2/models/{name}[/versions/{v}]/infer   IMAGE: BYTES [n] encoded images → PROBABILITIES: FP32 [n, classes],
                                                  LABEL: BYTES [n]; "classification": K → BYTES [n, K] "score:index:label"

An image travels as base64 text in JSON, or raw in the binary section after the JSON header
(`Inference-Header-Content-Length`; BYTES elements as a 4-byte little-endian length and the bytes). Errors are
`{"error": "..."}`; limits, auth and metrics are those of `/v1`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import time
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from imgclf import __version__
from imgclf.models.prediction import Prediction, ranking
from imgclf.serving.answered_by import answered_by
from imgclf.serving.errors import BadRequest, ServiceError, TooLarge
from imgclf.serving.request_log import REQUEST_ID_HEADER, request_id
from imgclf.serving.service import ClassifyService
from imgclf.serving.uploads import read_limited_body

PREFIX = "/v2"
PROBES = (f"{PREFIX}/health/live", f"{PREFIX}/health/ready")
IMAGE, PROBABILITIES, LABEL = "IMAGE", "PROBABILITIES", "LABEL"
HEADER_LENGTH = "Inference-Header-Content-Length"
EXTENSIONS = ["binary_tensor_data", "classification"]
JSON_TYPE = "application/json"


def protocol_error(error: ServiceError) -> JSONResponse:
    """An error in the protocol's form: `{"error": message}`, the same status and headers as `/v1` gives it."""
    return JSONResponse({"error": error.message}, status_code=error.status, headers=error.headers)


# --- the JSON inference header, as pydantic models -------------------------------------------------------------


class Tensor(BaseModel):
    """An input tensor of the request (only BYTES IMAGE is accepted, checked after parsing)."""

    name: str
    datatype: str
    shape: list[StrictInt]
    data: list[Any] | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)


class RequestedOutput(BaseModel):
    name: str
    parameters: dict[str, Any] = Field(default_factory=dict)


class InferenceRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    inputs: list[Tensor]
    outputs: list[RequestedOutput] | None = None


# --- the routes ------------------------------------------------------------------------------------------------


def add_protocol_routes(api: FastAPI, service: ClassifyService) -> None:
    """The protocol's routes on `api`, answering through `service` (its limits, decode, Classifier and retries)."""
    router = ProtocolRoutes(api)

    @router.get("")
    async def server_metadata() -> dict[str, Any]:
        """Server metadata: name, version and the protocol extensions it speaks."""
        return {"name": "imgclf", "version": __version__, "extensions": EXTENSIONS}

    @router.get("/health/live")
    async def live() -> dict[str, bool]:
        """Liveness: the HTTP server answers."""
        return {"live": True}

    @router.get("/health/ready")
    async def ready() -> dict[str, bool]:
        """Readiness: a Classifier replica has a model loaded (else 503)."""
        await service.ready()
        return {"ready": True}

    async def model_metadata(name: str, version: str | None = None) -> dict[str, Any]:
        """The model's inputs and outputs: encoded images in, probabilities and the best label out."""
        described = await service.model(name, version)
        return {
            "name": described["name"], "versions": [described["version"]], "platform": f"imgclf_{described['kind']}",
            "inputs": [{"name": IMAGE, "datatype": "BYTES", "shape": [-1]}],
            "outputs": [{"name": PROBABILITIES, "datatype": "FP32", "shape": [-1, len(described["labels"])]},
                        {"name": LABEL, "datatype": "BYTES", "shape": [-1]}],
        }

    async def model_ready(name: str, version: str | None = None) -> dict[str, Any]:
        """Readiness of the named model: 200 when it is served and loaded."""
        described = await service.model(name, version)
        return {"name": described["name"], "ready": True}

    async def infer(request: Request, name: str, version: str | None = None) -> Response:
        """Classify the images of the IMAGE input; answer the requested outputs (all of them by default)."""
        started = time.time()
        described = await service.model(name, version)
        config = service.config
        body = await read_limited_body(request, config.max_infer_body_bytes)
        header, binary = split_body(body, request.headers.get(HEADER_LENGTH))
        images = input_images(header, binary, config.max_images_per_request, config.max_body_bytes)
        specs = requested_outputs(header, len(described["labels"]))  # refused before any image is classified
        reference = f"{name}:{version}" if version is not None else name  # a version in the path pins it
        prepared = await asyncio.gather(*(prepare(index, data, reference) for index, data in enumerate(images)))
        predictions = await service.classify_all(list(prepared), 1, reference)  # one version answers them all
        if predictions[0].model_version != described["version"]:  # a new version was deployed meanwhile
            described = await service.model(name, predictions[0].model_version)
        identity = request_id(request.headers.get(REQUEST_ID_HEADER))  # one request log row per image under it
        for data, prediction in zip(images, predictions):
            service.log_request(identity, data, prediction, request.scope["route"].path, started)
        outputs = [output_tensor(spec, predictions, described["labels"]) for spec in specs]
        answer = {"model_name": predictions[0].model_name, "model_version": predictions[0].model_version,
                  **({"id": header.id} if header.id is not None else {})}
        return tensors_response(answer, outputs, answered_by(predictions[0]))

    async def prepare(index: int, data: bytes, model: str) -> np.ndarray:
        """One image decoded and sized for `model` as `/v1` does it; a failure names the image by its index."""
        try:
            return await service.prepare_upload(data, f"image {index}", model)
        except ServiceError as exc:
            raise exc.with_message(f"image {index}: {exc.message}") from exc

    for versioned in ("", "/versions/{version}"):
        model = f"/models/{{name}}{versioned}"
        router.get(model)(model_metadata)
        router.get(f"{model}/ready")(model_ready)
        router.post(f"{model}/infer")(infer)


class ProtocolRoutes:
    """Adds routes under PREFIX, tagged, to the app itself."""

    def __init__(self, api: FastAPI) -> None:
        self.api = api

    def get(self, path: str) -> Any:
        return self.api.get(f"{PREFIX}{path}", tags=["inference protocol"])

    def post(self, path: str) -> Any:
        return self.api.post(f"{PREFIX}{path}", tags=["inference protocol"])


# --- the wire format -------------------------------------------------------------------------------------------


def split_body(body: bytes, header_length: str | None) -> tuple[InferenceRequest, bytes]:
    """The JSON inference header and the binary section after it (empty without the binary extension)."""
    size = len(body)
    if header_length is not None:
        if not header_length.isascii() or not header_length.isdigit() or int(header_length) > len(body):
            raise BadRequest(f"{HEADER_LENGTH} must be a byte count within the body's {len(body)}")
        size = int(header_length)
    try:
        header = json.loads(body[:size])
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting too deep to parse
        raise BadRequest(f"the inference request is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise BadRequest("the inference request must be a JSON object")
    try:
        return InferenceRequest.model_validate(header), body[size:]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}" for e in exc.errors())
        raise BadRequest(f"the inference request is malformed: {problems}") from exc


def input_images(header: InferenceRequest, binary: bytes, max_images: int, max_image_bytes: int) -> list[bytes]:
    """The encoded images of the one BYTES input IMAGE, from base64 JSON data or from the binary section."""
    if len(header.inputs) != 1:
        raise BadRequest(f"the request must have exactly one input, {IMAGE}")
    tensor = header.inputs[0]
    if tensor.name != IMAGE or tensor.datatype != "BYTES":
        raise BadRequest(f"the input must be {IMAGE} of datatype BYTES; got {tensor.name!r} of {tensor.datatype!r}")
    if len(tensor.shape) != 1 or tensor.shape[0] < 1:
        raise BadRequest(f"{IMAGE} must have shape [n], n ≥ 1 images; got {tensor.shape!r}")
    if tensor.shape[0] > max_images:
        raise TooLarge(f"{tensor.shape[0]} images exceed the limit of {max_images} per request",
                       code="too_many_images")
    size = tensor.parameters.get("binary_data_size")
    images = binary_elements(binary, size) if size is not None else base64_elements(tensor.data)
    if len(images) != tensor.shape[0]:
        raise BadRequest(f"{IMAGE} has shape [{tensor.shape[0]}] but holds {len(images)} images")
    for index, image in enumerate(images):
        if len(image) > max_image_bytes:
            raise TooLarge(f"image {index} of {len(image)} bytes exceeds the limit of {max_image_bytes} bytes")
    return images


def base64_elements(data: list[Any] | None) -> list[bytes]:
    if data is None or not all(isinstance(item, str) for item in data):
        raise BadRequest(f"{IMAGE} data must be a list of base64 strings (or binary data)")
    try:
        return [base64.b64decode(item, validate=True) for item in data]
    except ValueError as exc:  # binascii.Error, or ValueError for text that is not ASCII
        raise BadRequest(f"{IMAGE} data is not base64: {exc}") from exc


def binary_elements(binary: bytes, size: Any) -> list[bytes]:
    """BYTES elements of the binary section: a 4-byte little-endian length, then that many bytes, repeated."""
    if not isinstance(size, int) or not 0 <= size <= len(binary):
        raise BadRequest(f"binary_data_size must be within the {len(binary)} binary bytes sent")
    elements, offset = [], 0
    while offset < size:
        if offset + 4 > size:
            raise BadRequest("the binary data ends inside an element's length")
        (length,) = struct.unpack_from("<I", binary, offset)
        offset += 4
        if offset + length > size:
            raise BadRequest("the binary data ends inside an element")
        elements.append(binary[offset : offset + length])
        offset += length
    return elements


def requested_outputs(header: InferenceRequest, classes: int) -> list[RequestedOutput]:
    """The outputs asked for, both by default (binary when the request says so); an unknown output or a class count
    out of range is refused."""
    if header.outputs is None:
        binary = bool(header.parameters.get("binary_data_output", False))
        return [RequestedOutput(name=name, parameters={"binary_data": binary}) for name in (PROBABILITIES, LABEL)]
    for output in header.outputs:
        if output.name not in (PROBABILITIES, LABEL):
            raise BadRequest(f"unknown output {output.name!r}: this model has {PROBABILITIES}, {LABEL}")
        count = output.parameters.get("classification")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= classes):
            raise BadRequest(f"classification must be 1 to {classes}; got {count!r}")
    return header.outputs


def output_tensor(spec: RequestedOutput, predictions: list[Prediction], labels: list[str]) -> dict[str, Any]:
    """One output: the probabilities, the best labels, or (`classification`: K) the top K as "score:index:label"."""
    count = spec.parameters.get("classification")  # checked by requested_outputs
    if count is not None:
        data = [f"{p.probabilities[index]:f}:{index}:{labels[index]}" for p in predictions
                for index in ranking(p.probabilities)[:count]]
        tensor = {"datatype": "BYTES", "shape": [len(predictions), count], "data": data}
    elif spec.name == PROBABILITIES:
        data = [value for p in predictions for value in p.probabilities]
        tensor = {"datatype": "FP32", "shape": [len(predictions), len(labels)], "data": data}
    else:
        tensor = {"datatype": "BYTES", "shape": [len(predictions)], "data": [p.label for p in predictions]}
    return {"name": spec.name, **tensor, "binary": bool(spec.parameters.get("binary_data", False))}


def tensors_response(answer: dict[str, Any], outputs: list[dict[str, Any]],
                     headers: dict[str, str] | None = None) -> Response:
    """JSON, or the JSON header plus the binary section holding the outputs asked for in binary; with `headers`."""
    sections, described = [], []
    for output in outputs:
        binary = output.pop("binary")
        if binary:
            raw = raw_bytes(output)
            output = {key: value for key, value in output.items() if key != "data"}
            output["parameters"] = {"binary_data_size": len(raw)}
            sections.append(raw)
        described.append(output)
    header = json.dumps({**answer, "outputs": described}).encode()
    if not sections:
        return Response(header, media_type=JSON_TYPE, headers=headers)
    return Response(header + b"".join(sections), media_type="application/octet-stream",
                    headers={**(headers or {}), HEADER_LENGTH: str(len(header))})


def raw_bytes(output: dict[str, Any]) -> bytes:
    if output["datatype"] == "FP32":
        return np.asarray(output["data"], dtype="<f4").tobytes()
    return b"".join(struct.pack("<I", len(item)) + item for item in (text.encode() for text in output["data"]))
