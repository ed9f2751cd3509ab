"""Property tests of image_bytes(request, max_bytes) on real Starlette requests built from ASGI scopes: whatever
the headers and body, the answer is the image's bytes or an ServiceError with status 400, 413 or 415, never another
exception; a body over the limit is refused having read at most the limit plus the chunk that crossed it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from imgclf.serving.errors import ServiceError
from imgclf.serving.uploads import image_bytes

PROPERTY = settings(max_examples=150, deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ACCEPTED_TYPES = ["image/png", "image/jpeg", "IMAGE/WEBP; q=1", "application/octet-stream", "", "image/x-anything"]
REFUSED_TYPES = ["text/plain", "application/json", "application/x-www-form-urlencoded", "multipart/mixed",
                 "video/mp4", "imagex/png", "application/octet-streamx"]
CLIENT_STATUSES = {400, 413, 415}
LATIN1 = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")


@dataclass
class Wire:
    """The ASGI receive side of one request: its body in chunks, counting the bytes handed to the app."""

    chunks: list[bytes]
    disconnect: bool = False  # the client goes away after the last chunk instead of ending the body
    sent: int = 0
    received: list[int] = field(default_factory=list)  # size of each chunk handed over, in order

    async def receive(self) -> dict:
        index = len(self.received)
        if index < len(self.chunks):
            chunk = self.chunks[index]
            self.received.append(len(chunk))
            self.sent += len(chunk)
            more = index + 1 < len(self.chunks) or self.disconnect
            return {"type": "http.request", "body": chunk, "more_body": more}
        self.received.append(0)
        return {"type": "http.disconnect"}


def request(headers: dict[str, str], wire: Wire, *, in_app: bool = False) -> Request:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/v1/classify", "raw_path": b"/v1/classify", "query_string": b"", "root_path": "",
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()],
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
    }
    if in_app:  # inside an app Starlette turns multipart errors into HTTPException instead of MultiPartException
        scope["app"] = object()
    return Request(scope, wire.receive)


def answer(headers: dict[str, str], wire: Wire, max_bytes: int, *, in_app: bool = False) -> bytes | ServiceError:
    """image_bytes' answer: bytes or an ServiceError with a client status; any other exception fails the test."""
    try:
        result = asyncio.run(image_bytes(request(headers, wire, in_app=in_app), max_bytes))
    except ServiceError as exc:
        assert exc.status in CLIENT_STATUSES, exc
        assert exc.code and exc.message
        return exc
    assert isinstance(result, bytes), type(result)
    return result


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(body) + 1) for cut in cuts} | {0, len(body)})
    return [body[start:end] for start, end in zip(points, points[1:])] or [b""]


def assert_stopped_at_the_limit(wire: Wire, max_bytes: int) -> None:
    """Reading stopped with the first chunk that took the body past the limit: at most limit + one chunk."""
    assert wire.sent - (wire.received[-1] if wire.received else 0) <= max_bytes, (wire.sent, wire.received, max_bytes)


# ------------------------------------------------------------------------------------------------ raw bodies


content_types = st.one_of(st.sampled_from(ACCEPTED_TYPES + REFUSED_TYPES), st.text(LATIN1, max_size=40))
content_lengths = st.one_of(st.none(), st.integers(0, 10_000).map(str), st.text(LATIN1, max_size=8))


@PROPERTY
@given(content_types, content_lengths, st.binary(max_size=3000), st.lists(st.integers(0, 3000), max_size=6),
       st.integers(1, 2000), st.booleans())
def test_any_raw_request(content_type: str, content_length: str | None, body: bytes, cuts: list[int],
                         max_bytes: int, disconnect: bool) -> None:
    headers = {"content-type": content_type}
    if content_length is not None:
        headers["content-length"] = content_length
    wire = Wire(split(body, cuts), disconnect=disconnect)
    result = answer(headers, wire, max_bytes)
    kind = content_type.split(";", 1)[0].strip().lower()
    refused = not (kind in ("multipart/form-data", "application/octet-stream", "") or kind.startswith("image/"))
    declared = int(content_length) if content_length and content_length.isascii() and content_length.isdigit() else None
    if refused:
        assert isinstance(result, ServiceError) and result.status == 415 and wire.sent == 0
    elif declared is not None and declared > max_bytes:
        assert isinstance(result, ServiceError) and result.status == 413 and wire.sent == 0
    elif len(body) > max_bytes:
        assert isinstance(result, ServiceError) and result.status == 413
        assert_stopped_at_the_limit(wire, max_bytes)
    elif disconnect:
        assert isinstance(result, ServiceError) and result.status == 400
    elif kind != "multipart/form-data":
        assert result == body


@PROPERTY
@given(st.sampled_from(["image/png", "application/octet-stream", ""]), st.integers(1, 4096),
       st.lists(st.integers(1, 1500), min_size=1, max_size=40), st.booleans())
def test_a_chunked_body_over_the_limit_is_refused_at_the_chunk_that_crosses_it(
        content_type: str, max_bytes: int, sizes: list[int], declare: bool) -> None:
    body_size = sum(sizes)
    chunks = [bytes([index % 256]) * size for index, size in enumerate(sizes)]
    headers = {"content-type": content_type} | ({"content-length": str(body_size)} if declare else {})
    wire = Wire(chunks)
    result = answer(headers, wire, max_bytes)
    if body_size <= max_bytes:
        assert result == b"".join(chunks)
        return
    assert isinstance(result, ServiceError) and (result.status, result.code) == (413, "body_too_large")
    if declare:
        assert wire.sent == 0, "a declared length over the limit is refused before reading"
    else:
        assert sum(wire.received[:-1]) <= max_bytes < wire.sent, "refused exactly at the chunk that crossed the limit"


@PROPERTY
@given(st.one_of(st.text(LATIN1, max_size=12), st.from_regex(r"\A[ +-]?[0-9\xb2\xb3\xb9]{1,6} ?\Z")))
@example("\xb2")  # '²'.isdigit() is True but int('²') raises: a 500 before the fix
@example("-1")
@example(" 12")
def test_any_content_length_header(content_length: str) -> None:
    """Whatever the Content-Length says, the limit is enforced on the bytes that come, without a crash."""
    wire = Wire([b"x" * 60, b"y" * 60])
    result = answer({"content-type": "image/png", "content-length": content_length}, wire, 100)
    assert isinstance(result, ServiceError) and result.status == 413
    assert_stopped_at_the_limit(wire, 100)


@PROPERTY
@given(st.integers(1, 1000), st.integers(1, 10**12))
def test_a_declared_length_over_the_limit_is_refused_before_reading(max_bytes: int, excess: int) -> None:
    wire = Wire([b"x" * 10] * 1000)
    result = answer({"content-type": "image/png", "content-length": str(max_bytes + excess)}, wire, max_bytes)
    assert isinstance(result, ServiceError) and result.status == 413 and wire.sent == 0


@PROPERTY
@given(st.integers(0, 100), st.sampled_from(["image/png", "multipart/form-data; boundary=b"]))
def test_a_client_that_disconnects_mid_body_gets_a_400(sent: int, content_type: str) -> None:
    wire = Wire([b"x" * sent] if sent else [], disconnect=True)
    result = answer({"content-type": content_type}, wire, 1000)
    assert isinstance(result, ServiceError) and result.status == 400


# --------------------------------------------------------------------------------------------- multipart forms


@dataclass(frozen=True)
class Part:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None


def multipart(parts: list[Part], boundary: str, *, close: bool = True) -> bytes:
    out = bytearray()
    for part in parts:
        disposition = f'form-data; name="{part.name}"' + (f'; filename="{part.filename}"' if part.filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode("latin-1")
        if part.content_type:
            out += f"Content-Type: {part.content_type}\r\n".encode("latin-1")
        out += b"\r\n" + part.data + b"\r\n"
    if close:
        out += f"--{boundary}--\r\n".encode("latin-1")
    return bytes(out)


boundaries = st.text(st.characters(codec="ascii", categories=["L", "N"], include_characters="-_'()+,./:=?"),
                     min_size=1, max_size=70)
names = st.text(st.characters(codec="ascii", categories=["L", "N"], include_characters="_-"), min_size=1,
                max_size=12)
filenames = st.one_of(st.none(), st.text(st.characters(codec="ascii", categories=["L", "N"], include_characters="._-"),
                                         min_size=1, max_size=20))
other_parts = st.builds(Part, names.filter(lambda name: name != "file"), st.binary(max_size=200), filenames,
                        st.sampled_from([None, "image/png", "text/plain"]))


@PROPERTY
@given(st.binary(max_size=2000), filenames.filter(bool), st.lists(other_parts, max_size=3), boundaries,
       st.integers(0, 2), st.booleans(), st.integers(1, 4000), st.lists(st.integers(0, 4000), max_size=5))
def test_a_well_formed_form_with_a_file_part(data: bytes, filename: str, others: list[Part], boundary: str,
                                             position: int, in_app: bool, max_bytes: int, cuts: list[int]) -> None:
    assume(f"--{boundary}".encode() not in data)
    parts = others[:position] + [Part("file", data, filename, "image/png")] + others[position:]
    body = multipart(parts, boundary)
    headers = {"content-type": f'multipart/form-data; boundary="{boundary}"', "content-length": str(len(body))}
    wire = Wire(split(body, cuts))
    result = answer(headers, wire, max_bytes, in_app=in_app)
    if len(body) > max_bytes:
        assert isinstance(result, ServiceError) and result.status == 413 and wire.sent == 0
    else:
        assert result == data


@PROPERTY
@given(st.lists(other_parts, max_size=4), boundaries, st.booleans())
def test_a_form_without_a_file_part_is_a_400(others: list[Part], boundary: str, in_app: bool) -> None:
    body = multipart(others, boundary)
    result = answer({"content-type": f'multipart/form-data; boundary="{boundary}"'}, Wire([body]), 10_000,
                    in_app=in_app)
    assert isinstance(result, ServiceError) and result.status == 400, result


@st.composite
def malformed_forms(draw: st.DrawFn) -> tuple[str, bytes]:
    """A form with a file part, damaged: boundary missing, wrong, quoted oddly, truncated body, bytes flipped..."""
    boundary = draw(boundaries)
    body = multipart([Part("file", draw(st.binary(max_size=300)), "a.png", "image/png")], boundary,
                     close=draw(st.booleans()))
    header = f"multipart/form-data; boundary={boundary}"
    damage = draw(st.sampled_from(["no boundary", "other boundary", "empty boundary", "unquoted garbage",
                                   "truncated", "flipped", "no headers", "random body", "ok"]))
    if damage == "no boundary":
        header = "multipart/form-data"
    elif damage == "other boundary":
        header = f"multipart/form-data; boundary={draw(boundaries)}"
    elif damage == "empty boundary":
        header = 'multipart/form-data; boundary=""'
    elif damage == "unquoted garbage":
        header = f"multipart/form-data; boundary={draw(st.text(LATIN1, max_size=30))}"
    elif damage == "truncated":
        body = body[: draw(st.integers(0, len(body)))]
    elif damage == "flipped":
        body = bytearray(body)
        for _ in range(draw(st.integers(1, 6))):
            body[draw(st.integers(0, len(body) - 1))] = draw(st.integers(0, 255))
        body = bytes(body)
    elif damage == "no headers":
        body = f"--{boundary}\r\n\r\n".encode() + body
    elif damage == "random body":
        body = draw(st.binary(max_size=500))
    return header, body


@PROPERTY
@given(malformed_forms(), st.booleans(), st.lists(st.integers(0, 1000), max_size=4))
def test_a_malformed_form_is_a_client_error(form: tuple[str, bytes], in_app: bool, cuts: list[int]) -> None:
    header, body = form
    result = answer({"content-type": header}, Wire(split(body, cuts)), 100_000, in_app=in_app)
    assert isinstance(result, bytes) or result.status == 400, result


@PROPERTY
@given(boundaries, st.integers(1, 3000), st.lists(st.integers(1, 700), min_size=1, max_size=20))
def test_an_oversized_chunked_form_is_refused_at_the_chunk_that_crosses_it(boundary: str, max_bytes: int,
                                                                           sizes: list[int]) -> None:
    body = multipart([Part("file", b"\0" * sum(sizes), "big.png", "image/png")], boundary)
    assume(len(body) > max_bytes)
    wire = Wire(split(body, [sum(sizes[: index + 1]) for index in range(len(sizes))]))
    result = answer({"content-type": f'multipart/form-data; boundary="{boundary}"'}, wire, max_bytes)
    assert isinstance(result, ServiceError) and result.status == 413
    assert_stopped_at_the_limit(wire, max_bytes)
