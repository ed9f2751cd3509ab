"""The HTTP app of one ingress replica: `/v1`, the inference protocol's `/v2` and the Gradio page at /ui, all over
one classify service; one handler table renders every error, one guard checks the token and records metrics.

Errors are `{"error": {"code", "message"}}` under `/v1` and the probes, `{"error": message}` under `/v2`; bad input
gets a 4xx, overload a 503 with Retry-After, never a 500. With $IMGCLF_API_TOKEN set every route but the probes
wants `Authorization: Bearer <token>`; with $IMGCLF_UI_PASSWORD set the page asks for user `imgclf` and that
password instead.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imgclf import __version__
from imgclf.serving import inference_protocol, v1
from imgclf.serving.answered_by import answering_version
from imgclf.serving.errors import BadRequest, ServiceError, Unauthorized
from imgclf.serving.metrics import api_metrics
from imgclf.serving.service import ClassifyService
from imgclf.serving.settings import ApiConfig

LOG = logging.getLogger("imgclf.serving")
UI_USER = "imgclf"
UI_PATH = "/ui"
PROBES = (*v1.PROBES, *inference_protocol.PROBES)  # answer without the token
OTHER_ROUTE = "other"  # the metrics label of a path no route matches


def build_http_app(service: ClassifyService, examples_dir: str | None = None) -> FastAPI:
    """The FastAPI app of one replica, the page mounted at /ui (Serve builds it once, after __init__)."""
    import gradio as gr

    from gradio_app import build_page
    from imgclf.serving.page import PageBackend, example_images

    api = build_api(service)
    backend = PageBackend(service)
    page = build_page(backend.classify, backend.describe, explain=backend.explain, compare=backend.compare,
                      models=backend.model_names, correct=backend.correct, offer_corrections=backend.corrections_on,
                      examples=example_images(examples_dir), top_k=service.config.default_top_k)
    password = service.config.ui_password
    return gr.mount_gradio_app(api, page, path=UI_PATH, auth=[(UI_USER, password)] if password else None)


def build_api(service: ClassifyService) -> FastAPI:
    """The routes of both protocols over `service`, the error table and the guard (no page)."""
    api = FastAPI(
        title="imgclf", version=__version__,
        description="Image classification: POST an image, get the top-k labels of the served model.",
        responses={401: v1.ERROR_RESPONSES[401]},
    )
    for kind, handler in ERROR_HANDLERS.items():
        api.add_exception_handler(kind, handler)
    v1.add_v1_routes(api, service)
    inference_protocol.add_protocol_routes(api, service)
    api.add_middleware(Guard, routes=api.router.routes, config=lambda: service.config)
    return api


# --- errors: one table, each rendered in the form of the protocol its path belongs to ---------------------------


def render(path: str, error: ServiceError) -> JSONResponse:
    """The inference protocol's `{"error": message}` under /v2, else `/v1`'s `{"error": {"code", "message"}}`."""
    if is_protocol_path(path):
        return inference_protocol.protocol_error(error)
    body = {"error": {"code": error.code, "message": error.message}}
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def is_protocol_path(path: str) -> bool:
    return path == inference_protocol.PREFIX or path.startswith(f"{inference_protocol.PREFIX}/")


async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
    return render(request.url.path, exc)


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return render(request.url.path, BadRequest(problems))


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    LOG.exception("unexpected failure answering %s %s", request.method, request.url.path)
    return render(request.url.path, ServiceError(f"unexpected server error ({type(exc).__name__})"))


ERROR_HANDLERS: dict[type[Exception], Callable[[Request, Any], Any]] = {
    ServiceError: service_error,
    RequestValidationError: invalid_request,
    Exception: unexpected,
}


# --- the guard: token check and metrics, labelled by the matched route's template -------------------------------


def route_label(routes: list[BaseRoute], scope: Scope) -> str:
    """The template of the route that answers (`/v2/models/{name}/infer`; a route matched by path but not method
    answers 405), the page's mount path, or `other`: a bounded label whatever the path."""
    by_path = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return getattr(route, "path", OTHER_ROUTE)
        if match is Match.PARTIAL and by_path is None:
            by_path = route
    return getattr(by_path, "path", OTHER_ROUTE)


def refusal_for(path: str, authorization: str, config: ApiConfig) -> ServiceError | None:
    """401 for a request that needs the bearer token and lacks it; the page has its own password instead."""
    on_page = path == UI_PATH or path.startswith(f"{UI_PATH}/")
    if not config.api_token or path in PROBES or (on_page and config.ui_password):
        return None
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), config.api_token.encode()):
        return None
    return Unauthorized("this API wants `Authorization: Bearer <token>`", headers={"WWW-Authenticate": "Bearer"})


class Guard:
    """Pure ASGI middleware (no per-request task or body copy): refuse requests without the configured token
    (401), and record every answer's latency and status under its route's template."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute], config: Callable[[], ApiConfig]) -> None:
        self.app = app
        self.routes = routes
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, route, status, answered_by = time.perf_counter(), route_label(self.routes, scope), 500, {}

        async def send_and_note(message: Message) -> None:
            nonlocal status, answered_by
            if message["type"] == "http.response.start":
                status, answered_by = message["status"], answering_version(message.get("headers", ()))
            await send(message)

        try:
            authorization = next((value.decode("latin-1") for key, value in scope["headers"]
                                  if key == b"authorization"), "")
            refusal = refusal_for(scope["path"], authorization, self.config())
            if refusal:
                await render(scope["path"], refusal)(scope, receive, send_and_note)
            else:
                await self.app(scope, receive, send_and_note)
        finally:  # an unexpected exception is answered 500 outside this middleware: counted as one here
            api_metrics().record(route, status, time.perf_counter() - started, **answered_by)
