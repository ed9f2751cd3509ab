"""The VGG16 training loop: a function of settings and tf.data datasets, so Ray Train workers can run it as is."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

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
        logs.pop("lr", None)  # Keras' LearningRateScheduler logs the rate as `lr` too: one name for it is enough
        logs["learning_rate"] = float(keras.backend.get_value(self.model.optimizer.learning_rate))
        logs["images_per_second"] = self.train_images / seconds if seconds > 0 else 0.0
        logs["epoch_seconds"] = seconds
        values = " ".join(f"{key}={value:.4g}" for key, value in logs.items())
        LOG.info("epoch %d/%d %s", epoch + 1, self.total_epochs, values)


def compile_model(model: keras.Model, learning_rate: float, label_smoothing: float) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=smoothed_sparse_crossentropy(model.output_shape[-1], label_smoothing),
        metrics=["accuracy"],
    )


def smoothed_sparse_crossentropy(num_classes: int, smoothing: float):
    """Cross-entropy of integer labels against targets smoothed towards uniform by `smoothing` (0: none)."""

    def loss(labels: tf.Tensor, probabilities: tf.Tensor) -> tf.Tensor:
        targets = tf.one_hot(tf.cast(tf.reshape(labels, [-1]), tf.int32), num_classes)
        return keras.losses.categorical_crossentropy(targets, probabilities, label_smoothing=smoothing)

    loss.__name__ = "smoothed_crossentropy"
    return loss


def class_weights(settings: VGGSettings, labels: np.ndarray, num_classes: int) -> dict[int, float] | None:
    """`balanced`: n ÷ (classes × count) per class, as scikit-learn's `class_weight="balanced"`; None for `none`."""
    if settings.class_weight == "none":
        return None
    counts = np.bincount(labels, minlength=num_classes)
    return {index: float(len(labels) / (num_classes * count)) if count else 0.0 for index, count in enumerate(counts)}


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


def learning_rate_at(settings: VGGSettings, phase: Phase, epoch: int, current: float) -> float:
    """The rate of `epoch` (counted from the run's start) in `phase`: a linear warm-up over the phase's first
    `warmup_epochs`, then cosine decay over the rest (`cosine`), the rate ReduceLROnPlateau left (`plateau`),
    or the phase's own rate (`constant`)."""
    done = epoch - phase.first
    warmup = min(settings.warmup_epochs, phase.end - phase.first - 1)
    if done < warmup:
        return phase.learning_rate * (done + 1) / (warmup + 1)
    if settings.schedule == "cosine":
        return phase.learning_rate * 0.5 * (1.0 + math.cos(math.pi * (done - warmup) / (phase.end - phase.first - warmup)))
    if settings.schedule == "plateau" and done > warmup:
        return current
    return phase.learning_rate


def schedule_callbacks(settings: VGGSettings, phase: Phase) -> list[keras.callbacks.Callback]:
    """The phase's learning-rate schedule as Keras' own callbacks."""
    scheduled = keras.callbacks.LearningRateScheduler(
        lambda epoch, current: learning_rate_at(settings, phase, epoch, float(current)))
    if settings.schedule != "plateau":
        return [scheduled]
    patience = max(settings.early_stopping_patience // 2, 2)
    return [scheduled, keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=patience)]


def early_stopping(settings: VGGSettings) -> keras.callbacks.EarlyStopping:
    """Stops after `early_stopping_patience` epochs without a lower validation loss (never, with 0), and puts the
    best epoch's weights back when training ends either way."""
    patience = settings.early_stopping_patience or 10**9
    return keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)


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
    class_weight: dict[int, float] | None = None,
) -> TrainedVGG:
    """Build and fit the model (or resume it from `start`); returns it with its per-epoch history.

    `verbose=1` shows Keras' progress bar; every epoch is also logged as one line either way.
    The returned model carries the weights of `best_epoch`, the one with the lowest validation loss
    among the epochs of the last phase this call trained (Keras' EarlyStopping, which may also end the phase
    early). A resumed run restarts the optimizer's moments. `class_weight` weights each class's loss.
    """
    strategy = strategy or tf.distribute.get_strategy()
    phases = training_phases(settings)
    epochs_done = start.epochs_done if start else 0
    best = early_stopping(settings)
    fit_args: dict[str, Any] = {"validation_data": val_data, "verbose": verbose, "class_weight": class_weight}
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
            compile_model(model, phase.learning_rate, settings.label_smoothing)
        # The logger runs after the schedule (so it shows the epoch's rate) and before early stopping.
        phase_callbacks = [*schedule_callbacks(settings, phase), EpochLogger(train_images, phases[-1].end), best,
                           *callbacks]
        trained = model.fit(train_data, initial_epoch=max(phase.first, epochs_done), epochs=phase.end,
                            callbacks=phase_callbacks, **fit_args)
        for key, values in trained.history.items():
            history.setdefault(key, []).extend(float(value) for value in values)
    return TrainedVGG(model=model, history=history, best_epoch=best.best_epoch + 1)
