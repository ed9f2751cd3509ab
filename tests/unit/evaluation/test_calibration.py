"""Expected calibration error, the reliability bins and fitting a temperature."""

import numpy as np
import pytest

from imgclf.evaluation.calibration import (
    calibration_metrics, calibration_note, calibration_report, ece_noise, fit_temperature,
)
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


def calibrated_answers(rows: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two classes; class 0 predicted with a confidence between 0.5 and 1 and right exactly that often."""
    confidence = rng.uniform(0.5, 1.0, rows)
    labels = (rng.random(rows) >= confidence).astype(int)
    return np.stack([confidence, 1 - confidence], axis=1), labels


def test_a_calibrated_models_ece_stays_within_its_noise_95_times_in_100():
    rng = np.random.default_rng(0)
    reports = [calibration_report(*calibrated_answers(60, rng)) for _ in range(400)]
    within = np.mean([report["ece"] <= report["noise"]["p95"] for report in reports])
    assert 0.9 <= within <= 0.99
    assert all(0 < report["noise"]["mean"] < report["noise"]["p95"] for report in reports)


def test_ece_noise_shrinks_with_rows_and_vanishes_for_certain_answers():
    rng = np.random.default_rng(1)
    few, many = ece_noise(rng.uniform(0.5, 1.0, 60)), ece_noise(rng.uniform(0.5, 1.0, 6000))
    assert few["mean"] > 0.08 and many["p95"] < 0.03
    assert ece_noise(np.ones(50)) == {"mean": 0.0, "p95": 0.0}
    confidence = rng.uniform(0.5, 1.0, 60)
    assert ece_noise(confidence) == ece_noise(confidence)  # seeded: the same report twice


def test_the_reports_note_says_whether_each_ece_is_within_its_noise():
    rng = np.random.default_rng(2)
    probabilities, labels = calibrated_answers(60, rng)
    calibrated = calibration_metrics(probabilities, labels, 1.0)
    wrong = calibration_metrics(*overconfident(rows=60), 1.0)
    note = calibration_note({"steady": calibrated, "sure": wrong}, 60).splitlines()
    assert "on these 60 test images" in note[0]
    noise = calibrated["after"]["noise"]["p95"]
    assert note[2] == f"- `steady`: {calibrated['after']['ece']:.4f} (within its noise, {noise:.4f})"
    assert note[3].startswith("- `sure`: ") and "(beyond its noise" in note[3]
