"""One image's answer, built once from a probability vector and rendered by every face: `imgclf predict --json`,
the API's JSON, the batch job's Parquet row and the page's label scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


@dataclass(frozen=True)
class Prediction:
    label: str
    label_index: int  # of `label` in the model's labels
    score: float
    top_k: tuple[tuple[str, float], ...]  # the k most probable (label, probability) pairs, best first
    model_name: str
    model_version: str
    probabilities: tuple[float, ...] = ()  # of every label, in the model's label order
    embedding: tuple[float, ...] | None = None  # the image's feature vector, when asked for

    @classmethod
    def from_probabilities(cls, probabilities: np.ndarray, labels: Sequence[str], k: int, *, model_name: str,
                           model_version: str, embedding: np.ndarray | None = None) -> Prediction:
        order = ranking(probabilities)[:k]
        ranked = tuple((labels[index], float(probabilities[index])) for index in order)
        return cls(label=ranked[0][0], label_index=int(order[0]), score=ranked[0][1], top_k=ranked,
                   model_name=model_name, model_version=model_version,
                   probabilities=tuple(np.asarray(probabilities, dtype=np.float64).tolist()),
                   embedding=None if embedding is None else tuple(embedding.tolist()))

    def top_k_rows(self) -> list[dict[str, Any]]:
        return [{"label": label, "score": score} for label, score in self.top_k]

    def to_dict(self) -> dict[str, Any]:
        """The JSON answer of the API and of `imgclf predict --json` (with the image's path added there)."""
        return {"label": self.label, "score": self.score, "top_k": self.top_k_rows(),
                "model": {"name": self.model_name, "version": self.model_version}}

    def scores(self) -> dict[str, float]:
        """{label: probability} of the top k, best first (what Gradio's Label shows)."""
        return dict(self.top_k)


def ranking(probabilities: Sequence[float] | np.ndarray) -> np.ndarray:
    """Label indices from most to least probable; ties keep label order."""
    return np.argsort(-np.asarray(probabilities), kind="stable")
