"""The HTTP face of the model: a FastAPI ingress deployment in front of the Classifier, with the Gradio page.

Routes: POST /v1/classify (`?model=` one of the served models), GET /v1/models, GET /healthz, GET /readyz, the OpenAPI docs at /docs and the page
at /ui/. Errors are JSON `{"error": {"code", "message"}}`; bad input gets a 4xx, overload a 503 with
Retry-After, never a 500. With $IMGCLF_API_TOKEN set every route but the probes wants
`Authorization: Bearer <token>`; with $IMGCLF_UI_PASSWORD set the page asks for user `imgclf` and that password.
Each replica builds its own FastAPI app (`__serve_build_asgi_app__`), so nothing is shared between replicas.
"""

import asyncio
import hmac
import logging
import time
from typing import Any

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from ray import serve
from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError
from ray.serve.handle import DeploymentHandle

from imgclf import __version__
from imgclf.data.decode import decode_image
from imgclf.data.transforms import resize_image
from imgclf.errors import ImageDecodeError, ModelNotLoadedError, ModelNotServedError
from imgclf.models.prediction import Prediction
from imgclf.serving.http_errors import CLASSIFIER_FAILURES, ApiError, classifier_failure, decode_failure
from imgclf.serving.inference_protocol import add_inference_protocol, is_protocol_path, protocol_error
from imgclf.serving.metrics import api_metrics, route_of
from imgclf.serving.settings import ApiConfig
from imgclf.serving.uploads import image_bytes

LOG = logging.getLogger("imgclf.serving")
UI_USER = "imgclf"
UI_PATH = "/ui"
PROBES = ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready")  # answer without the token
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


def build_api(ingress: "ApiIngress") -> FastAPI:
    """The FastAPI app of one Api replica: its routes answer through `ingress`, its guard reads `ingress.config`."""
    api = FastAPI(
        title="imgclf", version=__version__,
        description="Image classification: POST an image, get the top-k labels of the served model.",
        responses={401: ERROR_RESPONSES[401]},
    )
    api.add_exception_handler(ApiError, api_error)
    api.add_exception_handler(RequestValidationError, invalid_request)
    api.add_exception_handler(Exception, unexpected)

    @api.middleware("http")
    async def authorise_and_measure(request: Request, call_next):
        """Refuse requests without the configured token (401), and record every answer's latency and status."""
        started, route = time.perf_counter(), route_of(request.url.path)
        refusal = refusal_for(request, ingress.config)
        try:
            response = error_response(request.url.path, refusal) if refusal else await call_next(request)
        except Exception:  # answered as a 500 by the `unexpected` handler, outside this middleware: count it here
            api_metrics().record(route, 500, time.perf_counter() - started)
            raise
        api_metrics().record(route, response.status_code, time.perf_counter() - started)
        return response

    api.post("/v1/classify", response_model=Classification, openapi_extra=IMAGE_BODY,
             responses={code: ERROR_RESPONSES[code] for code in (400, 404, 413, 415, 503)})(ingress.classify)
    api.get("/v1/models", responses={503: ERROR_RESPONSES[503]})(ingress.models)
    api.get("/healthz")(ingress.healthz)
    api.get("/readyz", responses={503: ERROR_RESPONSES[503]})(ingress.readyz)
    add_inference_protocol(api, ingress)
    return api


def error_response(path: str, error: ApiError) -> JSONResponse:
    """`/v1`'s `{"error": {"code", "message"}}`, or the inference protocol's `{"error": message}` under /v2."""
    return protocol_error(error) if is_protocol_path(path) else error.response()


async def api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(request.url.path, exc)


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return error_response(request.url.path, ApiError(400, "bad_request", problems))


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    LOG.exception("unexpected failure answering %s %s", request.method, request.url.path)
    return error_response(request.url.path, ApiError(500, "internal", f"unexpected server error ({type(exc).__name__})"))


def refusal_for(request: Request, config: ApiConfig) -> ApiError | None:
    """401 for a request that needs the bearer token and lacks it; the page has its own password instead."""
    path = request.url.path
    on_page = path == UI_PATH or path.startswith(f"{UI_PATH}/")
    if not config.api_token or path in PROBES or (on_page and config.ui_password):
        return None
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), config.api_token.encode()):
        return None
    return ApiError(401, "unauthorized", "this API wants `Authorization: Bearer <token>`",
                    {"WWW-Authenticate": "Bearer"})


@serve.deployment(name="Api", max_ongoing_requests=256)
@serve.ingress()
class ApiIngress:
    """Decodes uploads with the one decode function, asks the Classifier, answers JSON; serves the page."""

    def __init__(self, classifier: DeploymentHandle, examples_dir: str | None = None) -> None:
        self.classifier = classifier
        self.config = ApiConfig.from_mapping({})
        self.examples_dir = examples_dir
        self.input_sizes: dict[str | None, int] = {}  # each model's input size (None: the default's), from answers
        self.last_model: str | None = None  # `name:version` of the latest answer

    def __serve_build_asgi_app__(self) -> FastAPI:
        """This replica's own app (Serve calls it once, after __init__), the Gradio page mounted at /ui."""
        import gradio as gr

        from gradio_app import build_page
        from imgclf.serving.page import PageBackend, example_images

        api = build_api(self)
        backend = PageBackend(self)
        page = build_page(backend.classify, backend.describe, compare=backend.compare,
                          examples=example_images(self.examples_dir), top_k=self.config.default_top_k)
        password = self.config.ui_password
        return gr.mount_gradio_app(api, page, path=UI_PATH, auth=[(UI_USER, password)] if password else None)

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        self.config = ApiConfig.from_mapping(user_config)

    def prepare(self, data: bytes, source: str, model: str | None = None) -> np.ndarray:
        """Bytes → RGB array at the model's input size."""
        return self.sized(self.decode(data, source), model)

    def decode(self, data: bytes, source: str) -> np.ndarray:
        """Bytes → RGB array, with the one decode function under this API's limits."""
        try:
            return decode_image(data, source=source, limits=self.config.limits)
        except ImageDecodeError as exc:
            raise decode_failure(exc) from exc

    def sized(self, image: np.ndarray, model: str | None = None) -> np.ndarray:
        """The image at `model`'s input size once an answer has told it (the same resize `imgclf predict` applies);
        until then as it is, and the Classifier resizes it."""
        size = self.input_sizes.get(model)
        return resize_image(image, size) if size else image

    async def predict(self, image: np.ndarray, k: int, model: str | None = None) -> Prediction:
        """The Prediction of `model` (default: the first served) with the top `k`; 404 for a model not served; a
        replica that died mid-request is replaced by another one up to `replica_retries` times; 503 with
        Retry-After when it is overloaded or no replica is left."""
        for attempt in range(self.config.replica_retries + 1):
            try:
                answer = await self.classifier.classify.remote(image, k, model)
                break
            except ModelNotServedError as exc:
                cause = getattr(exc, "cause", None) or exc  # Ray's error from the replica wraps ours
                raise ApiError(404, "model_not_found", str(cause)) from exc
            except RayActorError as exc:
                if attempt == self.config.replica_retries:
                    raise classifier_failure(exc, self.config.retry_after_s) from exc
                LOG.warning("a Classifier replica died while classifying (%s); sending the image again",
                            type(exc).__name__)
            except CLASSIFIER_FAILURES as exc:
                raise classifier_failure(exc, self.config.retry_after_s) from exc
        self.input_sizes[model], prediction = answer["input_size"], answer["prediction"]
        self.last_model = f"{prediction.model_name}:{prediction.model_version}"
        return prediction

    async def classify(
        self, request: Request, top_k: int | None = Query(None, ge=1, le=10_000),
        model: str | None = Query(None, description="a served model's name (GET /v1/models); default: the first"),
    ) -> dict[str, Any]:
        """Classify one image: a multipart `file` part, or the image itself as the body."""
        k = top_k or self.config.default_top_k
        if k > self.config.max_top_k:
            raise ApiError(400, "bad_request", f"top_k must be at most {self.config.max_top_k}; got {k}")
        data = await image_bytes(request, self.config.max_body_bytes)
        image = await asyncio.to_thread(self.prepare, data, "upload", model)
        prediction = await self.predict(image, k, model)
        return prediction.to_dict()

    async def models(self) -> dict[str, Any]:
        """Every served model, the default first: name, version, labels, input size, weights source and its
        evaluation metrics."""
        return {"models": await self.served_models(self.classifier.describe_all)}

    async def summaries(self) -> list[dict[str, Any]]:
        """Every served model's name, version, kind, labels and input size (no metrics), the default first."""
        return await self.served_models(self.classifier.summaries)

    async def served_models(self, method: DeploymentHandle) -> list[dict[str, Any]]:
        """What a Classifier method says of each served model; 503 when Ray cannot ask or no model is loaded."""
        try:
            described = await method.remote()
        except CLASSIFIER_FAILURES as exc:
            raise classifier_failure(exc, self.config.retry_after_s) from exc
        if not described:
            raise classifier_failure(ModelNotLoadedError(), self.config.retry_after_s)
        return described

    async def healthz(self) -> dict[str, str]:
        """Liveness: the HTTP server answers."""
        return {"status": "ok"}

    async def readyz(self) -> dict[str, Any]:
        """Readiness: a Classifier replica has a model loaded."""
        try:
            described = await self.classifier.describe.remote()
        except BackPressureError as exc:
            if self.last_model:  # a full queue of a replica that answers is busy, not unready
                return {"status": "ready", "model": self.last_model}
            raise not_ready(classifier_failure(exc, self.config.retry_after_s)) from exc
        except RayActorError as exc:
            raise not_ready(classifier_failure(exc, self.config.retry_after_s)) from exc
        if described is None:
            raise not_ready(classifier_failure(ModelNotLoadedError(), self.config.retry_after_s))
        return {"status": "ready", "model": f"{described['name']}:{described['version']}"}


def not_ready(failure: ApiError) -> ApiError:
    """A readiness probe's answer: the failure's message and Retry-After, under the code `not_ready`."""
    return ApiError(503, "not_ready", failure.message, failure.headers)
