"""One image's answer, as every face renders it."""

import json

import numpy as np

from imgclf.models.prediction import Prediction

LABELS = ("ants", "bees", "wasps")


def test_the_k_best_labels_best_first_ties_in_label_order() -> None:
    prediction = Prediction.from_probabilities(np.array([0.25, 0.5, 0.25], np.float32), LABELS, 2,
                                               model_name="m", model_version="3")
    assert (prediction.label, prediction.label_index, prediction.score) == ("bees", 1, 0.5)
    assert prediction.top_k == (("bees", 0.5), ("ants", 0.25))
    assert list(prediction.scores()) == ["bees", "ants"]


def test_the_json_answer_of_the_api_and_the_cli() -> None:
    prediction = Prediction.from_probabilities(np.array([0.1, 0.2, 0.7], np.float32), LABELS, 5,
                                               model_name="insects-vgg16", model_version="2")
    answer = json.loads(json.dumps(prediction.to_dict()))
    assert answer == {
        "label": "wasps", "score": prediction.score,
        "top_k": [{"label": "wasps", "score": prediction.score}, {"label": "bees", "score": prediction.top_k[1][1]},
                  {"label": "ants", "score": prediction.top_k[2][1]}],
        "model": {"name": "insects-vgg16", "version": "2"},
    }
    assert abs(answer["score"] - 0.7) < 1e-6 and prediction.embedding is None


def test_an_embedding_travels_with_the_prediction() -> None:
    prediction = Prediction.from_probabilities(np.array([1.0, 0.0, 0.0]), LABELS, 1, model_name="m",
                                               model_version="1", embedding=np.array([0.5, -1.0], np.float32))
    assert prediction.embedding == (0.5, -1.0)
