"""What a newcomer reads: `imgclf train` and `imgclf classify` run as commands, each starting its own Ray, print
their story (epochs, the comparison table, the batch summary) and nothing else: every line has one of the shapes
below, so none of TensorFlow's or Ray's internal noise, nor a traceback, gets through. The step before them,
`imgclf data digits`, writes the dataset and says so in one line."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from utils.datasets import write_digits_subset
from utils.digits_run import DIGIT_CLASSES
from utils.ray_head import VENV_BIN, venv_env

pytestmark = pytest.mark.slow

COMMAND_TIMEOUT_S = 900
DIGITS_PER_CLASS = 8  # what is printed, not what is learned: the fewest images that still give every split
ALL_DIGITS = 1797  # scikit-learn's digits, all of which `imgclf data digits` writes
COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # Ray colours the prefix of its workers' lines, even into a pipe
TIMESTAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
RAY_WORKER = r"\(.+? pid=\d+(?:, ip=[\d.]+)?\) "  # Ray's prefix of a line its worker printed: (RayTrainWorker pid=7)
# Every line a first run may print, by what it is; any other line fails.
LINE_SHAPES = {
    "imgclf's log line": rf"{TIMESTAMP} (INFO|WARNING) imgclf(\.\w+)*: .+",
    "Ray starting its local instance": rf"{TIMESTAMP}\tINFO worker\.py:\d+ -- Started a local Ray instance\..*",
    "a Ray Train worker's epoch": rf"{RAY_WORKER}epoch \d+/\d+ loss=\S+ accuracy=\S+ val_loss=.+",
    "a model actor's backend": rf"{RAY_WORKER}\S+:\d+ runs on \S+ \S+ \(.+\) in this model actor; loaded in .+",
    "Ray Train's notice of a slow resource request, one line (a busy CPU at the start)":
        rf"{RAY_WORKER}Failed to send resource request for \S+\. If this only happens transiently .+",
    "the comparison table": r"\| .+ \|",
    "the report's path": r"report: \S+\.md",
    "the batch summary": r"classified \d+ files: \d+ ok, \d+ failed; .+",
    "a progress bar": r".*\d+%\|.*\|.*",
    "a blank line": r"\s*",
}
KNOWN_LINE = re.compile("|".join(f"(?:{shape})" for shape in LINE_SHAPES.values()))


def imgclf(*argv: object, cwd: Path) -> str:
    """Run the `imgclf` command as a user does; its exit status must be 0; stdout and stderr together."""
    done = subprocess.run([str(VENV_BIN / "imgclf"), *map(str, argv)], cwd=cwd, capture_output=True, text=True,
                          env=venv_env(), timeout=COMMAND_TIMEOUT_S)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def unknown_lines(output: str) -> list[str]:
    """The lines of `output`, colours taken out, that have none of LINE_SHAPES."""
    return [line for line in COLOUR.sub("", output).splitlines() if not KNOWN_LINE.fullmatch(line)]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    work = tmp_path_factory.mktemp("first-run")
    data = write_digits_subset(work / "digits", per_class=DIGITS_PER_CLASS)
    train = imgclf("train", "--data", data, "--name", "first", "--models", "vgg16,knn", "--image-size", "32",
                   "--epochs", "2", "--registry", "registry", "--output", "runs", "--storage-path",
                   work / "ray_results", cwd=work)
    classify = imgclf("classify", data, "--model", "first-vgg16", "--registry", "registry", "--output",
                      "predictions", cwd=work)
    return {"train": train, "classify": classify}


@pytest.mark.parametrize("command", ["train", "classify"])
def test_every_line_is_one_the_first_run_may_print(outputs: dict[str, str], command: str) -> None:
    assert unknown_lines(outputs[command]) == [], outputs[command]


def test_the_line_shapes_refuse_what_a_user_must_not_see() -> None:
    noise = [("\x1b[36m(RayTrainWorker pid=997)\x1b[0m I0000 00:00:1796361556.375684 997 cudart_stub.cc:31] Could not "
              "find cuda drivers on your machine, GPU will not be used."),
             "E0000 00:00:1796361562.339652 22395 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
             "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
             ("(MapWorker(MapBatches(BatchPredictor)) pid=3342) [2026-12-04 05:24:54,296 E 3342 3358] core_worker.cc:2465: "
              "Actor with class name: 'MapWorker' has constructor arguments in the object store and max_restarts > 0."),
             "(TrainController pid=31840) Traceback (most recent call last):",
             "2026-12-04 05:24:06,361 ERROR imgclf.training: the run failed",
             "2026-12-04 05:24:06,361 INFO ray.train: Reporting training result 1"]

    assert unknown_lines("\n".join(noise)) == [COLOUR.sub("", line) for line in noise]


def test_train_tells_one_line_per_epoch_and_ends_with_the_comparison_table(outputs: dict[str, str]) -> None:
    train = outputs["train"]
    assert [int(n) for n in re.findall(r"epoch (\d+)/2 loss=", train)] == [1, 2], train
    table = [line for line in train.splitlines() if line.startswith("| first-")]
    assert [line.split(" | ")[0] for line in table] == ["| first-vgg16", "| first-knn-pixels", "| first-knn-embeddings"]
    assert "Checkpoint successfully created" not in train and "Reporting training result" not in train


def test_classify_ends_with_its_summary(outputs: dict[str, str]) -> None:
    files = len(DIGIT_CLASSES) * DIGITS_PER_CLASS
    assert re.search(rf"classified {files} files: {files} ok, 0 failed", outputs["classify"]), outputs["classify"]


def test_data_digits_writes_every_digit_in_a_folder_per_class(tmp_path: Path) -> None:
    output = imgclf("data", "digits", "data/digits", cwd=tmp_path)

    assert output.splitlines() == [f"wrote {ALL_DIGITS} digit images to data/digits"]
    root = tmp_path / "data" / "digits"
    assert sorted(path.name for path in root.iterdir()) == DIGIT_CLASSES
    files = [path for path in root.rglob("*") if path.is_file()]
    assert len(files) == ALL_DIGITS
    assert all(path.suffix == ".png" and path.parent.parent == root for path in files)
    with Image.open(files[0]) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "RGB", (32, 32))  # the default --size
