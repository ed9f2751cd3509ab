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
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from imgclf import __version__
from imgclf.models.prediction import Prediction, ranking
from imgclf.serving.http_errors import ApiError
from imgclf.serving.uploads import read_limited_body

if TYPE_CHECKING:
    from imgclf.serving.api import ApiIngress

PREFIX = "/v2"
IMAGE, PROBABILITIES, LABEL = "IMAGE", "PROBABILITIES", "LABEL"
HEADER_LENGTH = "Inference-Header-Content-Length"
EXTENSIONS = ["binary_tensor_data", "classification"]
JSON_TYPE = "application/json"


def is_protocol_path(path: str) -> bool:
    return path == PREFIX or path.startswith(f"{PREFIX}/")


def protocol_error(error: ApiError) -> JSONResponse:
    """An error in the protocol's form: `{"error": message}`, the same status and headers as `/v1` gives it."""
    return JSONResponse({"error": error.message}, status_code=error.status, headers=error.headers)


def add_inference_protocol(api: FastAPI, ingress: ApiIngress) -> None:
    """The protocol's routes on `api`, answering through `ingress` (its limits, decode, Classifier and retries)."""
    protocol = InferenceProtocol(ingress)
    api.get(f"{PREFIX}", tags=["inference protocol"])(protocol.server_metadata)
    api.get(f"{PREFIX}/health/live", tags=["inference protocol"])(protocol.live)
    api.get(f"{PREFIX}/health/ready", tags=["inference protocol"])(protocol.ready)
    for versioned in ("", "/versions/{version}"):
        model = f"{PREFIX}/models/{{name}}{versioned}"
        api.get(model, tags=["inference protocol"])(protocol.model_metadata)
        api.get(f"{model}/ready", tags=["inference protocol"])(protocol.model_ready)
        api.post(f"{model}/infer", tags=["inference protocol"])(protocol.infer)


class InferenceProtocol:
    def __init__(self, ingress: ApiIngress) -> None:
        self.ingress = ingress
        self.catalogue: dict[str, dict[str, Any]] = {}  # the served models' summaries by name, asked again on a miss

    async def server_metadata(self) -> dict[str, Any]:
        """Server metadata: name, version and the protocol extensions it speaks."""
        return {"name": "imgclf", "version": __version__, "extensions": EXTENSIONS}

    async def live(self) -> dict[str, bool]:
        """Liveness: the HTTP server answers."""
        return {"live": True}

    async def ready(self) -> dict[str, bool]:
        """Readiness: a Classifier replica has a model loaded (else 503)."""
        await self.ingress.readyz()
        return {"ready": True}

    async def served(self, name: str, version: str | None) -> dict[str, Any]:
        """The summary of the served model called `name` (at `version`, if given); 404 otherwise. It comes from this
        replica's catalogue, asked of the Classifier again only when the catalogue lacks that model or version, so a
        request does not ship every model's metrics."""
        def wanted() -> dict[str, Any] | None:
            described = self.catalogue.get(name)
            return described if described and version in (None, described["version"]) else None

        if wanted() is None:
            self.catalogue = {model["name"]: model for model in await self.ingress.summaries()}
        if (described := wanted()) is None:
            asked = f"{name}" + (f" version {version}" if version is not None else "")
            listing = ", ".join(f"{model['name']} version {model['version']}" for model in self.catalogue.values())
            raise ApiError(404, "model_not_found", f"model {asked} is not served here; this server serves {listing}")
        return described

    async def model_metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        """The model's inputs and outputs: encoded images in, probabilities and the best label out."""
        described = await self.served(name, version)
        return {
            "name": described["name"], "versions": [described["version"]], "platform": f"imgclf_{described['kind']}",
            "inputs": [{"name": IMAGE, "datatype": "BYTES", "shape": [-1]}],
            "outputs": [{"name": PROBABILITIES, "datatype": "FP32", "shape": [-1, len(described["labels"])]},
                        {"name": LABEL, "datatype": "BYTES", "shape": [-1]}],
        }

    async def model_ready(self, name: str, version: str | None = None) -> dict[str, Any]:
        """Readiness of the named model: 200 when it is the one served and loaded."""
        described = await self.served(name, version)
        return {"name": described["name"], "ready": True}

    async def infer(self, request: Request, name: str, version: str | None = None) -> Response:
        """Classify the images of the IMAGE input; answer the requested outputs (all of them by default)."""
        described = await self.served(name, version)
        config = self.ingress.config
        body = await read_limited_body(request, config.max_infer_body_bytes)
        header, binary = split_body(body, request.headers.get(HEADER_LENGTH))
        images = input_images(header, binary, config.max_images_per_request, config.max_body_bytes)
        specs = requested_outputs(header)  # a bad output request is refused before any image is classified
        prepared = await asyncio.gather(*(self.prepare(index, data, name) for index, data in enumerate(images)))
        predictions = await asyncio.gather(*(self.ingress.predict(image, 1, name) for image in prepared))
        if predictions[0].model_version != described["version"]:  # a new version was deployed meanwhile
            described = await self.served(name, predictions[0].model_version)
        outputs = [output_tensor(spec, predictions, described["labels"]) for spec in specs]
        answer = {"model_name": predictions[0].model_name, "model_version": predictions[0].model_version,
                  **({"id": header["id"]} if "id" in header else {})}
        return tensors_response(answer, outputs)

    async def prepare(self, index: int, data: bytes, model: str):
        """One image decoded and sized for `model` as `/v1` does it; a failure names the image by its index."""
        try:
            return await asyncio.to_thread(self.ingress.prepare, data, f"image {index}", model)
        except ApiError as exc:
            raise ApiError(exc.status, exc.code, f"image {index}: {exc.message}", exc.headers) from exc


def split_body(body: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """The JSON inference header and the binary section after it (empty without the binary extension)."""
    size = len(body)
    if header_length is not None:
        if not header_length.isascii() or not header_length.isdigit() or int(header_length) > len(body):
            raise ApiError(400, "bad_request", f"{HEADER_LENGTH} must be a byte count within the body's {len(body)}")
        size = int(header_length)
    try:
        header = json.loads(body[:size])
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting too deep to parse
        raise ApiError(400, "bad_request", f"the inference request is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise ApiError(400, "bad_request", "the inference request must be a JSON object")
    return header, body[size:]


def input_images(header: dict[str, Any], binary: bytes, max_images: int, max_image_bytes: int) -> list[bytes]:
    """The encoded images of the one BYTES input IMAGE, from base64 JSON data or from the binary section."""
    inputs = header.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise ApiError(400, "bad_request", f"the request must have exactly one input, {IMAGE}")
    tensor = inputs[0]
    if tensor.get("name") != IMAGE or tensor.get("datatype") != "BYTES":
        raise ApiError(400, "bad_request", f"the input must be {IMAGE} of datatype BYTES; got "
                       f"{tensor.get('name')!r} of {tensor.get('datatype')!r}")
    shape = tensor.get("shape")
    if not (isinstance(shape, list) and len(shape) == 1 and isinstance(shape[0], int) and 1 <= shape[0]):
        raise ApiError(400, "bad_request", f"{IMAGE} must have shape [n], n ≥ 1 images; got {shape!r}")
    if shape[0] > max_images:
        raise ApiError(413, "too_many_images", f"{shape[0]} images exceed the limit of {max_images} per request")
    size = parameters_of(tensor, f"{IMAGE}'s parameters").get("binary_data_size")
    images = binary_elements(binary, size) if size is not None else base64_elements(tensor.get("data"))
    if len(images) != shape[0]:
        raise ApiError(400, "bad_request", f"{IMAGE} has shape [{shape[0]}] but holds {len(images)} images")
    for index, image in enumerate(images):
        if len(image) > max_image_bytes:
            raise ApiError(413, "body_too_large",
                           f"image {index} of {len(image)} bytes exceeds the limit of {max_image_bytes} bytes")
    return images


def base64_elements(data: Any) -> list[bytes]:
    if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
        raise ApiError(400, "bad_request", f"{IMAGE} data must be a list of base64 strings (or binary data)")
    try:
        return [base64.b64decode(item, validate=True) for item in data]
    except ValueError as exc:  # binascii.Error, or ValueError for text that is not ASCII
        raise ApiError(400, "bad_request", f"{IMAGE} data is not base64: {exc}") from exc


def binary_elements(binary: bytes, size: Any) -> list[bytes]:
    """BYTES elements of the binary section: a 4-byte little-endian length, then that many bytes, repeated."""
    if not isinstance(size, int) or not 0 <= size <= len(binary):
        raise ApiError(400, "bad_request", f"binary_data_size must be within the {len(binary)} binary bytes sent")
    elements, offset = [], 0
    while offset < size:
        if offset + 4 > size:
            raise ApiError(400, "bad_request", "the binary data ends inside an element's length")
        (length,) = struct.unpack_from("<I", binary, offset)
        offset += 4
        if offset + length > size:
            raise ApiError(400, "bad_request", "the binary data ends inside an element")
        elements.append(binary[offset : offset + length])
        offset += length
    return elements


def parameters_of(holder: dict[str, Any], what: str) -> dict[str, Any]:
    """The `parameters` object of a request, input or output; {} when absent."""
    parameters = holder.get("parameters")
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise ApiError(400, "bad_request", f"{what} must be a JSON object; got {parameters!r:.40}")
    return parameters


def requested_outputs(header: dict[str, Any]) -> list[dict[str, Any]]:
    """The outputs asked for, each with its parameters (an object); both by default, binary when the request says
    so."""
    binary = bool(parameters_of(header, "the request's parameters").get("binary_data_output", False))
    outputs = header.get("outputs")
    if outputs is None:
        return [{"name": name, "parameters": {"binary_data": binary}} for name in (PROBABILITIES, LABEL)]
    if not isinstance(outputs, list) or not all(isinstance(item, dict) for item in outputs):
        raise ApiError(400, "bad_request", "outputs must be a list of objects")
    unknown = [item.get("name") for item in outputs if item.get("name") not in (PROBABILITIES, LABEL)]
    if unknown:
        raise ApiError(400, "bad_request", f"unknown output {unknown[0]!r}: this model has {PROBABILITIES}, {LABEL}")
    return [{**item, "parameters": parameters_of(item, f"output {item['name']}'s parameters")} for item in outputs]


def output_tensor(spec: dict[str, Any], predictions: list[Prediction], labels: list[str]) -> dict[str, Any]:
    """One output: the probabilities, the best labels, or (`classification`: K) the top K as "score:index:label"."""
    parameters = spec.get("parameters", {})  # checked by requested_outputs
    count = parameters.get("classification")
    if count is not None:
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= len(labels):
            raise ApiError(400, "bad_request", f"classification must be 1 to {len(labels)}; got {count!r}")
        data = [f"{p.probabilities[index]:f}:{index}:{labels[index]}" for p in predictions
                for index in ranking(p.probabilities)[:count]]
        tensor = {"datatype": "BYTES", "shape": [len(predictions), count], "data": data}
    elif spec["name"] == PROBABILITIES:
        data = [value for p in predictions for value in p.probabilities]
        tensor = {"datatype": "FP32", "shape": [len(predictions), len(labels)], "data": data}
    else:
        tensor = {"datatype": "BYTES", "shape": [len(predictions)], "data": [p.label for p in predictions]}
    return {"name": spec["name"], **tensor, "binary": bool(parameters.get("binary_data", False))}


def tensors_response(answer: dict[str, Any], outputs: list[dict[str, Any]]) -> Response:
    """JSON, or the JSON header plus the binary section holding the outputs asked for in binary."""
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
        return Response(header, media_type=JSON_TYPE)
    return Response(header + b"".join(sections), media_type="application/octet-stream",
                    headers={HEADER_LENGTH: str(len(header))})


def raw_bytes(output: dict[str, Any]) -> bytes:
    if output["datatype"] == "FP32":
        return np.asarray(output["data"], dtype="<f4").tobytes()
    return b"".join(struct.pack("<I", len(item)) + item for item in (text.encode() for text in output["data"]))
