"""Temperature scaling as every inference path applies it."""

import numpy as np
import pytest

from imgclf.models.calibration import apply_temperature
from imgclf.models.classifier import SklearnClassifier
from imgclf.models.features import PixelFeatures

PROBABILITIES = np.array([[0.7, 0.2, 0.1], [0.05, 0.05, 0.9]], dtype=np.float32)


def test_temperature_one_changes_nothing():
    assert apply_temperature(PROBABILITIES, 1.0) is PROBABILITIES


def test_equals_dividing_the_logits_by_t():
    logits = np.array([[2.0, 0.5, -1.0]])
    softmax = lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(apply_temperature(softmax(logits), 2.5), softmax(logits / 2.5), rtol=1e-6)


@pytest.mark.parametrize("temperature", [0.3, 2.0, 10.0])
def test_rows_stay_distributions_with_the_same_ranking(temperature):
    scaled = apply_temperature(PROBABILITIES, temperature)
    np.testing.assert_allclose(scaled.sum(axis=1), 1.0, rtol=1e-6)
    assert (scaled.argsort(axis=1) == PROBABILITIES.argsort(axis=1)).all()
    top = scaled.max(axis=1)
    assert (top < PROBABILITIES.max(axis=1)).all() if temperature > 1 else (top > PROBABILITIES.max(axis=1)).all()


def test_a_class_given_zero_stays_near_zero():
    scaled = apply_temperature(np.array([[1.0, 0.0]], dtype=np.float32), 2.0)
    assert scaled[0, 1] < 1e-5


class Constant:
    """An estimator whose answer is fixed, so the classifier's own scaling is what the test sees."""

    def predict_proba(self, features):
        return np.tile(PROBABILITIES[:1], (len(features), 1))


def test_the_classifier_scales_predictions_and_embeddings_alike_and_keeps_the_raw_answer():
    classifier = SklearnClassifier(Constant(), PixelFeatures(4), labels=("a", "b", "c"), input_size=8, card={},
                                   temperature=2.0)
    batch = np.zeros((2, 8, 8, 3), np.uint8)
    expected = apply_temperature(PROBABILITIES[[0, 0]], 2.0)
    np.testing.assert_allclose(classifier.predict_batch(batch), expected, rtol=1e-6)
    np.testing.assert_allclose(classifier.embed_and_predict(batch)[1], expected, rtol=1e-6)
    np.testing.assert_allclose(classifier.uncalibrated_probabilities(batch), PROBABILITIES[[0, 0]])
