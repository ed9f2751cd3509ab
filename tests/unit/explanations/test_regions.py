"""Places in an image in words: the 3 × 3 grid a summary names."""

from __future__ import annotations

import pytest

from imgclf.explanations.regions import region_name


@pytest.mark.parametrize("row, col, place", [
    (0, 0, "top left"), (0, 45, "top centre"), (0, 89, "top right"),
    (45, 0, "middle left"), (45, 45, "centre"), (45, 89, "middle right"),
    (89, 0, "bottom left"), (89, 45, "bottom centre"), (89, 89, "bottom right"),
])
def test_each_ninth_of_the_image_has_its_name(row: int, col: int, place: str) -> None:
    assert region_name(row, col, 90, 90) == place


@pytest.mark.parametrize("row, col, place", [(29, 29, "top left"), (30, 30, "centre"), (59, 60, "middle right"),
                                             (60, 59, "bottom centre")])
def test_the_thirds_meet_where_a_third_of_the_side_ends(row: int, col: int, place: str) -> None:
    assert region_name(row, col, 90, 90) == place


def test_rows_and_columns_are_thirds_of_their_own_side() -> None:
    assert region_name(9, 150, 30, 200) == "top right"
    assert region_name(25, 10, 30, 200) == "bottom left"


def test_the_last_row_and_column_and_beyond_are_the_bottom_right() -> None:
    assert region_name(3.99, 3.99, 4, 4) == "bottom right"
    assert region_name(4, 4, 4, 4) == "bottom right"
