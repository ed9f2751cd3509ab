"""A loaded model behind one surface: raw RGB uint8 images in, class probabilities out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from imgclf.data.transforms import stack_images
from imgclf.models.calibration import apply_temperature
from imgclf.models.features import FeatureExtractor, predict_in_chunks

if TYPE_CHECKING:
    from imgclf.explanations.neighbours import NeighbourGallery


class Classifier(ABC):
    """Every path (CLI, batch, serving) predicts through this, so the same image gets the same answer.

    The answers are the model's probabilities scaled by its calibration `temperature` (1.0: as the model gives
    them); `uncalibrated_probabilities` is the model's own output. `folder`: the model folder it was loaded from
    (None: trained in this process).
    """

    def __init__(self, *, labels: Sequence[str], input_size: int, card: dict[str, Any], temperature: float = 1.0,
                 folder: Path | None = None) -> None:
        self.labels = tuple(labels)
        self.input_size = input_size
        self.card = card
        self.temperature = temperature
        self.folder = folder

    def predict_proba(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Decoded images of any size → (N, classes) probabilities."""
        return self.predict_batch(stack_images(images, self.input_size))

    def predict_batch(self, batch: np.ndarray) -> np.ndarray:
        """An (N, input_size, input_size, 3) uint8 batch → (N, classes) calibrated probabilities."""
        return apply_temperature(self.uncalibrated_probabilities(batch), self.temperature)

    def embed_and_predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """An (N, input_size, input_size, 3) uint8 batch → ((N, D) float32 embeddings, (N, classes) calibrated
        probabilities), in one pass: the embedding is the vector the classifying layers see."""
        embeddings, probabilities = self.embed_and_uncalibrated(batch)
        return embeddings, apply_temperature(probabilities, self.temperature)

    def uncalibrated_probabilities(self, batch: np.ndarray) -> np.ndarray:
        return self.embed_and_uncalibrated(batch)[1]

    @abstractmethod
    def embed_and_uncalibrated(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`embed_and_predict` before temperature scaling."""


class KerasClassifier(Classifier):
    def __init__(self, model, *, batch_size: int = 32, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.batch_size = batch_size
        self._two_headed = None  # built on first use: (embedding, probabilities) from one forward pass

    def uncalibrated_probabilities(self, batch: np.ndarray) -> np.ndarray:
        return predict_in_chunks(self.model, batch, self.batch_size)

    def embed_and_uncalibrated(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._two_headed is None:
            from imgclf.models.keras_api import keras
            from imgclf.models.vgg import EMBEDDING_LAYER

            embedding = self.model.get_layer(EMBEDDING_LAYER).output
            self._two_headed = keras.Model(self.model.input, [embedding, self.model.output])
        return predict_in_chunks(self._two_headed, batch, self.batch_size)


class OpenVINOClassifier(Classifier):
    """A compiled VGG16 variant whose network answers (embedding, probabilities) in one pass."""

    def __init__(self, network, *, batch_size: int = 32, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.network = network
        self.batch_size = batch_size

    def embed_and_uncalibrated(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return predict_in_chunks(self.network, batch, self.batch_size)


class SklearnClassifier(Classifier):
    """A scikit-learn pipeline on features of the image; `gallery`: its training images, for a KNN's neighbours."""

    def __init__(self, estimator, features: FeatureExtractor, *, gallery: NeighbourGallery | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.estimator = estimator
        self.features = features
        self.gallery = gallery

    def embed_and_uncalibrated(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features = np.asarray(self.features.transform(batch), dtype=np.float32)
        if not len(batch):
            return features, np.empty((0, len(self.labels)), np.float32)
        return features, self.estimator.predict_proba(features).astype(np.float32)
