"""Image factories for tests: small in-memory Pillow images and their encoded bytes."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

# File extension -> Pillow format name, for every extension the scanner accepts.
FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "bmp": "BMP", "gif": "GIF", "webp": "WEBP"}

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


def pillow_format(fmt: str) -> str:
    """'jpg' / 'JPEG' / 'png' ... -> the Pillow format name."""
    return FORMATS.get(fmt.lower(), fmt.upper())


def encode(image: Image.Image, fmt: str, **save_kwargs: Any) -> bytes:
    """Encode a Pillow image to bytes in `fmt`."""
    buffer = io.BytesIO()
    image.save(buffer, pillow_format(fmt), **save_kwargs)
    return buffer.getvalue()


def make_image(mode: str = "RGB", size: tuple[int, int] = (8, 6), color: Any = RED) -> Image.Image:
    """A solid image of `size` = (width, height)."""
    return Image.new(mode, size, color)


def make_image_bytes(
    fmt: str = "png",
    mode: str = "RGB",
    size: tuple[int, int] = (8, 6),
    color: Any = RED,
    **save_kwargs: Any,
) -> bytes:
    """A solid image of `size` and `color`, encoded as `fmt` with Pillow's save options."""
    return encode(make_image(mode, size, color), fmt, **save_kwargs)


def two_colour_rgb(size: tuple[int, int] = (8, 6), left: tuple = RED, right: tuple = BLUE) -> np.ndarray:
    """An (H, W, 3) uint8 array: left half `left`, right half `right`."""
    width, height = size
    array = np.empty((height, width, 3), np.uint8)
    array[:, : width // 2] = left
    array[:, width // 2 :] = right
    return array


def corner_block_rgb(size: tuple[int, int] = (64, 32), block: int = 16, color: tuple = RED) -> np.ndarray:
    """A white (H, W, 3) array with a `block`-sized square of `color` in the top-left corner."""
    width, height = size
    array = np.full((height, width, 3), 255, np.uint8)
    array[:block, :block] = color
    return array


def exif_with_orientation(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation tag
    return exif


def make_animated_gif(colors: Sequence[tuple], size: tuple[int, int] = (8, 6)) -> bytes:
    """A GIF with one solid frame per colour."""
    frames = [Image.new("RGB", size, color) for color in colors]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)


def with_declared_png_size(png: bytes, width: int, height: int) -> bytes:
    """Rewrite a PNG's IHDR so it declares width×height (pixel data unchanged, CRC fixed)."""
    if png[12:16] != b"IHDR":
        raise ValueError("not a PNG with IHDR first")
    ihdr = b"IHDR" + struct.pack(">II", width, height) + png[24:29]
    return png[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + png[33:]


def truncated(data: bytes, fraction: float = 0.5) -> bytes:
    """The first `fraction` of `data`."""
    return data[: int(len(data) * fraction)]


def write_image(path: Path, fmt: str | None = None, **kwargs: Any) -> Path:
    """Write a solid test image to `path` (format from the suffix unless given); return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(make_image_bytes(fmt or path.suffix.lstrip("."), **kwargs))
    return path
