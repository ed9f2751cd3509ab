"""Expected calibration error, the reliability bins and fitting a temperature."""

import numpy as np
import pytest

from imgclf.evaluation.calibration import calibration_metrics, calibration_report, fit_temperature
from imgclf.models.calibration import apply_temperature


def overconfident(rows: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes, answers 99% sure, right only 80% of the time."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, rows)
    predicted = np.where(rng.random(rows) < 0.8, labels, 1 - labels)
    probabilities = np.where(np.eye(2)[predicted] == 1, 0.99, 0.01)
    return probabilities, labels


def test_ece_of_a_perfectly_calibrated_answer_is_zero():
    probabilities = np.array([[0.75, 0.25]] * 4)
    report = calibration_report(probabilities, np.array([0, 0, 0, 1]))
    assert report["ece"] == pytest.approx(0.0)
    assert report["bins"] == [{"lower": pytest.approx(0.7333, abs=1e-3), "upper": pytest.approx(0.8),
                               "count": 4, "accuracy": 0.75, "confidence": 0.75}]


def test_ece_is_the_gap_between_confidence_and_accuracy():
    probabilities, labels = overconfident()
    accuracy = (probabilities.argmax(axis=1) == labels).mean()
    assert calibration_report(probabilities, labels)["ece"] == pytest.approx(0.99 - accuracy, abs=1e-9)


def test_the_fitted_temperature_softens_overconfidence_and_lowers_ece():
    probabilities, labels = overconfident()
    temperature = fit_temperature(probabilities, labels)
    assert temperature > 1.5
    metrics = calibration_metrics(probabilities, labels, temperature)
    assert metrics["after"]["ece"] < 0.02 < metrics["before"]["ece"]
    assert metrics["after"]["nll"] < metrics["before"]["nll"]
    scaled = apply_temperature(probabilities, temperature)
    assert scaled.max(axis=1).mean() == pytest.approx(0.8, abs=0.02)  # confidence now matches the accuracy


def test_underconfidence_gets_a_temperature_below_one():
    probabilities, labels = overconfident()
    right = probabilities.argmax(axis=1) == labels
    timid = np.where(np.eye(2)[labels] == 1, 0.6, 0.4)[right]
    assert fit_temperature(timid, labels[right]) < 0.5


def test_no_rows_means_no_scaling():
    assert fit_temperature(np.empty((0, 3)), np.empty(0, dtype=int)) == 1.0
