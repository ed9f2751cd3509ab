"""The inference runtime table: imgclf's own runtimes, one an installed distribution adds, and what loading a model
asks of the runtime it runs on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imgclf.config import BaselineSettings, backend_names, check_inference_choice
from imgclf.errors import ConfigError
from imgclf.models import artifact
from imgclf.models.artifact import load_classifier, save_estimator_artifact
from imgclf.models.backends import BackendChoice, choose_backend
from imgclf.models.baselines import build_knn
from imgclf.models.card import ModelCard
from imgclf.models.features import PixelFeatures
from imgclf.models.runtimes import RUNTIME_TABLE, inference_runtime
from utils.toy_plugin import NUMPY_RUNTIME, install_toy_plugin


def test_imgclfs_own_runtimes_and_the_backends_settings_may_name() -> None:
    assert RUNTIME_TABLE.names() == ("tensorflow", "openvino", "scikit-learn")
    assert [(r.name, r.needs_tensorflow) for r in RUNTIME_TABLE.entries()] == [
        ("tensorflow", True), ("openvino", False), ("scikit-learn", False)]
    assert backend_names() == ("auto", "tensorflow", "openvino")  # scikit-learn is chosen by the model, never named
    with pytest.raises(ConfigError, match=r"^backend must be one of auto, tensorflow, openvino; got 'scikit-learn'$"):
        check_inference_choice("scikit-learn", None)


def test_a_backend_a_distribution_adds_is_a_choice_and_runs_the_models_own_files(tmp_path: Path) -> None:
    with install_toy_plugin(tmp_path):
        assert inference_runtime("numpy") is NUMPY_RUNTIME
        choice = choose_backend(backend="numpy", precision=None, model_precision="fp32", variants={}, flags=(),
                                has_gpu=True)
    assert choice == BackendChoice("numpy", "fp32", None, "backend numpy was asked for")
    with pytest.raises(ConfigError, match=r"^backend must be one of auto, tensorflow, openvino; got 'numpy'$"):
        choose_backend(backend="numpy", precision=None, model_precision="fp32", variants={}, flags=(), has_gpu=False)


@pytest.mark.parametrize(("backend", "sized"), [("tensorflow", [3]), ("scikit-learn", [])])
def test_tensorflow_is_sized_only_for_a_runtime_that_needs_it(backend: str, sized: list, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list = []
    monkeypatch.setattr(artifact, "configure_tensorflow", calls.append)
    monkeypatch.setattr(artifact, "inference_choice",
                        lambda *args: BackendChoice(backend, "fp32", None, "chosen by the test"))
    features = PixelFeatures(4)
    black_and_white = np.stack([np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 255, np.uint8)])
    estimator = build_knn(BaselineSettings(knn_neighbors=1), 0).fit(features.transform(black_and_white), [0, 1])
    save_estimator_artifact(tmp_path, estimator, features, ModelCard(name="m", kind="knn", labels=("a", "b"),
                                                                     input_size=8))

    assert load_classifier(tmp_path, threads=3).card["inference"]["backend"] == backend
    assert calls == sized
