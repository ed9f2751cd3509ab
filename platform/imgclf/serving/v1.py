"""The `/v1` face and the probes: routes that translate HTTP to the classify service and its answers to JSON.

    POST /v1/classify   an image (multipart `file`, or the body itself) → label, score, top_k, model
    POST /v1/explain    the same image → why the model answered so (Grad-CAM heatmap, neighbours or decision path)
    GET  /v1/models     every served model, the default first, with its scores
    GET  /healthz       liveness; GET /readyz readiness (a replica has the model loaded)
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from imgclf.serving.answered_by import answered_by
from imgclf.serving.errors import BadRequest
from imgclf.serving.request_log import REQUEST_ID_HEADER, request_id
from imgclf.serving.service import ClassifyService
from imgclf.serving.uploads import image_bytes

PROBES = ("/healthz", "/readyz")
IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}
            },
            "image/*": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


class LabelScore(BaseModel):
    label: str
    score: float


class ServedModel(BaseModel):
    name: str
    version: str


class Classification(BaseModel):
    label: str
    score: float
    top_k: list[LabelScore]
    model: ServedModel


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "not an image we can read, or a bad parameter", 401: "missing or wrong bearer token",
        404: "no served model by that name",
        413: "body over the size limit", 415: "not an image content type or format", 503: "overloaded or no model",
    }.items()
}


def add_v1_routes(api: FastAPI, service: ClassifyService) -> None:
    """The `/v1` routes and the probes on `api`, answering through `service` (added to the app itself, not an
    included APIRouter, so the guard matches them by template)."""

    @api.post("/v1/classify", response_model=Classification, openapi_extra=IMAGE_BODY,
                 responses={code: ERROR_RESPONSES[code] for code in (400, 404, 413, 415, 503)})
    async def classify(
        request: Request, top_k: int | None = Query(None, ge=1, le=10_000),
        model: str | None = Query(None, description="a served model's name (GET /v1/models); default: the first"),
    ) -> JSONResponse:
        """Classify one image: a multipart `file` part, or the image itself as the body."""
        started = time.time()
        k = top_k or service.config.default_top_k
        if k > service.config.max_top_k:
            raise BadRequest(f"top_k must be at most {service.config.max_top_k}; got {k}")
        data = await image_bytes(request, service.config.max_body_bytes)
        image = await service.prepare_upload(data, "upload", model)
        prediction = await service.classify(image, k, model)
        # Serve's proxy gives every request an X-Request-Id (the client's, else a new one) and echoes it in the answer
        identity = request_id(request.headers.get(REQUEST_ID_HEADER))
        service.log_request(identity, data, prediction, request.scope["route"].path, started)
        # already the Classification shape: no second validation; the headers say which version answered (a canary)
        return JSONResponse(prediction.to_dict(), headers=answered_by(prediction))

    @api.post("/v1/explain", openapi_extra=IMAGE_BODY,
              responses={code: ERROR_RESPONSES[code] for code in (400, 404, 413, 415, 503)})
    async def explain(
        request: Request,
        model: str | None = Query(None, description="a served model's name (GET /v1/models); default: the first"),
        label: str | None = Query(None, description="the class to explain; default: the predicted one"),
    ) -> JSONResponse:
        """Why the model answers what it does for one image (the same upload as /v1/classify): VGG16 gives a Grad-CAM
        heatmap (`heatmap_png`, grayscale PNG in base64, the upload's size), KNN its voting `neighbours` (reference,
        label, distance, `thumbnail_png`), a decision tree its `path` in words, its `steps` and `leaf`."""
        data = await image_bytes(request, service.config.max_body_bytes)
        decoded = await asyncio.to_thread(service.decode, data, "upload")
        image = await asyncio.to_thread(service.sized, decoded, model)
        explanation = await service.explain(image, label, model)
        return JSONResponse(await asyncio.to_thread(explanation.to_dict, decoded.shape[:2]))

    @api.get("/v1/models", responses={503: ERROR_RESPONSES[503]})
    async def models() -> dict[str, Any]:
        """Every served model, the default first: name, version, labels, input size, weights source and its
        evaluation metrics."""
        return {"models": await service.models()}

    @api.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the HTTP server answers."""
        return {"status": "ok"}

    @api.get("/readyz", responses={503: ERROR_RESPONSES[503]})
    async def readyz() -> dict[str, str]:
        """Readiness: a Classifier replica has a model loaded."""
        return {"status": "ready", "model": await service.ready()}
