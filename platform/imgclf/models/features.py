"""Feature sets for the scikit-learn baselines, computed from model-sized RGB uint8 batches."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from tqdm import tqdm

from imgclf.data.transforms import stack_images


def predict_in_chunks(model, batch: np.ndarray, batch_size: int, *, progress: bool = False, desc: str = "predict"):
    """A network's float32 outputs for `batch`, run `batch_size` rows at a time: one array, or a tuple of
    arrays for a network with several outputs. The network is a Keras model or an OpenVINONetwork."""
    outputs = model.outputs
    collected: list[list[np.ndarray]] = [[] for _ in outputs]
    for start in tqdm(range(0, len(batch), batch_size), desc=desc, unit="batch", disable=not progress):
        predicted = model.predict_on_batch(batch[start : start + batch_size])
        for chunks, values in zip(collected, predicted if len(outputs) > 1 else [predicted]):
            chunks.append(np.asarray(values, dtype=np.float32))
    arrays = tuple(
        np.concatenate(chunks) if chunks else np.empty((0, output.shape[-1]), np.float32)
        for chunks, output in zip(collected, outputs)
    )
    return arrays if len(outputs) > 1 else arrays[0]


class FeatureExtractor(Protocol):
    def transform(self, batch: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 → (N, F) float32."""


class PixelFeatures:
    """Downsampled raw pixels scaled to [0, 1]."""

    def __init__(self, size: int) -> None:
        self.size = size

    def transform(self, batch: np.ndarray) -> np.ndarray:
        small = stack_images(list(batch), self.size)
        return small.reshape(len(batch), self.size * self.size * 3).astype(np.float32) / 255.0

    def to_dict(self) -> dict:
        return {"kind": "pixels", "size": self.size}


class EmbeddingFeatures:
    """Pooled output of a VGG16 convolutional base (a Keras model or its compiled variant, raw RGB uint8 in)."""

    def __init__(self, model, *, batch_size: int = 64, progress: bool = False) -> None:
        self.model = model
        self.batch_size = batch_size
        self.progress = progress

    def transform(self, batch: np.ndarray) -> np.ndarray:
        return predict_in_chunks(self.model, batch, self.batch_size, progress=self.progress, desc="embeddings")

    def to_dict(self) -> dict:
        return {"kind": "embeddings", "extractor": "extractor.keras"}
