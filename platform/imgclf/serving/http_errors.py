"""HTTP errors of the API: JSON `{"error": {"code", "message"}}` with the status that fits the cause."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi.responses import JSONResponse
from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError

from imgclf.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageDecodeError,
    ImageTooLargeError,
    ModelNotLoadedError,
    UnsupportedImageError,
)

# The most specific class first: status and error code of each decode failure.
DECODE_STATUSES: tuple[tuple[type[ImageDecodeError], int, str], ...] = (
    (EmptyImageError, 400, "empty_image"),
    (UnsupportedImageError, 415, "unsupported_image"),
    (CorruptImageError, 400, "corrupt_image"),
    (ImageTooLargeError, 400, "image_too_large"),
    (ImageDecodeError, 400, "unreadable_image"),
)
# Why Ray could not get an answer from the Classifier: all 503 with Retry-After, the client may try again.
RAY_FAILURES: tuple[tuple[type[Exception], str, str], ...] = (
    (BackPressureError, "overloaded", "the model is at capacity; retry shortly"),
    (RayActorError, "replica_unavailable", "a model replica went away; retry shortly"),
    (ModelNotLoadedError, "model_not_loaded", "no model is loaded yet"),
)
CLASSIFIER_FAILURES = tuple(kind for kind, _, _ in RAY_FAILURES)


@dataclass
class ApiError(Exception):
    """An error answer: HTTP status, a stable machine-readable code, a human message, extra headers."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> JSONResponse:
        body = {"error": {"code": self.code, "message": self.message}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def decode_failure(exc: ImageDecodeError) -> ApiError:
    """The API error for an image that could not be decoded (the message names the cause, not server paths)."""
    status, code = next((s, c) for kind, s, c in DECODE_STATUSES if isinstance(exc, kind))
    return ApiError(status, code, exc.cause)


def classifier_failure(exc: Exception, retry_after_s: int) -> ApiError:
    """The API error (503, Retry-After) for a Classifier call that Ray could not complete."""
    code, message = next((c, m) for kind, c, m in RAY_FAILURES if isinstance(exc, kind))
    return ApiError(503, code, message, {"Retry-After": str(retry_after_s)})
