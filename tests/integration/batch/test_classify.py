"""`imgclf classify` end to end on the session's Ray cluster: a nested folder with bad files → Parquet read back."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from imgclf.models.prediction_schema import output_schema
from utils.cli import run_cli
from utils.datasets import hymenoptera
from utils.digits_run import VGG_MODEL, TrainedRun
from utils.images import make_image_bytes, truncated, with_declared_png_size

pytestmark = pytest.mark.slow
FIRST_FILE_TIMEOUT_S = 420  # start, model load and the first Parquet file, on 2 shared cores
SHOWN_ROWS = 10  # `--show`: the output's first rows printed after the job
# Bad files → the error class their row must name.
BAD_FILES = {
    "bad/empty.png": "EmptyImageError",
    "bad/deeper/notes.jpg": "UnsupportedImageError",
    "bad/truncated.png": "CorruptImageError",
    "huge.png": "ImageTooLargeError",
}


@pytest.fixture(scope="module")
def input_dir(trained_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Digits of three classes in nested folders, plus an empty, a text, a truncated and an oversized file."""
    root = tmp_path_factory.mktemp("batch-input")
    for label in ("0", "5", "7"):
        for index, source in enumerate(sorted((trained_run.data_dir / label).glob("*.png"))[:4]):
            target = root / f"class-{label}" / ("nested" if index % 2 else "") / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    for relative in BAD_FILES:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
    png = make_image_bytes("png", size=(16, 16))
    (root / "bad/empty.png").write_bytes(b"")
    (root / "bad/deeper/notes.jpg").write_text("a text file named like a JPEG")
    (root / "bad/truncated.png").write_bytes(truncated((trained_run.data_dir / "0").glob("*.png").__next__().read_bytes()))
    (root / "huge.png").write_bytes(with_declared_png_size(png, 50_000, 50_000))
    return root


def all_files(root: Path) -> set[str]:
    return {str(path) for path in root.rglob("*") if path.is_file()}


def classify(trained_run: TrainedRun, input_dir: Path, output: Path, *extra: object):
    return run_cli(["classify", input_dir, "--model", VGG_MODEL, "--output", output,
                    "--registry", trained_run.registry, "--batch-size", "4", *extra])


def read_rows(output: Path) -> list[dict]:
    return pads.dataset(output, format="parquet").to_table().to_pylist()


def complete_rows(output: Path) -> int:
    """Rows in the Parquet files that read back. Ray Data writes each file under its final name (no temporary
    name, no rename): a file still being written, or cut off by a kill, has no footer yet and is left out."""
    rows = 0
    for path in output.glob("*.parquet"):
        with contextlib.suppress(Exception):
            rows += pq.read_metadata(path).num_rows
    return rows


@pytest.fixture(scope="module")
def classified(trained_run: TrainedRun, input_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    output = tmp_path_factory.mktemp("batch-output") / "parquet"
    return classify(trained_run, input_dir, output, "--show", SHOWN_ROWS), output


def test_one_row_per_file_and_a_summary(classified, input_dir: Path) -> None:
    result, output = classified
    assert result.exit_code == 0, result.stderr
    rows = read_rows(output)
    assert sorted(row["path"] for row in rows) == sorted(all_files(input_dir))
    good = len(all_files(input_dir)) - len(BAD_FILES)
    assert f"classified {len(rows)} files: {good} ok, {len(BAD_FILES)} failed" in result.stdout


def test_show_prints_the_first_rows_of_the_output(classified) -> None:
    """Below a header, one line per row, in the order the Parquet files hold them: the path (its end, when long),
    the label and the score, `-` for an error row's."""
    result, output = classified
    lines = result.stdout.splitlines()
    header = next(index for index, line in enumerate(lines) if line.split() == ["path", "label", "score", "error"])
    printed = [line.split() for line in lines[header + 1:header + 2 + SHOWN_ROWS]]
    rows = read_rows(output)[:SHOWN_ROWS + 1]
    for (path, label, score, *_), row in zip(printed[:SHOWN_ROWS], rows[:SHOWN_ROWS], strict=True):
        assert row["path"].endswith(path) and label == (row["label"] or "-"), (path, label, row)
        assert (score == "-") if row["score"] is None else (float(score) == pytest.approx(row["score"], abs=1e-4))
    assert not rows[SHOWN_ROWS]["path"].endswith(printed[SHOWN_ROWS][0]), "a row more than --show asked for"


def test_bad_files_are_error_rows_naming_the_cause(classified, input_dir: Path) -> None:
    rows = {row["path"]: row for row in read_rows(classified[1])}
    for relative, error_class in BAD_FILES.items():
        row = rows[str(input_dir / relative)]
        assert row["error"].startswith(f"{error_class}: "), row
        assert row["label"] is None and row["score"] is None and row["top_k"] is None
    assert "2500000000 pixels" in rows[str(input_dir / "huge.png")]["error"]  # 50000x50000: refused by Pillow's limit
    assert all(row["error"] is None for path, row in rows.items() if os.path.relpath(path, input_dir) not in BAD_FILES)


def test_parquet_schema_is_the_documented_one(classified) -> None:
    schema = pads.dataset(classified[1], format="parquet").schema
    assert schema.remove_metadata() == output_schema(embeddings=False)


def test_rows_equal_imgclf_predict_on_the_same_files(classified, trained_run: TrainedRun, input_dir: Path) -> None:
    good = sorted(path for path in all_files(input_dir) if os.path.relpath(path, input_dir) not in BAD_FILES)
    predicted = run_cli(["predict", VGG_MODEL, *good, "--json", "--top-k", "3", "--registry", trained_run.registry])
    assert predicted.exit_code == 0, predicted.stderr
    rows = {row["path"]: row for row in read_rows(classified[1])}
    for line in predicted.stdout.splitlines():
        expected = json.loads(line)
        row = rows[expected["path"]]
        assert row["label"] == expected["label"]
        assert [entry["label"] for entry in row["top_k"]] == [entry["label"] for entry in expected["top_k"]]
        assert [entry["score"] for entry in row["top_k"]] == pytest.approx(
            [entry["score"] for entry in expected["top_k"]], abs=1e-5
        )
        assert (row["model"], row["model_version"]) == (expected["model"]["name"], expected["model"]["version"])


def test_embeddings_column_on_request(trained_run: TrainedRun, input_dir: Path, tmp_path: Path) -> None:
    result = classify(trained_run, input_dir / "class-0", tmp_path / "out", "--embeddings")
    assert result.exit_code == 0, result.stderr
    rows = read_rows(tmp_path / "out")
    assert pads.dataset(tmp_path / "out", format="parquet").schema.remove_metadata() == output_schema(embeddings=True)
    assert {len(row["embedding"]) for row in rows} == {512}


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing input", "does not exist or is not a folder"),
        ("unknown model", "no model 'no-such-model'"),
        ("unwritable output", "cannot write to output"),
    ],
)
def test_bad_arguments_fail_before_any_work(trained_run: TrainedRun, input_dir: Path, tmp_path: Path, case: str,
                                            message: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    argv = {
        "missing input": [tmp_path / "nowhere", "--model", VGG_MODEL, "--output", tmp_path / "out"],
        "unknown model": [input_dir, "--model", "no-such-model", "--output", tmp_path / "out"],
        "unwritable output": [input_dir, "--model", VGG_MODEL, "--output", blocker / "out"],
    }[case]
    result = run_cli(["classify", *argv, "--registry", trained_run.registry])
    assert result.exit_code == 2
    assert result.stderr.startswith("imgclf: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.rglob("*.parquet"))


def test_resume_after_a_killed_job_writes_each_file_once(trained_run: TrainedRun, ray_cluster, tmp_path: Path) -> None:
    """Kill a `classify` driver once its first complete Parquet file is there, then --resume: every file exactly once
    (a file the kill cut off is the resume's to delete and redo)."""
    inputs = tmp_path / "inputs"
    for source in sorted(trained_run.data_dir.rglob("*.png")):
        target = inputs / source.relative_to(trained_run.data_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    output = tmp_path / "out"
    argv = [sys.executable, "-m", "imgclf.cli", "classify", str(inputs), "--model", VGG_MODEL, "--output", str(output),
            "--registry", str(trained_run.registry), "--batch-size", "2", "--rows-per-file", "4",
            "--address", ray_cluster.get_runtime_context().gcs_address]
    driver = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + FIRST_FILE_TIMEOUT_S
    while not complete_rows(output) and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)
    log = driver.communicate()[0].decode(errors="replace")
    assert driver.returncode == -signal.SIGKILL, f"the job ended before it was stopped:\n{log[-3000:]}"
    total = len(all_files(inputs))
    partial = complete_rows(output)
    assert 0 < partial < total, f"{partial} of {total} rows in complete files at the kill:\n{log[-3000:]}"

    resumed = run_cli(["classify", inputs, "--model", VGG_MODEL, "--output", output, "--resume",
                       "--registry", trained_run.registry, "--batch-size", "8"])
    assert resumed.exit_code == 0, resumed.stderr
    paths = [row["path"] for row in read_rows(output)]
    assert sorted(paths) == sorted(all_files(inputs))  # every file, none twice
    assert "already in the output" in resumed.stdout

    again = run_cli(["classify", inputs, "--model", VGG_MODEL, "--output", output, "--resume",
                     "--registry", trained_run.registry])
    assert again.exit_code == 0 and f"classified 0 files: 0 ok, 0 failed, {total} already in the output" in again.stdout


def test_real_photos_all_classified(trained_run: TrainedRun, tmp_path: Path) -> None:
    """The real JPEG photos of ../shared/datasets/hymenoptera/val: every one decodes and gets a row."""
    photos = hymenoptera("val")
    result = run_cli(["classify", photos, "--model", VGG_MODEL, "--output", tmp_path / "out",
                      "--registry", trained_run.registry])
    assert result.exit_code == 0, result.stderr
    rows = read_rows(tmp_path / "out")
    assert sorted(row["path"] for row in rows) == sorted(all_files(photos))
    assert [row for row in rows if row["error"]] == []
