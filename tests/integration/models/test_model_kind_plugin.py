"""A model kind and an inference backend that imgclf does not ship (tests/utils/toy_plugin.py), installed as a
distribution's entry points: `imgclf train --models toy` trains, saves and registers it, the registry's version loads
and predicts on the plugin's backend, and a real Serve app, whose replicas find the plugin on their PYTHONPATH,
answers `/v1/classify` with it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import pytest

from imgclf.config import DecodeLimits
from imgclf.data.decode import decode_file
from imgclf.data.loading import load_images
from imgclf.data.scan import LabelledFile
from imgclf.data.split import Manifest
from imgclf.models.artifact import load_classifier
from imgclf.registry import Registry
from utils.cli import run_cli
from utils.digits_run import DIGIT_CLASSES
from utils.ray_head import ray_head
from utils.serve_app import deploy_app
from utils.toy_plugin import MEANS_FILE, ToyClassifier, install_toy_plugin

pytestmark = pytest.mark.slow
MODEL = "digits-toy"
MIN_ACCURACY = 0.6  # each digit's mean image: about 0.9 on the digits subset, 0.1 by chance


@dataclass(frozen=True)
class ToyRun:
    pythonpath: str  # installs the plugin in Ray workers and Serve replicas
    registry: Path
    run_dir: Path
    data_dir: Path


@pytest.fixture(scope="module")
def toy_run(digits_dir: Path, tmp_path_factory: pytest.TempPathFactory, ray_cluster) -> Iterator[ToyRun]:
    """`imgclf train --models toy` on the digits subset, the plugin installed in this process for the module."""
    root = tmp_path_factory.mktemp("toy")
    with install_toy_plugin(root / "site") as pythonpath:
        result = run_cli(["train", "--data", digits_dir, "--models", "toy", "--image-size", "32", "--name", "digits",
                          "--registry", root / "registry", "--output", root / "runs"])
        assert result.exit_code == 0, result.stderr
        (run_dir,) = (root / "runs").iterdir()
        yield ToyRun(pythonpath, root / "registry", run_dir, digits_dir)


def test_train_registers_the_plugin_kind_with_its_own_files_and_scores(toy_run: ToyRun) -> None:
    folder = Registry(toy_run.registry).local_path(f"{MODEL}:1")
    card = json.loads((folder / "model.json").read_text())
    metrics = json.loads((toy_run.run_dir / "metrics.json").read_text())

    assert (card["kind"], card["labels"], card["input_size"]) == ("toy", DIGIT_CLASSES, 32)
    assert np.load(folder / MEANS_FILE).shape == (len(DIGIT_CLASSES), 32 * 32 * 3)
    assert list(metrics) == [MODEL] and metrics[MODEL]["test"]["accuracy"] >= MIN_ACCURACY
    assert f"`{MODEL}:1`" in (toy_run.run_dir / "report.md").read_text()


def test_the_registered_model_loads_on_the_plugin_backend_and_answers_as_evaluated(toy_run: ToyRun) -> None:
    folder = Registry(toy_run.registry).local_path(f"{MODEL}:1")
    test_rows = Manifest.load(folder / "manifest.csv", DIGIT_CLASSES).subset("test")
    images = load_images(toy_run.data_dir, [LabelledFile(row.path, row.label) for row in test_rows], 32,
                         limits=DecodeLimits(), progress=False).images
    evaluated = json.loads((folder / "metrics.json").read_text())["predictions"]

    classifier = load_classifier(folder)
    assert isinstance(classifier, ToyClassifier)
    assert classifier.card["inference"]["backend"] == "numpy"
    assert classifier.predict_batch(images).argmax(axis=1).tolist() == evaluated


def test_a_serve_app_answers_classify_with_the_plugin_kind(toy_run: ToyRun, tmp_path: Path) -> None:
    digit = sorted((toy_run.data_dir / "7").glob("*.png"))[0]
    expected = load_classifier(Registry(toy_run.registry).local_path(f"{MODEL}:1"))
    expected_label = expected.labels[int(expected.predict_proba([decode_file(digit)]).argmax())]

    with ray_head("/tmp", num_cpus=2) as head:
        app = deploy_app(head, tmp_path, registry=toy_run.registry, model=MODEL,
                         env_vars={"PYTHONPATH": toy_run.pythonpath})
        answer = httpx.post(f"{app.url}/v1/classify", files={"file": (digit.name, digit.read_bytes(), "image/png")},
                            timeout=60)
        listed = httpx.get(f"{app.url}/v1/models", timeout=30).json()["models"]

    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == {"name": MODEL, "version": "1"}
    assert answer.json()["label"] == expected_label
    assert [(m["name"], m["kind"], m["inference"]["backend"]) for m in listed] == [(MODEL, "toy", "numpy")]

