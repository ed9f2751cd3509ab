"""The image bytes of a classify request: a multipart `file` field or a raw image body, size-limited while read."""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request

from imgclf.serving.errors import BadRequest, TooLarge, UnsupportedMedia

RAW_TYPES = ("application/octet-stream", "")  # plus every image/* type
MULTIPART = "multipart/form-data"


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_limited_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it (or its declared length) passes `max_bytes`."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:  # not '²': isdigit, yet no int
        raise too_large(int(declared), max_bytes)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                raise too_large(len(body), max_bytes)
    except ClientDisconnect as exc:  # a 400 for the access log and metrics, not a 500: the client gave up
        raise BadRequest(f"the client disconnected after {len(body)} bytes of the body", code="incomplete_body") from exc
    return bytes(body)


def too_large(size: int, max_bytes: int) -> TooLarge:
    return TooLarge(f"request body of {size}+ bytes exceeds the limit of {max_bytes} bytes")


async def image_bytes(request: Request, max_bytes: int) -> bytes:
    """The uploaded image's bytes; 415 for other content types, 400 for a form without a `file` part."""
    kind = media_type(request)
    if kind != MULTIPART and kind not in RAW_TYPES and not kind.startswith("image/"):
        raise UnsupportedMedia(
            f"content type {kind!r} is not accepted: send multipart/form-data with a `file` part, or the image "
            "itself as image/* or application/octet-stream",
        )
    body = await read_limited_body(request, max_bytes)
    if kind != MULTIPART:
        return body
    request._body = body  # starlette parses the form from the body already read
    try:
        form = await request.form()
    except Exception as exc:  # noqa: BLE001 - any parser failure is the client's malformed form
        raise BadRequest(f"cannot parse the multipart form: {exc}", code="malformed_form") from exc
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise BadRequest("the multipart form has no `file` part holding an image", code="missing_file")
    return await upload.read()
