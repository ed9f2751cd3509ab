"""Explain one image's answer with the model kind's own explainer: every face calls this."""

from __future__ import annotations

import numpy as np

from imgclf.data.transforms import resize_image
from imgclf.errors import ExplanationError, UnknownClassError
from imgclf.explanations.explanation import Explainer, Explanation
from imgclf.models.classifier import Classifier
from imgclf.models.kinds import model_kind


def explainer_of(classifier: Classifier) -> Explainer:
    """The explainer of the classifier's kind; ExplanationError when its kind has none."""
    kind = model_kind(classifier.card.get("kind", ""))
    if kind.explainer is None:
        raise ExplanationError(f"models of kind {kind.name} give no explanations")
    return kind.explainer


def class_index_of(classifier: Classifier, label: str | None, probabilities: np.ndarray) -> int:
    """The index of `label`, or of the predicted label for None; UnknownClassError naming the classes otherwise."""
    if label is None:
        return int(np.argmax(probabilities))
    if label not in classifier.labels:
        raise UnknownClassError(f"unknown class {label!r}; this model's classes are {', '.join(classifier.labels)}")
    return classifier.labels.index(label)


def explain(classifier: Classifier, image: np.ndarray, label: str | None = None, *, model_name: str,
            model_version: str) -> Explanation:
    """Why the model answers what it does for `image` (RGB uint8, any size), explained for `label` (default: the
    predicted one)."""
    explainer = explainer_of(classifier)
    sized = resize_image(image, classifier.input_size)
    probabilities = classifier.predict_batch(sized[np.newaxis])[0]
    index = class_index_of(classifier, label, probabilities)
    parts = explainer.explain(classifier, sized, index)
    return Explanation(model_name=model_name, model_version=model_version, kind=classifier.card.get("kind", ""),
                       predicted=classifier.labels[int(np.argmax(probabilities))], label=classifier.labels[index],
                       label_index=index, score=float(probabilities[index]), parts=parts)


def explanation_info(classifier: Classifier) -> dict[str, str] | None:
    """What GET /v1/models says of a model's explanations: the method and what computes it; None without one."""
    try:
        explainer = explainer_of(classifier)
    except ExplanationError:
        return None
    return {"method": explainer.method, "runs_on": explainer.runs_on(classifier)}
