"""The explanation pictures and files, from hand-made explanations: which panels a picture holds, which pixel cells
a tree's picture outlines, and what `write_explanation` writes."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from imgclf.explanations.decision_path import feature_words
from imgclf.explanations.explanation import (DECISION_PATH, GRAD_CAM, NEIGHBOURS, Explanation, ExplanationParts,
                                             Neighbour, PathStep)
from imgclf.explanations.pictures import display_scale, pixel_grid, write_explanation
from imgclf.explanations.render import (CAPTION_HEIGHT, FRAME, GAP, MARGIN, OUTLINE_WIDTH, WENT_LEFT, WENT_RIGHT,
                                        cell_scale, decision_path_picture, enlarge, fit, grad_cam_strip,
                                        heat_colours, neighbours_sheet, overlay, pixel_cell)
from imgclf.models.features import PixelFeatures

GRID = 4


def explanation_of(parts: ExplanationParts) -> Explanation:
    return Explanation(model_name="m", model_version="1", kind="k", predicted="cat", label="cat", label_index=0,
                       score=0.9, parts=parts)


def a_picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8).repeat(3).reshape(
        height, width, 3)


def panel_runs(picture: np.ndarray) -> list[tuple[int, int]]:
    """The (first, last) columns of each run of panel columns on the row through the panels' tops."""
    on_panel = ~np.all(picture[MARGIN] == FRAME, axis=-1)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], on_panel.astype(int), [0]])))
    return [(int(start), int(stop) - 1) for start, stop in zip(edges[::2], edges[1::2])]


def step(feature: int, value: float, threshold: float = 0.5) -> PathStep:
    return PathStep(node=feature, feature=feature, words="w", threshold=threshold, value=value)


def feature_at(row: int, col: int, channel: int = 0) -> int:
    return (row * GRID + col) * 3 + channel


def outlined(picture: np.ndarray, colour: tuple[int, int, int], side: int) -> set[tuple[int, int]]:
    """The grid cells of the (side × side) image panel whose outline ring is all `colour`."""
    panel = picture[MARGIN:MARGIN + side, MARGIN:MARGIN + side]
    cell = side // GRID
    found = set()
    for row in range(GRID):
        for col in range(GRID):
            box = panel[row * cell:(row + 1) * cell, col * cell:(col + 1) * cell]
            ring = np.concatenate([box[:OUTLINE_WIDTH].reshape(-1, 3), box[-OUTLINE_WIDTH:].reshape(-1, 3),
                                   box[:, :OUTLINE_WIDTH].reshape(-1, 3), box[:, -OUTLINE_WIDTH:].reshape(-1, 3)])
            if np.all(ring == colour):
                found.add((row, col))
    return found


def test_grad_cam_strip_shows_the_image_the_overlay_and_the_bare_heatmap_at_the_images_size() -> None:
    image = a_picture(20, 30)
    heatmap = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    explanation = explanation_of(ExplanationParts(GRAD_CAM, heatmap=heatmap))

    strip = grad_cam_strip(image, explanation, scale=2)

    assert strip.shape == (2 * MARGIN + 40 + GAP + CAPTION_HEIGHT, 2 * MARGIN + 3 * 60 + 2 * GAP, 3)
    assert panel_runs(strip) == [(MARGIN + i * (60 + GAP), MARGIN + i * (60 + GAP) + 59) for i in range(3)]
    at_size = explanation.heatmap_at(20, 30)
    for (left, _), expected in zip(panel_runs(strip), [image, overlay(image, at_size), heat_colours(at_size)]):
        assert np.array_equal(strip[MARGIN:MARGIN + 40, left:left + 60], enlarge(expected, 2))


def test_neighbours_sheet_shows_the_image_then_each_neighbour() -> None:
    thumbnails = [a_picture(16, 16, seed) for seed in range(1, 4)]
    neighbours = tuple(Neighbour(f"c/{i}.png", "cat", 0.5 * i, thumb) for i, thumb in enumerate(thumbnails))
    image = a_picture(40, 20)

    sheet = neighbours_sheet(image, explanation_of(ExplanationParts(NEIGHBOURS, neighbours=neighbours)), side=64)

    runs = panel_runs(sheet)
    assert [stop - start + 1 for start, stop in runs] == [32, 64, 64, 64]  # the image keeps its shape
    assert np.array_equal(sheet[MARGIN:MARGIN + 64, runs[0][0]:runs[0][1] + 1], fit(image, 64))
    for (left, _), thumbnail in zip(runs[1:], thumbnails):
        assert np.array_equal(sheet[MARGIN:MARGIN + 64, left:left + 64], enlarge(thumbnail, 4))


def test_decision_path_outlines_each_tested_cell_in_the_colour_of_its_first_test() -> None:
    path = (step(feature_at(0, 1), 0.2), step(feature_at(2, 3, 2), 0.9), step(feature_at(0, 1, 1), 0.9))
    image = np.zeros((16, 16, 3), np.uint8)
    explanation = explanation_of(ExplanationParts(DECISION_PATH, path=path, leaf=7, leaf_counts={"cat": 3}))

    picture = decision_path_picture(image, explanation, GRID)

    side = 16 * cell_scale(image, GRID, 1)
    assert side // GRID >= 24
    assert outlined(picture, WENT_LEFT, side) == {(0, 1)}
    assert outlined(picture, WENT_RIGHT, side) == {(2, 3)}


def test_pixel_cell_is_the_pixel_the_tree_step_names() -> None:
    classifier = SimpleNamespace(features=PixelFeatures(16))
    for feature in (0, 5, 47, 48, 400, 16 * 16 * 3 - 1):
        row, col = pixel_cell(feature, 16)
        assert f"(row {row}, column {col})" in feature_words(classifier, feature)


def test_pixel_grid_is_the_side_of_pixel_features_only() -> None:
    assert pixel_grid(SimpleNamespace(features=PixelFeatures(12))) == 12
    assert pixel_grid(SimpleNamespace(features=object())) is None
    assert pixel_grid(SimpleNamespace()) is None


@pytest.mark.parametrize(("size", "scale"), [(32, 4), (100, 1), (200, 1), (5, 25)])
def test_small_images_are_shown_enlarged_by_whole_steps(size: int, scale: int) -> None:
    assert display_scale(np.zeros((size // 2, size, 3), np.uint8)) == scale


PARTS = {
    GRAD_CAM: ExplanationParts(GRAD_CAM, heatmap=np.eye(8, dtype=np.float32)),
    NEIGHBOURS: ExplanationParts(NEIGHBOURS, neighbours=(Neighbour("c/1.png", "cat", 1.0, a_picture(8, 8)),)),
    DECISION_PATH: ExplanationParts(DECISION_PATH, path=(step(feature_at(1, 1), 0.1),), leaf=3,
                                    leaf_counts={"cat": 2}),
}


@pytest.mark.parametrize(("method", "grid", "suffixes"), [
    (GRAD_CAM, None, ["explanation.json", "grad-cam.png"]),
    (NEIGHBOURS, None, ["explanation.json", "neighbours.png"]),
    (DECISION_PATH, GRID, ["explanation.json", "decision-path.txt", "decision-path.png"]),
    (DECISION_PATH, None, ["explanation.json", "decision-path.txt"]),
])
def test_write_explanation_writes_the_json_and_the_methods_files(
    tmp_path: Path, method: str, grid: int | None, suffixes: list[str]
) -> None:
    explanation = explanation_of(PARTS[method])
    image = a_picture(24, 40)

    written = write_explanation(tmp_path / "out", "photo", explanation, image, grid)

    assert written == [tmp_path / "out" / f"photo.m.{suffix}" for suffix in suffixes]
    assert json.loads(written[0].read_text()) == json.loads(json.dumps(explanation.to_dict((24, 40))))
    if method == DECISION_PATH:
        assert written[1].read_text() == explanation.path_text() + "\n"
    for png in written[1:]:
        if png.suffix == ".png":
            assert Image.open(png).mode == "RGB"
