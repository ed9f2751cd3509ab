"""Metrics against hand-computed values, and timing with a fake predict."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from imgclf.errors import ConfigError
from imgclf.evaluation import metrics
from imgclf.evaluation.metrics import classification_metrics, time_per_image

LABELS = ("a", "b", "c")
# confusion (rows true, cols predicted): [[2, 1, 0], [0, 1, 1], [2, 0, 2]]
Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
Y_PRED = np.array([0, 0, 1, 1, 2, 2, 2, 0, 0])


def one_hot_probabilities(predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """0.7 on the predicted class, the rest shared evenly."""
    probabilities = np.full((len(predicted), n_classes), 0.3 / (n_classes - 1))
    probabilities[np.arange(len(predicted)), predicted] = 0.7
    return probabilities


def assert_plain_json(value: object) -> None:
    """Only dict/list/str/int/float/None/bool all the way down, and json.dumps accepts it."""
    json.dumps(value)
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str
            assert_plain_json(item)
    elif isinstance(value, list):
        for item in value:
            assert_plain_json(item)
    else:
        assert value is None or type(value) in (str, int, float, bool), type(value)


@pytest.fixture
def three_class() -> dict:
    return classification_metrics(Y_TRUE, one_hot_probabilities(Y_PRED, 3), LABELS)


def test_three_class_counts_and_accuracy(three_class: dict) -> None:
    assert three_class["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [2, 0, 2]]
    assert three_class["accuracy"] == pytest.approx(5 / 9)
    assert three_class["n_samples"] == 9


def test_three_class_per_class_scores(three_class: dict) -> None:
    expected = {
        "a": {"precision": 2 / 4, "recall": 2 / 3, "f1": 4 / 7, "support": 3},
        "b": {"precision": 1 / 2, "recall": 1 / 2, "f1": 1 / 2, "support": 2},
        "c": {"precision": 2 / 3, "recall": 2 / 4, "f1": 4 / 7, "support": 4},
    }
    assert list(three_class["per_class"]) == list(LABELS)
    for label, scores in expected.items():
        assert three_class["per_class"][label] == pytest.approx(scores)


def test_three_class_averages(three_class: dict) -> None:
    assert three_class["macro_avg"] == pytest.approx(
        {"precision": 5 / 9, "recall": 5 / 9, "f1": 23 / 42, "support": 9}
    )
    assert three_class["weighted_avg"] == pytest.approx(
        {"precision": 31 / 54, "recall": 5 / 9, "f1": 5 / 9, "support": 9}
    )


def test_output_is_plain_json(three_class: dict) -> None:
    assert_plain_json(three_class)


def test_binary_auc_hand_computed() -> None:
    p1 = np.array([0.1, 0.4, 0.35, 0.8])
    result = classification_metrics(np.array([0, 0, 1, 1]), np.column_stack([1 - p1, p1]), ["neg", "pos"])
    roc = result["roc"]
    assert roc["average"] == "binary"
    assert roc["auc"] == pytest.approx(0.75)
    assert roc["per_class"]["pos"]["auc"] == pytest.approx(0.75)
    assert roc["per_class"]["neg"]["auc"] == pytest.approx(0.75)
    curve = roc["per_class"]["pos"]
    assert curve["fpr"][0] == 0.0 and curve["tpr"][-1] == 1.0
    assert len(curve["fpr"]) == len(curve["tpr"])


def test_binary_perfectly_separated_auc_is_one() -> None:
    p1 = np.array([0.05, 0.2, 0.3, 0.6, 0.9])
    result = classification_metrics(np.array([0, 0, 0, 1, 1]), np.column_stack([1 - p1, p1]), ["x", "y"])
    assert result["roc"]["auc"] == pytest.approx(1.0)
    assert result["accuracy"] == 1.0


def test_multiclass_auc_is_macro_one_vs_rest() -> None:
    rng = np.random.default_rng(42)
    y_true = np.tile(np.arange(3), 10)
    probabilities = rng.dirichlet(np.ones(3), size=len(y_true))
    roc = classification_metrics(y_true, probabilities, LABELS)["roc"]
    assert roc["average"] == "macro-ovr"
    per_class = [roc["per_class"][label]["auc"] for label in LABELS]
    assert roc["auc"] == pytest.approx(np.mean(per_class))
    expected = roc_auc_score(y_true, probabilities, multi_class="ovr", average="macro")
    assert roc["auc"] == pytest.approx(expected)


def test_absent_class_gets_no_auc() -> None:
    y_true = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1]])
    result = classification_metrics(y_true, probabilities, LABELS)
    absent = result["roc"]["per_class"]["c"]
    assert absent == {"auc": None, "fpr": [], "tpr": []}
    defined = [result["roc"]["per_class"][label]["auc"] for label in ("a", "b")]
    assert None not in defined
    assert result["roc"]["auc"] == pytest.approx(np.mean(defined))
    assert result["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert result["confusion_matrix"][2] == [0, 0, 0]
    assert_plain_json(result)


def test_single_present_class_gives_no_auc_at_all() -> None:
    result = classification_metrics(np.array([1, 1]), np.array([[0.2, 0.8], [0.6, 0.4]]), ["x", "y"])
    assert result["roc"]["auc"] is None
    assert result["accuracy"] == 0.5


@pytest.mark.parametrize(
    ("y_true", "probabilities", "labels", "fragment"),
    [
        (np.array([0, 1, 0]), np.full((2, 2), 0.5), ["x", "y"], "(3, 2)"),
        (np.array([0, 1]), np.full((2, 3), 1 / 3), ["x", "y"], "got (2, 3)"),
        (np.array([[0, 1]]), np.full((2, 2), 0.5), ["x", "y"], "1-D"),
        (np.array([0, 2]), np.full((2, 2), 0.5), ["x", "y"], "[0, 1]"),
        (np.array([0]), np.full((1, 1), 1.0), ["x"], "at least 2"),
    ],
)
def test_bad_inputs_raise_config_error(
    y_true: np.ndarray, probabilities: np.ndarray, labels: list[str], fragment: str
) -> None:
    with pytest.raises(ConfigError, match="got") as caught:
        classification_metrics(y_true, probabilities, labels)
    assert fragment in str(caught.value)


class Clock:
    """A perf_counter that only a FakeModel moves: timings that do not depend on how busy the CPU is."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


class FakeModel:
    """Records the batch size of every call and takes a fixed time per call: slept, or added to a fake clock."""

    def __init__(self, seconds: float, clock: Clock | None = None) -> None:
        self.seconds = seconds
        self.clock = clock
        self.batch_sizes: list[int] = []

    def predict(self, images: np.ndarray) -> np.ndarray:
        self.batch_sizes.append(len(images))
        if self.clock:
            self.clock.now += self.seconds
        else:
            time.sleep(self.seconds)
        return np.zeros((len(images), 2))


def test_time_per_image_calls_and_values(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(metrics, "time", clock)
    model = FakeModel(seconds=0.002, clock=clock)
    images = np.zeros((10, 8, 8, 3), dtype=np.uint8)
    timing = time_per_image(model.predict, images, batch_size=4, repeats=3)
    assert set(timing) == {"single_ms", "batch_ms_per_image", "batch_size"}
    assert timing["batch_size"] == 4
    assert model.batch_sizes == [1] + [1] * 3 + [4] * 3
    assert timing["single_ms"] == pytest.approx(2.0)
    assert timing["batch_ms_per_image"] == pytest.approx(2.0 / 4)
    assert_plain_json(timing)


def test_time_per_image_batch_capped_at_image_count() -> None:
    model = FakeModel(seconds=0.0)
    timing = time_per_image(model.predict, np.zeros((3, 4, 4, 3), dtype=np.uint8), batch_size=32, repeats=2)
    assert timing["batch_size"] == 3
    assert max(model.batch_sizes) == 3
    assert timing["single_ms"] > 0 and timing["batch_ms_per_image"] > 0


def test_time_per_image_rejects_empty_images() -> None:
    with pytest.raises(ConfigError, match="non-empty"):
        time_per_image(FakeModel(0.0).predict, np.zeros((0, 4, 4, 3), dtype=np.uint8))
