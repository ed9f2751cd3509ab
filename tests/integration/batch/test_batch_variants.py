"""A batch job whose model actors run a compiled OpenVINO variant (`imgclf classify --backend openvino`, a driver of
its own on a head of the module's own): the actors never import TensorFlow, as their logs say, and every file gets
its row."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow.dataset as pads
import pytest

from utils.digits_run import DIGIT_CLASSES, VGG_MODEL, LearnedRun
from utils.head_jobs import classify_on, worker_stderr_lines
from utils.ray_head import HeadNode, ray_head

pytestmark = pytest.mark.slow
FILES_PER_CLASS = 2


@pytest.fixture(scope="module")
def head() -> Iterator[HeadNode]:
    """A fresh head: its workers have run nothing before the job, so none carries another task's imports."""
    with ray_head("/tmp", num_cpus=2) as node:
        yield node


@pytest.fixture(scope="module")
def images(learned_run: LearnedRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FILES_PER_CLASS digit PNGs of each class, in one folder."""
    folder = tmp_path_factory.mktemp("variant-images")
    for digit in DIGIT_CLASSES:
        for source in sorted((learned_run.data_dir / digit).glob("*.png"))[:FILES_PER_CLASS]:
            shutil.copy(source, folder / f"{digit}-{source.name}")
    return folder


def test_openvino_model_actors_run_without_tensorflow(learned_run: LearnedRun, head: HeadNode, images: Path,
                                                      tmp_path: Path) -> None:
    output = tmp_path / "parquet"
    done = classify_on(head, images, "--model", VGG_MODEL, "--output", output, "--registry", learned_run.registry,
                       "--backend", "openvino")
    assert done.returncode == 0, done.stderr[-4000:]
    rows = pads.dataset(output, format="parquet").to_table().to_pylist()
    assert sorted(row["path"] for row in rows) == sorted(str(path) for path in images.iterdir())
    assert not [row for row in rows if row["error"] or row["label"] not in DIGIT_CLASSES]
    loaded = worker_stderr_lines(head, f"{VGG_MODEL}:1 runs on ")
    assert loaded, f"no model actor said how it runs:\n{done.stderr[-4000:]}"
    for line in loaded:
        assert f"{VGG_MODEL}:1 runs on openvino " in line and line.endswith(", TensorFlow not imported"), loaded
