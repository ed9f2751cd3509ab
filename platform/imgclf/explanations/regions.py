"""Places in an image said in words: a 3 × 3 grid (top left … bottom right)."""

ROWS = ("top", "middle", "bottom")
COLUMNS = ("left", "centre", "right")


def region_name(row: float, col: float, height: int, width: int) -> str:
    """The part of a height × width image holding (row, col): "top left", "centre", "bottom right", ..."""
    vertical = ROWS[min(int(3 * row / height), 2)]
    horizontal = COLUMNS[min(int(3 * col / width), 2)]
    return "centre" if (vertical, horizontal) == ("middle", "centre") else f"{vertical} {horizontal}"
