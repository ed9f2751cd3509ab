"""decode_image / decode_file / to_rgb_array: every format and mode to (H, W, 3) uint8 RGB, or a typed error."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from imgclf.config import DecodeLimits
from imgclf.data.decode import decode_file, decode_image, to_rgb_array
from imgclf.data.scan import IMAGE_SUFFIXES
from imgclf.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageDecodeError,
    ImageTooLargeError,
    ImgclfError,
    UnsupportedImageError,
)
from utils.images import (
    BLUE,
    FORMATS,
    GREEN,
    RED,
    WHITE,
    corner_block_rgb,
    encode,
    exif_with_orientation,
    make_animated_gif,
    make_image,
    make_image_bytes,
    truncated,
    two_colour_rgb,
    with_declared_png_size,
)

SOLID = (200, 40, 90)
PILLOW_DEFAULT_LIMIT = 1024 * 1024 * 1024 // 4 // 3  # PIL.Image.MAX_IMAGE_PIXELS as Pillow ships it
ABOVE_PILLOW = DecodeLimits(max_pixels=1_000_000_000)  # ours above Pillow's: Pillow's is met first
LOSSLESS = {
    "png": {},
    "bmp": {},
    "gif": {},
    "webp": {"lossless": True},
}
LOSSY = {
    "jpg": {"quality": 95},
    "jpeg": {"quality": 95},
    "webp": {"quality": 80},
}
LOSSY_TOLERANCE = 4
ICON_HEADER_BYTES, ICON_ENTRY_BYTES = 6, 16  # an .ico file: its header, one directory entry per frame, the frames


def max_error(actual: np.ndarray, expected) -> int:
    return int(np.abs(actual.astype(np.int32) - np.asarray(expected, np.int32)).max())


def test_format_table_covers_every_scanned_suffix():
    assert {f".{ext}" for ext in FORMATS} == set(IMAGE_SUFFIXES)


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_every_format_decodes_to_rgb_uint8_of_the_right_shape(ext):
    data = make_image_bytes(ext, size=(10, 6), color=SOLID)

    array = decode_image(data)

    assert array.shape == (6, 10, 3)
    assert array.dtype == np.uint8
    assert array.flags.c_contiguous
    assert max_error(array, SOLID) <= LOSSY_TOLERANCE


@pytest.mark.parametrize("ext", sorted(LOSSLESS))
def test_lossless_formats_keep_exact_pixels(ext):
    expected = two_colour_rgb((8, 6), left=RED, right=BLUE)
    expected[0, 0] = GREEN

    array = decode_image(encode(Image.fromarray(expected), ext, **LOSSLESS[ext]))

    np.testing.assert_array_equal(array, expected)


@pytest.mark.parametrize(("ext", "save_kwargs"), sorted(LOSSY.items()))
def test_lossy_formats_are_close_to_the_source(ext, save_kwargs):
    array = decode_image(make_image_bytes(ext, size=(16, 16), color=SOLID, **save_kwargs))

    assert array.shape == (16, 16, 3)
    assert max_error(array, SOLID) <= LOSSY_TOLERANCE


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_decode_file_reads_each_extension(tmp_path, ext):
    path = tmp_path / f"image.{ext}"
    path.write_bytes(make_image_bytes(ext, size=(5, 7), color=SOLID, **LOSSLESS.get(ext, {"quality": 95})))

    array = decode_file(path)

    assert array.shape == (7, 5, 3)
    assert max_error(array, SOLID) <= LOSSY_TOLERANCE


def test_animated_gif_decodes_its_first_frame():
    data = make_animated_gif([RED, BLUE, GREEN], size=(6, 4))
    assert Image.open(io.BytesIO(data)).n_frames == 3  # the fixture really is animated

    array = decode_image(data)

    assert array.shape == (4, 6, 3)
    np.testing.assert_array_equal(array, np.broadcast_to(RED, (4, 6, 3)))


# --- colour modes -----------------------------------------------------------------------------------------------


def test_gray_l_becomes_three_equal_channels():
    gray = np.array([[0, 77], [200, 255]], np.uint8)

    array = decode_image(encode(Image.fromarray(gray, "L"), "png"))

    np.testing.assert_array_equal(array, np.repeat(gray[:, :, None], 3, axis=2))


def test_bilevel_mode_1_becomes_black_and_white():
    image = Image.new("1", (2, 1), 0)
    image.putpixel((1, 0), 1)

    array = decode_image(encode(image, "png"))

    np.testing.assert_array_equal(array, [[[0, 0, 0], [255, 255, 255]]])


def test_la_composites_onto_white():
    image = Image.new("LA", (2, 1))
    image.putpixel((0, 0), (10, 0))  # fully transparent -> white
    image.putpixel((1, 0), (100, 255))  # opaque gray

    array = decode_image(encode(image, "png"))

    np.testing.assert_array_equal(array, [[WHITE, (100, 100, 100)]])


def test_rgba_transparent_pixels_composite_onto_white():
    image = Image.new("RGBA", (3, 1))
    image.putpixel((0, 0), (0, 0, 255, 0))  # transparent blue -> white
    image.putpixel((1, 0), (0, 0, 255, 255))  # opaque blue stays blue
    image.putpixel((2, 0), (255, 0, 0, 128))  # half red over white -> pink

    array = decode_image(encode(image, "png"))

    np.testing.assert_array_equal(array[0, 0], WHITE)
    np.testing.assert_array_equal(array[0, 1], BLUE)
    assert max_error(array[0, 2], (255, 127, 127)) <= 1


def palette_image(transparent_index: int | None = None) -> Image.Image:
    image = Image.new("P", (3, 1))
    image.putpalette([*RED, *GREEN, *BLUE] + [0] * (256 - 3) * 3)
    for x in range(3):
        image.putpixel((x, 0), x)
    if transparent_index is not None:
        image.info["transparency"] = transparent_index
    return image


@pytest.mark.parametrize("ext", ["png", "gif", "bmp"])
def test_palette_without_transparency_maps_through_the_palette(ext):
    array = decode_image(encode(palette_image(), ext))

    np.testing.assert_array_equal(array, [[RED, GREEN, BLUE]])


@pytest.mark.parametrize("ext", ["png", "gif"])
def test_palette_with_transparency_composites_onto_white(ext):
    data = encode(palette_image(), ext, transparency=1)  # green is the transparent index

    array = decode_image(data)

    np.testing.assert_array_equal(array, [[RED, WHITE, BLUE]])


def test_cmyk_jpeg_becomes_rgb():
    data = make_image_bytes("jpg", mode="CMYK", size=(8, 8), color=(0, 255, 255, 0), quality=100)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"

    array = decode_image(data)

    assert array.shape == (8, 8, 3)
    assert max_error(array, RED) <= LOSSY_TOLERANCE


def test_16_bit_png_is_scaled_to_8_bits():
    values = np.array([[0, 65535], [32768, 1000]], np.uint16)
    data = encode(Image.fromarray(values), "png")
    assert Image.open(io.BytesIO(data)).mode == "I;16"

    array = decode_image(data)

    assert array.dtype == np.uint8
    np.testing.assert_array_equal(array[:, :, 0], [[0, 255], [128, 4]])
    np.testing.assert_array_equal(array[:, :, 0], array[:, :, 2])


def test_dark_16_bit_png_stays_dark():
    data = encode(Image.fromarray(np.array([[0, 255]], np.uint16)), "png")

    array = decode_image(data)

    np.testing.assert_array_equal(array[:, :, 0], [[0, 1]])


def test_to_rgb_array_accepts_a_pillow_image_directly():
    array = to_rgb_array(make_image("RGBA", (4, 3), (0, 255, 0, 0)))

    assert array.shape == (3, 4, 3)
    np.testing.assert_array_equal(array, np.broadcast_to(WHITE, (3, 4, 3)))


# --- EXIF orientation ---------------------------------------------------------------------------------------------

# Orientation tag -> how many quarter turns counter-clockwise (np.rot90's k) the stored pixels need.
ORIENTATION_TURNS = {3: 2, 6: -1, 8: 1}
# Where the stored top-left block must end up once displayed, as (row slice, column slice) "corners".
BLOCK_CORNER = {3: ("bottom", "right"), 6: ("top", "right"), 8: ("bottom", "left")}


def corner_mean(array: np.ndarray, vertical: str, horizontal: str, block: int = 12) -> np.ndarray:
    rows = slice(0, block) if vertical == "top" else slice(-block, None)
    cols = slice(0, block) if horizontal == "left" else slice(-block, None)
    return array[rows, cols].reshape(-1, 3).mean(axis=0)


@pytest.mark.parametrize("orientation", sorted(ORIENTATION_TURNS))
def test_exif_orientation_is_applied(orientation):
    source = Image.fromarray(corner_block_rgb((64, 32), block=16, color=RED))  # 64 wide, 32 high
    plain = decode_image(encode(source, "jpg", quality=100))
    rotated = encode(source, "jpg", quality=100, exif=exif_with_orientation(orientation))

    array = decode_image(rotated)

    expected_shape = (64, 32, 3) if orientation in (6, 8) else (32, 64, 3)
    assert array.shape == expected_shape
    np.testing.assert_array_equal(array, np.rot90(plain, ORIENTATION_TURNS[orientation]))
    assert max_error(corner_mean(array, *BLOCK_CORNER[orientation]), RED) <= LOSSY_TOLERANCE
    assert max_error(corner_mean(array, "top", "left"), RED) > 100  # the block moved away from where it was stored


def test_exif_orientation_1_leaves_the_image_alone():
    source = Image.fromarray(corner_block_rgb((64, 32), block=16, color=RED))

    array = decode_image(encode(source, "jpg", quality=100, exif=exif_with_orientation(1)))

    assert array.shape == (32, 64, 3)
    assert max_error(corner_mean(array, "top", "left"), RED) <= LOSSY_TOLERANCE


# --- errors -------------------------------------------------------------------------------------------------------


def test_error_classes_form_one_tree():
    for cls in (EmptyImageError, UnsupportedImageError, CorruptImageError, ImageTooLargeError):
        assert issubclass(cls, ImageDecodeError)
    assert issubclass(ImageDecodeError, ImgclfError)


def test_empty_bytes_raise_empty_image_error():
    with pytest.raises(EmptyImageError, match="0 bytes"):
        decode_image(b"", source="upload.png")


@pytest.mark.parametrize(
    "data",
    [b"hello, this is plainly text\n", bytes(range(256)) * 4, b"\x00" * 64],
    ids=["text", "byte-ramp", "zeros"],
)
def test_non_image_bytes_raise_unsupported(data):
    with pytest.raises(UnsupportedImageError, match="not an image"):
        decode_image(data, source="junk.bin")


def noisy_image(size=(64, 64)) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


@pytest.mark.parametrize("ext", ["png", "jpg", "gif", "bmp", "webp"])
def test_image_cut_in_half_raises_corrupt(ext):
    data = truncated(encode(noisy_image(), ext))

    with pytest.raises(CorruptImageError, match="truncated|damaged"):
        decode_image(data, source=f"half.{ext}")


def test_declared_size_over_the_limit_is_refused_before_decoding():
    # A 1x1 PNG whose header claims 5000x5000: decoding would fail as corrupt, so only a check made
    # before decoding can report it as too large.
    data = with_declared_png_size(make_image_bytes("png", size=(1, 1)), 5000, 5000)

    with pytest.raises(ImageTooLargeError, match=r"5000x5000 = 25000000 pixels exceeds the limit of 1000000"):
        decode_image(data, source="huge.png", limits=DecodeLimits(max_pixels=1_000_000))


def test_an_icon_frame_over_the_limit_is_refused_before_decoding():
    # Opening an icon decodes its largest frame: a 64x64 icon whose PNG frame claims 5000x5000 fails as corrupt if
    # decoding is tried, so only a check of that frame's header made before opening reports it as too large.
    icon = encode(Image.new("RGB", (64, 64), SOLID), "ico", sizes=[(64, 64)])
    frame_at = ICON_HEADER_BYTES + ICON_ENTRY_BYTES
    data = icon[:frame_at] + with_declared_png_size(icon[frame_at:], 5000, 5000)

    with pytest.raises(ImageTooLargeError, match=r"5000x5000 = 25000000 pixels exceeds the limit of 1000000"):
        decode_image(data, source="huge.ico", limits=DecodeLimits(max_pixels=1_000_000))
    assert decode_image(icon, limits=DecodeLimits(max_pixels=64 * 64)).shape == (64, 64, 3)


def test_importing_imgclf_leaves_pillows_pixel_limit_at_its_default():
    probe = "import imgclf, imgclf.data.decode; from PIL import Image; print(Image.MAX_IMAGE_PIXELS)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})

    assert done.stdout.strip() == str(PILLOW_DEFAULT_LIMIT)


def test_a_bomb_beyond_pillows_limit_is_our_image_too_large_error_not_pillows():
    # 20000x10000 is over twice Pillow's limit: Pillow refuses it while opening, before our limit is checked.
    bomb = with_declared_png_size(make_image_bytes("png", size=(1, 1)), 20_000, 10_000)

    with pytest.raises(ImageTooLargeError, match=r"200000000 pixels.*MAX_IMAGE_PIXELS") as refused:
        decode_image(bomb, source="bomb.png", limits=ABOVE_PILLOW)
    assert isinstance(refused.value.__cause__, Image.DecompressionBombError)


def test_an_image_over_pillows_limit_but_under_ours_is_refused_with_pillows_limit_named():
    # 10000x10000 is between Pillow's limit and twice it: Pillow only warns while opening; the refusal is ours.
    over_pillow = with_declared_png_size(make_image_bytes("png", size=(1, 1)), 10_000, 10_000)

    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(
            ImageTooLargeError, match=rf"100000000 pixels exceeds Pillow's .* limit of {PILLOW_DEFAULT_LIMIT}$"):
        decode_image(over_pillow, source="big.png", limits=ABOVE_PILLOW)


def test_pixel_limit_is_inclusive():
    limits = DecodeLimits(max_pixels=1000)
    at_limit = make_image_bytes("png", mode="L", size=(40, 25), color=0)
    over_limit = make_image_bytes("png", mode="L", size=(41, 25), color=0)

    assert decode_image(at_limit, limits=limits).shape == (25, 40, 3)
    with pytest.raises(ImageTooLargeError):
        decode_image(over_limit, limits=limits)


def test_default_limits_accept_a_large_ordinary_image():
    data = with_declared_png_size(make_image_bytes("png", size=(1, 1)), 5000, 5000)

    with pytest.raises(CorruptImageError):  # allowed by the default limit, so it reaches decoding and fails
        decode_image(data)


ERROR_CASES = {
    "empty": (b"", EmptyImageError),
    "text": (b"definitely not an image", UnsupportedImageError),
    "truncated-png": (truncated(encode(noisy_image(), "png")), CorruptImageError),
    "truncated-jpeg": (truncated(encode(noisy_image(), "jpg")), CorruptImageError),
    "too-large": (with_declared_png_size(make_image_bytes("png", size=(1, 1)), 5000, 5000), ImageTooLargeError),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_every_error_names_the_source_and_the_cause(case):
    data, error = ERROR_CASES[case]
    source = "uploads/cat photo.png"

    with pytest.raises(error) as info:
        decode_image(data, source=source, limits=DecodeLimits(max_pixels=1_000_000))

    exc = info.value
    assert exc.source == source
    assert exc.cause
    assert str(exc) == f"{source}: {exc.cause}"


def test_errors_keep_the_pillow_cause_chained():
    with pytest.raises(CorruptImageError) as info:
        decode_image(truncated(encode(noisy_image(), "png")))

    assert info.value.__cause__ is not None


def test_decode_file_on_a_missing_path_names_the_path(tmp_path):
    path = tmp_path / "nope" / "missing.png"

    with pytest.raises(ImageDecodeError) as info:
        decode_file(path)

    assert info.value.source == str(path)
    assert str(info.value).startswith(str(path))
    assert "cannot read file" in info.value.cause


def test_decode_file_on_a_folder_raises_image_decode_error(tmp_path):
    with pytest.raises(ImageDecodeError, match="cannot read file"):
        decode_file(tmp_path)


def test_decode_file_errors_name_the_path(tmp_path):
    path = tmp_path / "fake.jpg"
    path.write_text("not really a jpeg")

    with pytest.raises(UnsupportedImageError) as info:
        decode_file(path)

    assert str(info.value).startswith(f"{path}: ")
