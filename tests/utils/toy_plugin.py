"""A model kind and an inference backend from outside imgclf, installed the way a plugin distribution is.

The kind `toy` is a nearest-class-mean classifier on pixels: training stores each class's mean image in
`means.npy`; the backend `numpy` runs those means (a softmax over minus the squared distances). Both are entry
points of a distribution whose `.dist-info` folder `install_toy_plugin` writes; a folder holding it on sys.path
(PYTHONPATH for Ray workers and Serve replicas, with tests/ so that `utils.toy_plugin` imports) is all it takes.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from imgclf.models.artifact import classifier_arguments
from imgclf.models.backends import BackendChoice
from imgclf.models.card import ModelCard, write_card
from imgclf.models.classifier import Classifier
from imgclf.models.kinds import MODEL_KIND_TABLE, ModelKind
from imgclf.models.runtimes import RUNTIME_TABLE, InferenceRuntime

if TYPE_CHECKING:
    from imgclf.training.job import TrainedModel, TrainingJob

TESTS = Path(__file__).resolve().parents[1]
MEANS_FILE = "means.npy"
KIND, BACKEND = "toy", "numpy"
SHARPNESS = 50.0  # how fast the probability falls with the squared distance (pixels in [0, 1])
ENTRY_POINTS = f"""[imgclf.model_kinds]
{KIND} = utils.toy_plugin:TOY_KIND

[imgclf.backends]
{BACKEND} = utils.toy_plugin:NUMPY_RUNTIME
"""


class ClassMeans:
    """The numpy backend's network: (N, side, side, 3) uint8 → ((N, pixels) features, (N, classes) probabilities)."""

    def __init__(self, means: np.ndarray) -> None:
        self.means = means

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features = batch.reshape(len(batch), -1).astype(np.float32) / 255.0
        distances = ((features[:, None, :] - self.means[None]) ** 2).mean(axis=2)
        logits = -SHARPNESS * distances
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return features, (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


class ToyClassifier(Classifier):
    def __init__(self, network: ClassMeans, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.network = network

    def embed_and_uncalibrated(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.network.run(batch)


def train_toy(job: TrainingJob, kinds: tuple[str, ...]) -> list[TrainedModel]:
    """The toy kind's trainer: each class's mean training image."""
    from imgclf.training.job import TrainedModel  # here: a Serve replica importing the kind imports no training code

    images, labels = job.data.split("train")
    features = images.reshape(len(images), -1).astype(np.float32) / 255.0
    means = np.stack([features[labels == index].mean(axis=0) for index in range(len(job.data.classes))])
    card = job.card(job.model_name(KIND), KIND)
    classifier = ToyClassifier(ClassMeans(means), labels=job.data.classes, input_size=card.input_size,
                               card=card.to_dict())
    return [TrainedModel(card, classifier)]


def save_toy(folder: Path, classifier: ToyClassifier, card: ModelCard) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / MEANS_FILE, classifier.network.means)
    write_card(folder, card)


def load_toy(folder: Path, card: ModelCard, choice: BackendChoice, network: ClassMeans | None) -> ToyClassifier:
    """The folder's classifier, running the means the backend loaded."""
    return ToyClassifier(network, **classifier_arguments(card, choice))


def load_means(folder: Path, choice: BackendChoice, threads: int | None) -> ClassMeans:
    del choice, threads
    return ClassMeans(np.load(Path(folder) / MEANS_FILE))


TOY_KIND = ModelKind(name=KIND, trainer="utils.toy_plugin:train_toy", save=save_toy, load=load_toy,
                     network_file=lambda card: None, runtime=BACKEND)
NUMPY_RUNTIME = InferenceRuntime(name=BACKEND, needs_tensorflow=False, network=load_means)


def write_toy_distribution(folder: Path) -> Path:
    """A folder holding the toy plugin's distribution metadata, as `pip install` leaves it in site-packages."""
    info = folder / "imgclf_toy_plugin-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: imgclf-toy-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    return folder


def refresh_tables() -> None:
    importlib.invalidate_caches()
    MODEL_KIND_TABLE.refresh()
    RUNTIME_TABLE.refresh()


@contextlib.contextmanager
def install_toy_plugin(folder: Path) -> Iterator[str]:
    """The toy plugin installed in this process for the duration; yields the PYTHONPATH that installs it in Ray
    workers and Serve replicas."""
    site = str(write_toy_distribution(folder))
    sys.path.insert(0, site)
    refresh_tables()
    try:
        yield f"{site}:{TESTS}"
    finally:
        sys.path.remove(site)
        refresh_tables()
