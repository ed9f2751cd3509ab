"""The classify service's errors: each kind carries its HTTP status and a stable code; the faces render them
(`/v1`: `{"error": {"code", "message"}}`, the inference protocol: `{"error": message}`) with one handler table."""

from __future__ import annotations

from typing import ClassVar

from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError

from imgclf.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageDecodeError,
    ImageTooLargeError,
    ExplanationError,
    ModelNotLoadedError,
    UnknownClassError,
    UnsupportedImageError,
)


class ServiceError(Exception):
    """An answer other than a classification: its status, a stable machine-readable code, a message for people
    and extra headers."""

    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal"

    def __init__(self, message: str, *, code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.headers = headers or {}

    def with_message(self, message: str) -> ServiceError:
        """The same error (kind, code, headers) saying `message`."""
        return type(self)(message, code=self.code, headers=self.headers)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.code!r}, {self.message!r})"


class BadRequest(ServiceError):
    status, default_code = 400, "bad_request"


class Unauthorized(ServiceError):
    status, default_code = 401, "unauthorized"


class ModelNotFound(ServiceError):
    status, default_code = 404, "model_not_found"


class TooLarge(ServiceError):
    status, default_code = 413, "body_too_large"


class UnsupportedMedia(ServiceError):
    status, default_code = 415, "unsupported_media_type"


class TooManyRequests(ServiceError):
    """More requests of one kind than allowed in a short time: the client may try again later."""

    status, default_code = 429, "too_many_requests"


class Unavailable(ServiceError):
    """Overloaded, a replica gone or no model loaded yet: the client may try again after Retry-After."""

    status, default_code = 503, "unavailable"


# The most specific class first: the service error of each decode failure.
DECODE_FAILURES: tuple[tuple[type[ImageDecodeError], type[ServiceError], str], ...] = (
    (EmptyImageError, BadRequest, "empty_image"),
    (UnsupportedImageError, UnsupportedMedia, "unsupported_image"),
    (CorruptImageError, BadRequest, "corrupt_image"),
    (ImageTooLargeError, BadRequest, "image_too_large"),
    (ImageDecodeError, BadRequest, "unreadable_image"),
)
# Why the Classifier could not answer: all 503 with Retry-After.
CLASSIFIER_FAILURES: tuple[tuple[type[Exception], str, str], ...] = (
    (BackPressureError, "overloaded", "the model is at capacity; retry shortly"),
    (RayActorError, "replica_unavailable", "a model replica went away; retry shortly"),
    (ModelNotLoadedError, "model_not_loaded", "no model is loaded yet"),
)
UNAVAILABLE_CAUSES = tuple(kind for kind, _, _ in CLASSIFIER_FAILURES)


def explanation_failure(exc: ExplanationError) -> BadRequest:
    """The 400 for an explanation that cannot be given: an unknown class name (the message names the model's classes)
    or none to give (its kind explains nothing, or explanations are off)."""
    return BadRequest(str(getattr(exc, "cause", None) or exc),
                      code="unknown_class" if isinstance(exc, UnknownClassError) else "no_explanation")


def decode_failure(exc: ImageDecodeError) -> ServiceError:
    """The error for an image that could not be decoded (the message names the cause, not server paths)."""
    kind, code = next((kind, code) for cause, kind, code in DECODE_FAILURES if isinstance(exc, cause))
    return kind(exc.cause, code=code)


def unavailable(exc: Exception, retry_after_s: int) -> Unavailable:
    """The 503 (with Retry-After) for a Classifier call that could not complete."""
    code, message = next((code, message) for cause, code, message in CLASSIFIER_FAILURES if isinstance(exc, cause))
    return Unavailable(message, code=code, headers={"Retry-After": str(retry_after_s)})
