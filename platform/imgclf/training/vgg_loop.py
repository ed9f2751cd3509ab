"""The VGG16 training loop: a function of settings and tf.data datasets, so Ray Train workers can run it as is."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Sequence

from imgclf.config import VGGSettings
from imgclf.models.keras_api import keras, tf
from imgclf.models.vgg import VGGArchitecture, build_vgg16, load_weights_file, set_trainable_layers

LOG = logging.getLogger("imgclf.training")


@dataclass
class TrainedVGG:
    model: keras.Model
    history: dict[str, list[float]]
    best_epoch: int


class EpochLogger(keras.callbacks.Callback):
    """One log line per epoch: losses, accuracies, the learning rate and training throughput."""

    def __init__(self, train_images: int, total_epochs: int) -> None:
        super().__init__()
        self.train_images = train_images
        self.total_epochs = total_epochs
        self.started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        seconds = time.perf_counter() - self.started
        logs["learning_rate"] = float(keras.backend.get_value(self.model.optimizer.learning_rate))
        logs["images_per_second"] = self.train_images / seconds if seconds > 0 else 0.0
        logs["epoch_seconds"] = seconds
        values = " ".join(f"{key}={value:.4f}" for key, value in logs.items())
        LOG.info("epoch %d/%d %s", epoch + 1, self.total_epochs, values)


class RestoreBestWeights(keras.callbacks.Callback):
    """Keep the weights of the epoch with the lowest validation loss and put them back when training ends."""

    def __init__(self, monitor: str = "val_loss") -> None:
        super().__init__()
        self.monitor = monitor
        self.best = float("inf")
        self.best_epoch = -1
        self.best_weights: list | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is not None and value < self.best:
            self.best, self.best_epoch, self.best_weights = value, epoch, self.model.get_weights()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            LOG.info("restored the weights of epoch %d (%s=%.4f)", self.best_epoch + 1, self.monitor, self.best)


def compile_model(model: keras.Model, learning_rate: float) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


@dataclass(frozen=True)
class Phase:
    """A stretch of epochs [first, end) with the layers that train and their learning rate."""

    layers: str
    learning_rate: float
    first: int
    end: int


@dataclass(frozen=True)
class TrainingState:
    """Where a resumed run starts: epochs already done, their history, and the weights they left."""

    epochs_done: int
    history: dict[str, list[float]]
    weights_path: str


def training_phases(settings: VGGSettings) -> list[Phase]:
    """Pretrained: head only, then optionally block5 at the fine-tune rate. From scratch: every layer."""
    if not settings.pretrained:
        return [Phase("all", settings.learning_rate, 0, settings.epochs)]
    phases = [Phase("head", settings.learning_rate, 0, settings.epochs)]
    if settings.fine_tune_epochs:
        end = settings.epochs + settings.fine_tune_epochs
        phases.append(Phase("last-block", settings.fine_tune_learning_rate, settings.epochs, end))
    return phases


def train_vgg16(
    settings: VGGSettings,
    architecture: VGGArchitecture,
    train_data: tf.data.Dataset,
    val_data: tf.data.Dataset,
    *,
    train_images: int,
    strategy: tf.distribute.Strategy | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 1,
    start: TrainingState | None = None,
) -> TrainedVGG:
    """Build and fit the model (or resume it from `start`); returns it with its per-epoch history.

    `verbose=1` shows Keras' progress bar; every epoch is also logged as one line either way.
    The returned model carries the weights of `best_epoch`, the one with the lowest validation loss
    among the epochs this call trained. A resumed run restarts the optimizer's moments.
    """
    strategy = strategy or tf.distribute.get_strategy()
    phases = training_phases(settings)
    epochs_done = start.epochs_done if start else 0
    best = RestoreBestWeights()
    fit_args: dict[str, Any] = {
        "validation_data": val_data,
        "callbacks": [EpochLogger(train_images, phases[-1].end), best, *callbacks],
        "verbose": verbose,
    }
    with strategy.scope():
        model = build_vgg16(architecture, weights="none" if start else settings.weights)
        if start:
            load_weights_file(model, start.weights_path)
    history: dict[str, list[float]] = {key: list(values) for key, values in (start.history if start else {}).items()}
    for phase in phases:
        if phase.end <= epochs_done:
            continue
        with strategy.scope():
            set_trainable_layers(model, phase.layers)
            compile_model(model, phase.learning_rate)
        trained = model.fit(train_data, initial_epoch=max(phase.first, epochs_done), epochs=phase.end, **fit_args)
        for key, values in trained.history.items():
            history.setdefault(key, []).extend(float(value) for value in values)
    return TrainedVGG(model=model, history=history, best_epoch=best.best_epoch + 1)
