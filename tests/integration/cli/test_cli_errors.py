"""The `imgclf` command's user errors: exit code 2 and one `imgclf: error:` line, never a traceback; --help works."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from imgclf.cli import main
from imgclf.registry import Registry
from utils.images import write_image

REPO_ROOT = Path(__file__).resolve().parents[3]
IMGCLF = Path(sys.executable).with_name("imgclf")


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The single line the command printed on stderr (asserting it is one `imgclf: error:` line, no traceback)."""
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("imgclf: error: ")
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    return lines[0]


@pytest.fixture
def two_classes(tmp_path: Path) -> Path:
    for label in ("cat", "dog"):
        write_image(tmp_path / "data" / label / "a.png", size=(40, 40))
    return tmp_path / "data"


def train_argv(data: Path, tmp_path: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--registry", str(tmp_path / "registry"), "--output",
            str(tmp_path / "runs"), *extra]


def test_missing_data_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-folder"

    assert main(train_argv(missing, tmp_path)) == 2

    line = error_line(capsys)
    assert str(missing) in line and "does not exist" in line
    assert not (tmp_path / "registry").exists()


def test_data_folder_with_one_class(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_image(tmp_path / "data" / "cat" / "a.png")

    assert main(train_argv(tmp_path / "data", tmp_path)) == 2

    line = error_line(capsys)
    assert "at least 2" in line and "found 1" in line


def test_image_size_not_a_number(two_classes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(train_argv(two_classes, tmp_path, "--image-size", "abc"))

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--image-size" in err and "'abc'" in err
    assert "Traceback" not in err


def test_image_size_out_of_range(two_classes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(train_argv(two_classes, tmp_path, "--image-size", "8")) == 2

    line = error_line(capsys)
    assert re.search(r"image[-_]size must be an integer in \[32, 512\]; got 8$", line), line


def test_weights_file_that_does_not_exist(two_classes: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(train_argv(two_classes, tmp_path, "--weights", "/no/such/file")) == 2

    line = error_line(capsys)
    assert "weights" in line and "/no/such/file" in line


@pytest.fixture
def registry_with_alpha(tmp_path: Path) -> Path:
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    (artifact / "model.json").write_text(json.dumps({"kind": "knn", "labels": ["a", "b"], "input_size": 32}))
    Registry(tmp_path / "registry").register("alpha", artifact)
    return tmp_path / "registry"


def test_predict_with_an_unknown_model_names_the_registrys_models(
    registry_with_alpha: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = write_image(tmp_path / "x.png")

    assert main(["predict", "nosuch", str(image), "--registry", str(registry_with_alpha)]) == 2

    line = error_line(capsys)
    assert "'nosuch'" in line and "models: alpha" in line


def test_predict_with_an_unknown_version_names_the_versions(
    registry_with_alpha: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = write_image(tmp_path / "x.png")

    assert main(["predict", "alpha:7", str(image), "--registry", str(registry_with_alpha)]) == 2

    line = error_line(capsys)
    assert "'7'" in line and "versions: 1" in line and "latest -> 1" in line


@pytest.mark.parametrize(
    "command",
    [[], ["data"], ["data", "digits"], ["train"], ["evaluate"], ["predict"], ["models"], ["models", "list"]],
    ids=lambda command: " ".join(command) or "imgclf",
)
def test_help_of_every_command(command: list[str]) -> None:
    done = subprocess.run([str(IMGCLF), *command, "--help"], capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {' '.join(['imgclf', *command])}")
    assert done.stderr == ""


def test_train_job_help() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "jobs" / "train.py"), "--help"], capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: imgclf train")
    assert "--data" in done.stdout and "--image-size" in done.stdout
