"""HTTP errors of the API: JSON `{"error": {"code", "message"}}` with the status that fits the cause."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi.responses import JSONResponse

from imgclf.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageDecodeError,
    ImageTooLargeError,
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
