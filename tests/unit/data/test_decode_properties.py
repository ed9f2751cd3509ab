"""Property tests of decode_image: whatever the bytes, the answer is an (H, W, 3) uint8 array or an
ImageDecodeError subclass naming the source, never another exception, and a declared pixel bomb is refused
from its header, quickly and without allocating the pixels."""

from __future__ import annotations

import io
import resource
import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from imgclf.config import DecodeLimits
from imgclf.data.decode import decode_image
from imgclf.errors import CorruptImageError, ImageDecodeError, ImageTooLargeError, UnsupportedImageError
from utils.images import (
    BLUE,
    GREEN,
    RED,
    encode,
    exif_with_orientation,
    make_animated_gif,
    make_image,
    with_declared_png_size,
)
from utils.prerequisites import require_folder

DATASETS = Path(__file__).resolve().parents[3].parent / "shared" / "datasets"
PHOTOS = DATASETS / "hymenoptera"
SOURCE = "fuzz-input"
# Fuzzed headers may declare any size up to the limit; a small limit keeps each example's allocation small.
FUZZ_LIMITS = DecodeLimits(max_pixels=1_000_000)
FUZZ = settings(max_examples=150, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BOMB_SIDE = 50_000  # 50,000 × 50,000 = 2.5 gigapixels: 7.5 GB as RGB
DECIDE_CPU_S = 2.0  # per fuzzed header: a decode within the limit takes milliseconds


def gradient(mode: str = "RGB", size: tuple[int, int] = (24, 16)) -> Image.Image:
    """A small image whose pixels differ, so encoders produce real entropy-coded data to damage."""
    width, height = size
    ramp = np.add.outer(np.arange(height) * 9, np.arange(width) * 5).astype(np.uint8)
    rgb = Image.fromarray(np.stack([ramp, 255 - ramp, ramp // 2], axis=2), "RGB")
    return rgb.convert(mode) if mode != "RGB" else rgb


def palette_with_transparency() -> bytes:
    image = gradient().convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return encode(image, "png", transparency=0)


def sixteen_bit_png() -> bytes:
    values = np.add.outer(np.arange(16) * 2000, np.arange(24) * 700).astype(np.uint16)
    return encode(Image.fromarray(values, "I;16"), "png")


# Real encodings of every kind the decoder handles specially: the seeds that get truncated and mutated.
SEEDS: dict[str, bytes] = {
    "png-rgb": encode(gradient(), "png"),
    "png-rgba": encode(gradient("RGBA"), "png"),
    "png-gray": encode(gradient("L"), "png"),
    "png-16bit": sixteen_bit_png(),
    "png-palette-transparency": palette_with_transparency(),
    "png-la": encode(gradient("LA"), "png"),
    "png-1bit": encode(gradient("1"), "png"),
    "jpeg-rgb": encode(gradient(), "jpeg", quality=90),
    "jpeg-progressive": encode(gradient(), "jpeg", progressive=True),
    "jpeg-cmyk": encode(gradient("CMYK"), "jpeg"),
    "jpeg-gray": encode(gradient("L"), "jpeg"),
    "jpeg-exif-rotated": encode(gradient(), "jpeg", exif=exif_with_orientation(6)),
    "gif-animated": make_animated_gif([RED, GREEN, BLUE], size=(12, 10)),
    "gif": encode(gradient(), "gif"),
    "bmp": encode(gradient(), "bmp"),
    "webp": encode(gradient(), "webp", quality=80),
    "webp-lossless-alpha": encode(gradient("RGBA"), "webp", lossless=True),
    "tiff-16bit": encode(Image.open(io.BytesIO(sixteen_bit_png())), "tiff"),
    "tiff-float": encode(gradient("L").convert("F"), "tiff"),
    "ico": encode(gradient(size=(16, 16)), "ico"),
}
# Magic numbers of formats Pillow identifies, to push random bytes past identification into the parsers.
MAGICS = [
    b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"GIF87a", b"BM", b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"II*\x00", b"MM\x00*", b"\x00\x00\x01\x00", b"P6\n", b"8BPS", b"\x00\x00\x00\x0cjP  \r\n\x87\n",
]


def outcome(data: bytes, limits: DecodeLimits = FUZZ_LIMITS) -> np.ndarray | ImageDecodeError:
    """decode_image's answer, checked: an RGB array within the limit, or a typed error naming source and cause.

    Any other exception propagates and fails the property.
    """
    try:
        array = decode_image(data, source=SOURCE, limits=limits)
    except ImageDecodeError as exc:
        assert exc.source == SOURCE and exc.cause, exc
        assert str(exc).startswith(f"{SOURCE}: ")
        return exc
    assert isinstance(array, np.ndarray), type(array)
    assert array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3, (array.dtype, array.shape)
    assert array.shape[0] >= 1 and array.shape[1] >= 1
    assert array.shape[0] * array.shape[1] <= limits.max_pixels
    return array


def sof_offset(jpeg: bytes) -> int:
    """Offset of the first SOF0/SOF2 marker of a JPEG Pillow wrote."""
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        if (index := jpeg.find(marker)) >= 0:
            return index
    raise ValueError("no SOF0/SOF2 marker")


def with_declared_jpeg_size(jpeg: bytes, width: int, height: int) -> bytes:
    """Rewrite a JPEG's start-of-frame so it declares width×height (0..65535 each); the scan data is unchanged."""
    index = sof_offset(jpeg)  # FF C0, length (2), precision (1), height (2), width (2), ...
    return jpeg[: index + 5] + struct.pack(">HH", height, width) + jpeg[index + 9 :]


def test_every_seed_decodes_to_rgb() -> None:
    for name, data in SEEDS.items():
        assert isinstance(outcome(data), np.ndarray), name


# ---------------------------------------------------------------------------------------------- random bytes


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    outcome(data)


@FUZZ
@given(st.sampled_from(MAGICS), st.binary(max_size=2048))
def test_random_bytes_behind_a_format_magic(magic: bytes, tail: bytes) -> None:
    outcome(magic + tail)


# ------------------------------------------------------------------------------------ damaged real encodings


@FUZZ
@given(st.sampled_from(sorted(SEEDS)), st.floats(0.0, 1.0, exclude_max=True))
def test_truncated_encodings(name: str, fraction: float) -> None:
    data = SEEDS[name]
    result = outcome(data[: int(len(data) * fraction)])
    if fraction == 0.0:
        assert type(result).__name__ == "EmptyImageError"


@st.composite
def mutations(draw: st.DrawFn, seeds: dict[str, bytes]) -> bytes:
    """A seed with a few bytes overwritten, inserted or deleted, biased to the header where parsers branch."""
    data = bytearray(seeds[draw(st.sampled_from(sorted(seeds)))])
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        limit = len(data) - 1 if draw(st.booleans()) else min(len(data) - 1, 64)
        at = draw(st.integers(0, limit))
        action = draw(st.sampled_from(["set", "set", "insert", "delete"]))
        if action == "set":
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


@FUZZ
@given(mutations(SEEDS))
def test_byte_mutated_encodings(data: bytes) -> None:
    outcome(data)


@FUZZ
@given(st.sampled_from(sorted(SEEDS)), st.integers(0, 4096), st.binary(max_size=256))
def test_spliced_encodings(name: str, cut: int, tail: bytes) -> None:
    """A real header followed by garbage: what a half-overwritten upload looks like."""
    outcome(SEEDS[name][:cut] + tail)


@pytest.fixture(scope="module")
def photo() -> bytes:
    photos = sorted(require_folder(PHOTOS, "the shared hymenoptera photos").rglob("*.jpg"))
    assert photos, f"no .jpg below {PHOTOS}"
    return photos[0].read_bytes()


@settings(max_examples=60, deadline=None, database=None, print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_real_photo(photo: bytes, data: st.DataObject) -> None:
    """A real camera JPEG from ../shared/datasets/hymenoptera: truncated anywhere, or with bytes overwritten."""
    assert isinstance(outcome(photo, DecodeLimits()), np.ndarray)
    if data.draw(st.booleans(), label="truncate"):
        damaged = photo[: data.draw(st.integers(0, len(photo) - 1), label="cut")]
    else:
        damaged = data.draw(mutations({"photo": photo}), label="mutated")
    outcome(damaged, DecodeLimits())


# ---------------------------------------------------------------------------------------- declared sizes


def assert_decided_quickly(started_cpu_s: float) -> None:
    """At most DECIDE_CPU_S of this process' CPU time since `started_cpu_s` (time.process_time): CPU time, not wall
    time, so another busy process on the machine does not count, while decoding the declared pixels would."""
    spent = time.process_time() - started_cpu_s
    assert spent < DECIDE_CPU_S, f"{spent:.2f} s of CPU for one image: its declared size was not refused up front"


@FUZZ
@given(st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1))
def test_any_declared_png_size(width: int, height: int) -> None:
    """IHDR rewritten to any size PNG allows: over the limit is always ImageTooLargeError, decided quickly."""
    started = time.process_time()
    result = outcome(with_declared_png_size(SEEDS["png-rgb"], width, height))
    assert_decided_quickly(started)
    if width * height > FUZZ_LIMITS.max_pixels:
        assert isinstance(result, ImageTooLargeError), result
    elif isinstance(result, np.ndarray):
        # Pillow ignores surplus pixel data, and fills rows missing from a complete zlib stream with black
        # (no error): whatever decodes has exactly the declared size.
        assert result.shape == (height, width, 3)


@FUZZ
@given(st.sampled_from(["jpeg-rgb", "jpeg-progressive", "jpeg-cmyk", "jpeg-gray"]), st.integers(0, 65535),
       st.integers(0, 65535))
def test_any_declared_jpeg_size(name: str, width: int, height: int) -> None:
    """SOF rewritten to any size: over the limit is always ImageTooLargeError, a zero side never decodes."""
    started = time.process_time()
    result = outcome(with_declared_jpeg_size(SEEDS[name], width, height))
    assert_decided_quickly(started)
    if width * height > FUZZ_LIMITS.max_pixels:
        assert isinstance(result, ImageTooLargeError), result
    elif width == 0 or height == 0:
        assert isinstance(result, ImageDecodeError), result
    elif isinstance(result, np.ndarray):
        assert result.shape == (height, width, 3)


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_a_declared_pixel_bomb_is_refused_from_the_header(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """50,000×50,000 declared with the default limits: ImageTooLargeError in well under a second, pixels never
    loaded (Pillow's load() is made to fail), no measurable memory growth (C allocations show in max RSS,
    Python/numpy ones in tracemalloc)."""
    bomb = (with_declared_png_size(SEEDS["png-rgb"], BOMB_SIDE, BOMB_SIDE) if fmt == "png"
            else with_declared_jpeg_size(SEEDS["jpeg-rgb"], BOMB_SIDE, BOMB_SIDE))

    def no_load(self, *args, **kwargs):
        raise AssertionError("the pixels of a pixel bomb were loaded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_load)
    monkeypatch.setattr(Image.Image, "load", no_load)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    started = time.process_time()  # CPU time: another busy process on the machine does not count
    try:
        for _ in range(20):
            # over twice Pillow's limit: Pillow refuses it first, as our typed error
            with pytest.raises(ImageTooLargeError, match=r"\(2500000000 pixels\) exceeds limit of"):
                decode_image(bomb, source="bomb")
        elapsed = time.process_time() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert elapsed < 1.0, f"20 refusals took {elapsed:.2f} s of CPU"
    assert peak < 1 * 2**20, f"tracemalloc peak {peak} bytes"
    assert rss_growth_kib < 32 * 1024, f"max RSS grew by {rss_growth_kib} KiB"


def test_the_configured_limit_applies_to_real_pixels() -> None:
    data = encode(gradient(size=(200, 100)), "png")
    assert outcome(data, DecodeLimits(max_pixels=20_000)).shape == (100, 200, 3)
    assert isinstance(outcome(data, DecodeLimits(max_pixels=19_999)), ImageTooLargeError)


def test_the_byte_limit_is_checked_before_parsing() -> None:
    data = SEEDS["png-rgb"]
    result = outcome(data, DecodeLimits(max_bytes=len(data) - 1))
    assert isinstance(result, ImageTooLargeError) and "bytes exceeds the limit" in result.cause


# ------------------------------------------------------------------------------- odd but valid images


@pytest.mark.parametrize("fmt", ["png", "gif", "bmp", "jpeg"])
def test_zero_size_images_are_typed_errors(fmt: str) -> None:
    """Zero-width or zero-height headers: refused as unreadable, never an empty array."""
    if fmt == "png":
        cases = [with_declared_png_size(SEEDS["png-rgb"], w, h) for w, h in ((0, 16), (24, 0), (0, 0))]
    elif fmt == "jpeg":
        cases = [with_declared_jpeg_size(SEEDS["jpeg-rgb"], w, h) for w, h in ((0, 16), (24, 0), (0, 0))]
    elif fmt == "gif":  # logical screen width/height at bytes 6..10, and the image descriptor's after it
        gif = SEEDS["gif"]
        cases = [gif[:6] + struct.pack("<HH", w, h) + gif[10:] for w, h in ((0, 16), (24, 0), (0, 0))]
    else:  # BITMAPINFOHEADER width/height at bytes 18..26
        bmp = SEEDS["bmp"]
        cases = [bmp[:18] + struct.pack("<ii", w, h) + bmp[26:] for w, h in ((0, 16), (24, 0), (0, 0))]
    for data in cases:
        result = outcome(data)
        if isinstance(result, np.ndarray):  # GIF: Pillow sizes the image by its frame, which still has pixels
            assert fmt == "gif" and result.shape == (16, 24, 3)
        else:
            assert isinstance(result, (CorruptImageError, UnsupportedImageError)), result


def test_odd_modes_become_rgb() -> None:
    """Animated GIF (first frame), 16-bit PNG (scaled to 8 bits), CMYK JPEG, palette with transparency
    (composited on white), float TIFF: each an (H, W, 3) uint8 array of the right size."""
    animated = outcome(SEEDS["gif-animated"])
    assert animated.shape == (10, 12, 3) and tuple(animated[0, 0]) == RED
    wide = outcome(SEEDS["png-16bit"])
    assert wide.shape == (16, 24, 3) and wide[0, 0, 0] == 0 and wide[-1, -1, 0] == round((15 * 2000 + 23 * 700) / 257)
    cmyk = outcome(encode(make_image("CMYK", color=(0, 255, 255, 0)), "jpeg", quality=95))
    assert np.abs(cmyk.astype(int) - RED).max() <= 4
    palette = make_image("P", color=0)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    transparent = outcome(encode(palette, "png", transparency=0))
    assert (transparent == 255).all()  # the transparent index composites to white
    for name in ("png-palette-transparency", "png-la", "png-1bit", "jpeg-cmyk", "tiff-float", "tiff-16bit"):
        assert outcome(SEEDS[name]).shape == (16, 24, 3), name
    assert outcome(SEEDS["jpeg-exif-rotated"]).shape == (24, 16, 3)  # orientation 6: rotated 90°
