"""The benchmark reads its photos and Serve config from the paths it is given, not from the source checkout."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from bench.data import photo_folder, source_photos
from bench.serve_deployment import bench_config
from imgclf.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def write_photos(root: Path, count: int) -> Path:
    for index in range(count):
        folder = root / "train" / ("ants" if index % 2 else "bees")
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (index, 0, 0)).save(folder / f"p{index}.jpg")
    return root


def test_photos_come_from_the_given_folder_spread_evenly_and_cycled(tmp_path: Path) -> None:
    dataset = write_photos(tmp_path / "photos", 4)
    assert [path.name for path in source_photos(dataset, 2)] == ["p1.jpg", "p0.jpg"]  # sorted: ants/ before bees/
    assert len(source_photos(dataset, 6)) == 6
    folder = photo_folder(tmp_path / "flat", dataset, 3, copies=2)
    assert len(list(folder.glob("*.jpg"))) == 6


def test_photos_are_taken_at_even_steps_through_the_sorted_files_and_cycled_in_order(tmp_path: Path) -> None:
    dataset = write_photos(tmp_path / "photos", 5)  # sorted: ants/p1, ants/p3, bees/p0, bees/p2, bees/p4
    assert [path.name for path in source_photos(dataset, 3)] == ["p1.jpg", "p3.jpg", "p2.jpg"]  # files 0, 1, 3
    assert [path.name for path in source_photos(dataset, 7)] == ["p1.jpg", "p3.jpg", "p0.jpg", "p2.jpg", "p4.jpg",
                                                                 "p1.jpg", "p3.jpg"]


def test_an_empty_photo_folder_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"no JPEG photos under {tmp_path} \\(--photos\\)"):
        source_photos(tmp_path, 1)


def test_the_serve_section_deploys_the_given_config(tmp_path: Path) -> None:
    config = bench_config(REPO / "serve_config.yaml", "/registry", "m:1", 8123, 16)
    assert config["http_options"]["port"] == 8123
    assert config["applications"][0]["args"] == {}
    with pytest.raises(ConfigError, match=f"cannot read serve config {tmp_path / 'missing.yaml'}"):
        bench_config(tmp_path / "missing.yaml", "/registry", "m:1", 8123, 16)
