"""The one decode function: bytes in, RGB uint8 array out, or a typed error naming the cause."""

from __future__ import annotations

import io
import struct
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import IcoImagePlugin, Image, ImageOps, UnidentifiedImageError

from imgclf.config import DecodeLimits
from imgclf.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageDecodeError,
    ImageTooLargeError,
    UnsupportedImageError,
)
from imgclf.storage import check_size, read_local

SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N"}
WIDE_MODES = SIXTEEN_BIT_MODES | {"I", "F"}
WHITE = (255, 255, 255)
ICON_MAGIC = b"\x00\x00\x01\x00"  # how Pillow tells a Windows icon


def decode_image(data: bytes, *, source: str = "<bytes>", limits: DecodeLimits = DecodeLimits()) -> np.ndarray:
    """Decode image bytes into an (H, W, 3) uint8 RGB array with EXIF orientation applied.

    Raises an ImageDecodeError subclass naming `source` and the cause for anything unreadable.
    """
    if not data:
        raise EmptyImageError(source, "empty file (0 bytes)")
    check_size(source, len(data), limits.max_bytes)
    with translate_pillow_errors(source):
        if data.startswith(ICON_MAGIC):  # an icon decodes its largest frame while it opens: check that frame first
            check_pixels(source, icon_frame_size(data), limits)
        image = Image.open(io.BytesIO(data))
        check_pixels(source, image.size, limits)
        image.load()
        image = ImageOps.exif_transpose(image)
        return to_rgb_array(image)


def check_pixels(source: str, size: tuple[int, int], limits: DecodeLimits) -> None:
    """Refuse an image without pixels, or with more than the limit, from its header's size."""
    width, height = size
    if width < 1 or height < 1:
        raise CorruptImageError(source, f"image has no pixels ({width}x{height})")
    limit, whose = pixel_limit(limits)
    if width * height > limit:
        raise ImageTooLargeError(source, f"{width}x{height} = {width * height} pixels exceeds {whose} limit of {limit}")


def pixel_limit(limits: DecodeLimits) -> tuple[int, str]:
    """The lower of the configured limit and Pillow's own (`PIL.Image.MAX_IMAGE_PIXELS`, the process's setting,
    which imgclf leaves alone: beyond it Pillow warns, then refuses), and whose it is."""
    pillow_limit = Image.MAX_IMAGE_PIXELS
    if pillow_limit is not None and pillow_limit < limits.max_pixels:
        return pillow_limit, "Pillow's (PIL.Image.MAX_IMAGE_PIXELS)"
    return limits.max_pixels, "the"


def icon_frame_size(data: bytes) -> tuple[int, int]:
    """The size of the frame that opening an icon decodes (its first entry, the largest), read from that frame's
    own header: the icon's directory can claim another."""
    return IcoImagePlugin.IcoFile(io.BytesIO(data)).frame(0).size


def decode_file(path: str | Path, *, limits: DecodeLimits = DecodeLimits()) -> np.ndarray:
    """Read and decode one image file; unreadable files raise ImageDecodeError naming the path."""
    return read_and_decode(path, limits=limits)[1]


def read_and_decode(path: str | Path, *, limits: DecodeLimits = DecodeLimits()) -> tuple[bytes, np.ndarray]:
    """The file's bytes and their decoded image (for a caller that also needs the bytes, e.g. to hash them)."""
    data = read_local(path, str(path), max_bytes=limits.max_bytes)
    return data, decode_image(data, source=str(path), limits=limits)


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """Any Pillow mode (gray, 16-bit, palette, RGBA, CMYK...) to an RGB uint8 array."""
    if image.mode in WIDE_MODES:
        values = np.asarray(image, dtype=np.float64)
        wide = image.mode in SIXTEEN_BIT_MODES or values.max(initial=0) > 255
        peak = 65535.0 if wide else 255.0
        gray = np.clip(values / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, WHITE + (255,))
        image = Image.alpha_composite(background, rgba)
    return np.array(image.convert("RGB"), dtype=np.uint8)


@contextmanager
def translate_pillow_errors(source: str) -> Iterator[None]:
    """Turn what Pillow and numpy raise on bad input into our typed errors."""
    try:
        yield
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's limit, checked before ours can be (above twice its own)
        raise ImageTooLargeError(source, f"{exc} (Pillow's limit: twice PIL.Image.MAX_IMAGE_PIXELS)") from exc
    except UnidentifiedImageError as exc:
        raise UnsupportedImageError(source, "not an image, or an image format we cannot read") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, TypeError) as exc:
        raise CorruptImageError(source, f"damaged or truncated image: {exc}") from exc
    except MemoryError as exc:
        raise ImageTooLargeError(source, "not enough memory to decode the image") from exc

