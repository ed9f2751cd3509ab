"""Session fixtures for integration tests: a small digits dataset and one real training run over it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from imgclf.data.digits import write_digits
from utils.cli import run_cli
from utils.datasets import write_digits_subset
from utils.digits_run import DIGITS_PER_CLASS, LEARNED_EPOCHS, RUN_NAME, LearnedRun, TrainedRun, add_bad_files


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 25 digits of each class as 32×32 RGB PNGs, a folder per class (250 images)."""
    return write_digits_subset(tmp_path_factory.mktemp("data") / "digits", per_class=DIGITS_PER_CLASS)


@pytest.fixture(scope="session")
def trained_run(digits_dir: Path, tmp_path_factory: pytest.TempPathFactory, ray_cluster) -> TrainedRun:
    """`imgclf train` of vgg16 + knn + dt on pixels and embeddings, 32 px, 1 epoch: once per session.

    The data is the digits subset plus a truncated PNG and a text file named .jpg; the embedding cache goes
    to a temporary folder through a `--config` settings file, the registry and reports to temporary folders.
    """
    root = tmp_path_factory.mktemp("trained")
    data_dir = root / "digits"
    shutil.copytree(digits_dir, data_dir)
    add_bad_files(data_dir)
    cache_dir = root / "cache"
    config = root / "settings.yaml"
    config.write_text(yaml.safe_dump({"cache_dir": str(cache_dir), "cluster": {"storage_path": str(root / "ray_results")}}))
    registry, output = root / "registry", root / "runs"
    result = run_cli(
        ["train", "--data", data_dir, "--config", config, "--image-size", "32", "--epochs", "1",
         "--registry", registry, "--output", output, "--name", RUN_NAME]
    )
    runs = sorted(p for p in output.iterdir() if p.is_dir()) if output.is_dir() else []
    assert len(runs) == 1, f"expected one run folder in {output}; got {runs}\nstderr:\n{result.stderr}"
    return TrainedRun(data_dir, registry, output, cache_dir, config, runs[0], result)


@pytest.fixture(scope="session")
def learned_run(tmp_path_factory: pytest.TempPathFactory, ray_cluster) -> LearnedRun:
    """VGG16 trained on all 1,797 digits at 32 px with `--optimize int8,fp32`: once per session, for the tests that
    need a model whose labels mean something (compiled variants, bf16)."""
    root = tmp_path_factory.mktemp("learned")
    data = root / "digits"
    write_digits(data)
    result = run_cli(["train", "--data", data, "--name", RUN_NAME, "--models", "vgg16", "--image-size", "32",
                      "--epochs", LEARNED_EPOCHS, "--registry", root / "registry", "--output", root / "runs",
                      "--storage-path", root / "ray_results", "--optimize", "int8,fp32"])
    assert result.exit_code == 0, result.stderr
    return LearnedRun(root / "registry", data, result.stdout)
