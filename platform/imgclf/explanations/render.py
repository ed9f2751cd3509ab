"""Explanations as pictures: a Grad-CAM overlay, a sheet of the voting neighbours, the pixels a tree tested."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from imgclf.explanations.decision_path import pixel_of
from imgclf.explanations.explanation import Explanation

# A heat colour scale (dark blue → blue → cyan → yellow → red), interpolated linearly between these stops.
HEAT_STOPS = np.array([[0, 0, 96], [0, 64, 255], [0, 224, 255], [255, 240, 0], [255, 32, 0]], np.float32)
DEFAULT_OPACITY = 0.5


def heat_colours(heatmap: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] → (H, W, 3) uint8 colours on the heat scale."""
    position = np.clip(heatmap, 0.0, 1.0) * (len(HEAT_STOPS) - 1)
    low = np.minimum(position.astype(np.int64), len(HEAT_STOPS) - 2)
    share = (position - low)[..., np.newaxis]
    return np.round(HEAT_STOPS[low] * (1 - share) + HEAT_STOPS[low + 1] * share).astype(np.uint8)


def overlay(image: np.ndarray, heatmap: np.ndarray, opacity: float = DEFAULT_OPACITY) -> np.ndarray:
    """The image with the heatmap's colours laid over it at `opacity` (0: the image, 1: the heatmap alone); the
    heatmap is resized to the image."""
    height, width = image.shape[:2]
    if heatmap.shape != (height, width):
        resized = Image.fromarray(np.asarray(heatmap, np.float32), mode="F").resize((width, height), Image.BILINEAR)
        heatmap = np.asarray(resized, np.float32)
    mixed = (1 - opacity) * image.astype(np.float32) + opacity * heat_colours(heatmap).astype(np.float32)
    return np.round(mixed).astype(np.uint8)


def grad_cam_picture(image: np.ndarray, explanation: Explanation, opacity: float = DEFAULT_OPACITY) -> np.ndarray:
    return overlay(image, explanation.heatmap_at(*image.shape[:2]), opacity)


# Sheets: panels side by side on a frame colour no grayscale image or heat colour takes, each over a white caption.
FRAME = (226, 232, 240)
CAPTION_BACKGROUND, INK = (255, 255, 255), (24, 24, 24)
WENT_LEFT, WENT_RIGHT = (0, 200, 60), (255, 140, 0)  # a tree's test: ≤ (left) and > (right)
MARGIN, GAP, CAPTION_HEIGHT, CAPTION_FONT_SIZE = 8, 8, 22, 13
OUTLINE_WIDTH, MIN_CELL = 2, 24  # a tested pixel's outline, and the least side of a cell on the picture
PANEL_SIDE = 128  # a neighbours sheet's panels; the side small images are enlarged towards


def enlarge(pixels: np.ndarray, scale: int) -> np.ndarray:
    """Each pixel as a `scale` × `scale` block."""
    return np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)


def fit(pixels: np.ndarray, side: int) -> np.ndarray:
    """The picture resized so that its longer side is `side` (blocks of pixels when enlarged, smoothed when
    reduced)."""
    height, width = pixels.shape[:2]
    ratio = side / max(height, width)
    size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.NEAREST if ratio >= 1 else Image.LANCZOS))


def sheet(panels: list[np.ndarray], captions: list[str]) -> np.ndarray:
    """The panels in a row, tops aligned, each with its caption in a white box under the tallest panel."""
    height = max(panel.shape[0] for panel in panels)
    width = sum(panel.shape[1] for panel in panels) + GAP * (len(panels) - 1) + 2 * MARGIN
    canvas = Image.new("RGB", (width, MARGIN + height + GAP + CAPTION_HEIGHT + MARGIN), FRAME)
    font = ImageFont.load_default(size=CAPTION_FONT_SIZE)
    left = MARGIN
    for panel, caption in zip(panels, captions):
        canvas.paste(Image.fromarray(panel), (left, MARGIN))
        box = Image.new("RGB", (panel.shape[1], CAPTION_HEIGHT), CAPTION_BACKGROUND)
        ImageDraw.Draw(box).text((4, CAPTION_HEIGHT // 2), caption, fill=INK, font=font, anchor="lm")
        canvas.paste(box, (left, MARGIN + height + GAP))
        left += panel.shape[1] + GAP
    return np.asarray(canvas)


def grad_cam_strip(image: np.ndarray, explanation: Explanation, scale: int = 1,
                   opacity: float = DEFAULT_OPACITY) -> np.ndarray:
    """The image, the Grad-CAM overlay at the image's size and the bare heatmap colours, each enlarged `scale`×."""
    heatmap = explanation.heatmap_at(*image.shape[:2])
    panels = [image, overlay(image, heatmap, opacity), heat_colours(heatmap)]
    captions = ["image", f"Grad-CAM: {explanation.label}", "heatmap"]
    return sheet([enlarge(panel, scale) for panel in panels], captions)


def neighbours_sheet(image: np.ndarray, explanation: Explanation, side: int = PANEL_SIDE) -> np.ndarray:
    """The image, then each voting neighbour's thumbnail captioned with its label and distance, all `side` px."""
    panels = [fit(image, side)] + [fit(n.thumbnail, side) for n in explanation.parts.neighbours]
    captions = ["image"] + [f"{n.label} · {n.distance:.2f}" for n in explanation.parts.neighbours]
    return sheet(panels, captions)


def pixel_cell(feature: int, grid: int) -> tuple[int, int]:
    """The (row, column) of a pixel feature's cell on a `grid` × `grid` picture of RGB pixels."""
    return pixel_of(feature, grid)[:2]


def cell_scale(image: np.ndarray, grid: int, scale: int) -> int:
    """`scale`, raised until a cell of the grid is at least MIN_CELL px on the picture."""
    return max(scale, -(-MIN_CELL * grid // min(image.shape[:2])))


def cell_box(cell: tuple[int, int], grid: int, height: int, width: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom), inclusive, of a grid cell on a `height` × `width` picture."""
    row, col = cell
    left, top = round(col * width / grid), round(row * height / grid)
    return left, top, round((col + 1) * width / grid) - 1, round((row + 1) * height / grid) - 1


def decision_path_picture(image: np.ndarray, explanation: Explanation, grid: int, scale: int = 1) -> np.ndarray:
    """The image enlarged, each pixel cell the tree tested outlined (green ≤, orange >: its first test) and numbered
    in path order; `grid` is the side of the pixel grid the tree's features come from."""
    picture = Image.fromarray(enlarge(image, cell_scale(image, grid, scale)))
    numbers: dict[tuple[int, int], list[int]] = {}
    colours: dict[tuple[int, int], tuple[int, int, int]] = {}
    for number, step in enumerate(explanation.parts.path, start=1):
        cell = pixel_cell(step.feature, grid)
        numbers.setdefault(cell, []).append(number)
        colours.setdefault(cell, WENT_LEFT if step.went_left else WENT_RIGHT)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=max(9, min(picture.size) * 2 // (3 * grid)))
    boxes = {cell: cell_box(cell, grid, picture.height, picture.width) for cell in numbers}
    for cell, (left, top, _, _) in boxes.items():
        draw.text((left + OUTLINE_WIDTH + 1, top + OUTLINE_WIDTH), ",".join(map(str, numbers[cell])),
                  fill=colours[cell], font=font, stroke_width=1, stroke_fill=(0, 0, 0))
    for cell, box in boxes.items():  # outlines last: no number covers one
        draw.rectangle(box, outline=colours[cell], width=OUTLINE_WIDTH)
    caption = f"{len(explanation.parts.path)} tests to leaf {explanation.parts.leaf}: {explanation.predicted}"
    return sheet([np.asarray(picture)], [caption])
