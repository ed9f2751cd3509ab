"""What a newcomer reads: `imgclf train` and `imgclf classify` run as commands, each starting its own Ray, print
their story (epochs, the comparison table, the batch summary) and none of TensorFlow's or Ray's internal noise."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from utils.datasets import write_digits_subset
from utils.digits_run import DIGIT_CLASSES
from utils.ray_head import VENV_BIN, venv_env

pytestmark = pytest.mark.slow

COMMAND_TIMEOUT_S = 900
DIGITS_PER_CLASS = 8  # what is printed, not what is learned: the fewest images that still give every split
# Lines a first run must never show: TensorFlow's CUDA probing and pre-absl notices, tracebacks, Ray's
# error-level notice about actor restart arguments, the legacy-HDF5 warning.
FORBIDDEN = re.compile(r"E0000|cuInit|Traceback|absl::InitializeLog|cudart_stub"
                       r"|constructor arguments in the object store|HDF5")


def imgclf(*argv: object, cwd: Path) -> str:
    """Run the `imgclf` command as a user does; its exit status must be 0; stdout and stderr together."""
    done = subprocess.run([str(VENV_BIN / "imgclf"), *map(str, argv)], cwd=cwd, capture_output=True, text=True,
                          env=venv_env(), timeout=COMMAND_TIMEOUT_S)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def forbidden_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if FORBIDDEN.search(line)]


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
def test_no_line_shows_an_internal_error_a_traceback_or_cuda_probing(outputs: dict[str, str], command: str) -> None:
    assert forbidden_lines(outputs[command]) == [], outputs[command]


def test_train_tells_one_line_per_epoch_and_ends_with_the_comparison_table(outputs: dict[str, str]) -> None:
    train = outputs["train"]
    assert [int(n) for n in re.findall(r"epoch (\d+)/2 loss=", train)] == [1, 2], train
    table = [line for line in train.splitlines() if line.startswith("| first-")]
    assert [line.split(" | ")[0] for line in table] == ["| first-vgg16", "| first-knn-pixels", "| first-knn-embeddings"]
    assert "Checkpoint successfully created" not in train and "Reporting training result" not in train


def test_classify_ends_with_its_summary(outputs: dict[str, str]) -> None:
    files = len(DIGIT_CLASSES) * DIGITS_PER_CLASS
    assert re.search(rf"classified {files} files: {files} ok, 0 failed", outputs["classify"]), outputs["classify"]
