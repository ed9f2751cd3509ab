"""The documentation's explanation pictures (docs/assets/explanations) against the same pictures drawn now from the
session's trained digits models: the same size, mode and layout, not the same pixels (training differs run to run,
and so does KNN's k, chosen by cross-validation: the sheets then differ only by their number of panels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgclf.data.decode import decode_file
from imgclf.explanations.explain import explain
from imgclf.explanations.pictures import README_MODELS, pixel_grid, write_readme_pictures
from imgclf.explanations.render import FRAME, MARGIN, OUTLINE_WIDTH, WENT_LEFT, WENT_RIGHT, cell_box, pixel_cell
from imgclf.models.artifact import load_classifier
from imgclf.models.classifier import Classifier
from imgclf.registry import Registry
from utils.digits_run import TrainedRun

COMMITTED = Path(__file__).resolve().parents[3] / "docs" / "assets" / "explanations"
PICTURES = ("grad-cam.png", "neighbours.png", "decision-path.png")
MAX_BYTES = 200 * 1024


def pixels_of(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def frame_mask(picture: np.ndarray) -> np.ndarray:
    """Where the picture shows the frame: its margins and the gaps between panels and captions."""
    return np.all(picture == FRAME, axis=-1)


def panel_columns(picture: np.ndarray) -> list[tuple[int, int]]:
    """The (first, last) column of each panel, on the row through the panels' tops."""
    on_panel = np.concatenate([[0], (~frame_mask(picture)[MARGIN]).astype(int), [0]])
    edges = np.flatnonzero(np.diff(on_panel))
    return [(int(first), int(last) - 1) for first, last in zip(edges[::2], edges[1::2])]


def outlined_cells(picture: np.ndarray, grid: int) -> dict[tuple[int, int], tuple[int, ...]]:
    """Each cell of the tree picture's image panel whose outline ring is all one of the two test colours."""
    side = picture.shape[1] - 2 * MARGIN
    panel = picture[MARGIN:MARGIN + side, MARGIN:MARGIN + side]
    found = {}
    for cell in np.ndindex(grid, grid):
        left, top, right, bottom = cell_box(cell, grid, side, side)
        box = panel[top:bottom + 1, left:right + 1]
        ring = np.concatenate([box[:OUTLINE_WIDTH].reshape(-1, 3), box[-OUTLINE_WIDTH:].reshape(-1, 3),
                               box[:, :OUTLINE_WIDTH].reshape(-1, 3), box[:, -OUTLINE_WIDTH:].reshape(-1, 3)])
        colour = tuple(int(c) for c in ring[0])
        if colour in (WENT_LEFT, WENT_RIGHT) and np.all(ring == colour):
            found[cell] = colour
    return found


@pytest.fixture(scope="module")
def seven(trained_run: TrainedRun) -> Path:
    return min((trained_run.data_dir / "7").glob("*.png"))


@pytest.fixture(scope="module")
def drawn(trained_run: TrainedRun, seven: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pictures")
    assert write_readme_pictures(trained_run.registry, seven, out) == [out / name for name in PICTURES]
    return out


def model(run: TrainedRun, method: str) -> Classifier:
    return load_classifier(Registry(run.registry).local_path(README_MODELS[method]))


@pytest.mark.parametrize("name", PICTURES)
def test_each_committed_picture_is_small(name: str) -> None:
    assert (COMMITTED / name).stat().st_size < MAX_BYTES


@pytest.mark.slow
@pytest.mark.parametrize("name", ["grad-cam.png", "decision-path.png"])
def test_the_picture_keeps_the_committed_size_mode_and_layout(drawn: Path, name: str) -> None:
    committed, fresh = Image.open(COMMITTED / name), Image.open(drawn / name)

    assert (fresh.size, fresh.mode) == (committed.size, committed.mode)
    assert np.array_equal(frame_mask(pixels_of(drawn / name)), frame_mask(pixels_of(COMMITTED / name)))


@pytest.mark.slow
def test_the_neighbours_sheet_keeps_the_committed_panels_one_per_voting_neighbour(
    drawn: Path, trained_run: TrainedRun
) -> None:
    k = model(trained_run, "neighbours").estimator[-1].n_neighbors
    fresh, committed = pixels_of(drawn / "neighbours.png"), pixels_of(COMMITTED / "neighbours.png")
    fresh_panels, committed_panels = panel_columns(fresh), panel_columns(committed)
    shared = min(len(fresh_panels), len(committed_panels))
    shared_width = fresh_panels[shared - 1][1] + 1

    assert len(fresh_panels) == 1 + k
    assert Image.open(drawn / "neighbours.png").mode == Image.open(COMMITTED / "neighbours.png").mode
    assert fresh.shape[0] == committed.shape[0]
    assert fresh_panels[:shared] == committed_panels[:shared]
    assert np.array_equal(frame_mask(fresh)[:, :shared_width], frame_mask(committed)[:, :shared_width])
    assert fresh.shape[1] - fresh_panels[-1][1] == committed.shape[1] - committed_panels[-1][1]  # the right margin


@pytest.mark.slow
def test_the_tree_picture_outlines_the_pixels_its_path_tests(
    drawn: Path, trained_run: TrainedRun, seven: Path
) -> None:
    classifier = model(trained_run, "decision-path")
    grid = pixel_grid(classifier)
    path = explain(classifier, decode_file(seven), model_name="m", model_version="1").parts.path
    first_tests: dict[tuple[int, int], tuple[int, ...]] = {}
    for step in path:
        first_tests.setdefault(pixel_cell(step.feature, grid), WENT_LEFT if step.went_left else WENT_RIGHT)

    assert outlined_cells(pixels_of(drawn / "decision-path.png"), grid) == first_tests
    assert outlined_cells(pixels_of(COMMITTED / "decision-path.png"), grid)
