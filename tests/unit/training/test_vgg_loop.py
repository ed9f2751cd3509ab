"""The VGG16 training loop: phases, the learning-rate schedule, class weights, label smoothing, early stopping."""

import numpy as np
import pytest

from imgclf.config import AugmentationSettings, VGGSettings
from imgclf.models.keras_api import keras, tf
from imgclf.models.vgg import VGGArchitecture
from imgclf.training.datasets import to_tf_dataset
from imgclf.training.vgg_loop import (
    Phase,
    class_weights,
    learning_rate_at,
    smoothed_sparse_crossentropy,
    train_vgg16,
    training_phases,
)


def test_from_scratch_trains_every_layer_for_all_epochs():
    assert training_phases(VGGSettings(weights="none", epochs=4)) == [Phase("all", 1e-4, 0, 4)]


def test_pretrained_trains_the_head_then_fine_tunes_block5(tmp_path):
    weights = tmp_path / "base.h5"
    weights.write_bytes(b"x")
    settings = VGGSettings(weights=str(weights), epochs=3, fine_tune_epochs=2, learning_rate=1e-3,
                           fine_tune_learning_rate=1e-5)
    assert training_phases(settings) == [Phase("head", 1e-3, 0, 3), Phase("last-block", 1e-5, 3, 5)]


def test_pretrained_without_fine_tuning_is_one_head_phase():
    assert training_phases(VGGSettings(weights="imagenet", epochs=2)) == [Phase("head", 1e-4, 0, 2)]


def test_cosine_schedule_warms_up_then_decays_within_each_phase():
    settings = VGGSettings(weights="none", epochs=5, warmup_epochs=1, schedule="cosine", learning_rate=1e-3)
    phase = training_phases(settings)[0]
    rates = [learning_rate_at(settings, phase, epoch, 0.0) for epoch in range(5)]
    assert rates[0] == pytest.approx(5e-4)  # half the rate during the one warm-up epoch
    assert rates[1] == pytest.approx(1e-3)
    assert rates[1] > rates[2] > rates[3] > rates[4] > 0


def test_plateau_keeps_what_reduce_on_plateau_set_after_the_warm_up():
    settings = VGGSettings(weights="none", epochs=5, warmup_epochs=1, schedule="plateau", learning_rate=1e-3)
    phase = training_phases(settings)[0]
    assert learning_rate_at(settings, phase, 1, 3e-4) == pytest.approx(1e-3)  # first epoch after warm-up: the base
    assert learning_rate_at(settings, phase, 3, 3e-4) == pytest.approx(3e-4)


def test_balanced_class_weights_follow_inverse_frequency():
    labels = np.array([0] * 30 + [1] * 10)
    assert class_weights(VGGSettings(), labels, 2) == {0: pytest.approx(40 / 60), 1: pytest.approx(2.0)}
    assert class_weights(VGGSettings(class_weight="none"), labels, 2) is None


def test_label_smoothing_moves_the_target_towards_uniform():
    probabilities = tf.constant([[0.9, 0.1]])
    plain = float(smoothed_sparse_crossentropy(2, 0.0)(tf.constant([0]), probabilities)[0])
    smoothed = float(smoothed_sparse_crossentropy(2, 0.2)(tf.constant([0]), probabilities)[0])
    assert plain == pytest.approx(-np.log(0.9), rel=1e-5)
    assert smoothed == pytest.approx(-(0.9 * np.log(0.9) + 0.1 * np.log(0.1)), rel=1e-5)


class WeightsEachEpoch(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.snapshots: list[list[np.ndarray]] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.snapshots.append(self.model.get_weights())


def test_early_stopping_ends_training_and_restores_the_best_epoch():
    """Validation labels are the training labels swapped: the better the network fits, the worse its validation
    loss, so training must stop `patience` epochs after the best one and hand back that epoch's weights."""
    images = np.stack([np.full((32, 32, 3), 30, np.uint8)] * 8 + [np.full((32, 32, 3), 220, np.uint8)] * 8)
    labels = np.array([0] * 8 + [1] * 8)
    settings = VGGSettings(weights="none", image_size=32, epochs=12, learning_rate=1e-3, early_stopping_patience=2,
                           warmup_epochs=0, schedule="constant", label_smoothing=0.0)
    keras.utils.set_random_seed(3)
    snapshots = WeightsEachEpoch()
    trained = train_vgg16(
        settings, VGGArchitecture(num_classes=2, image_size=32, head_units=8, dropout=0.0),
        to_tf_dataset(images, labels, batch_size=16, shuffle=True, seed=3,
                      augmentation=AugmentationSettings(translation=0, zoom=0, rotation=0, contrast=0)),
        to_tf_dataset(images, 1 - labels, batch_size=16, shuffle=False, seed=3),
        train_images=len(images), verbose=0, callbacks=[snapshots],
    )
    val_loss = trained.history["val_loss"]
    best = int(np.argmin(val_loss))
    assert trained.history["learning_rate"] == pytest.approx([1e-3] * len(val_loss)) and "lr" not in trained.history
    assert len(val_loss) == best + 1 + settings.early_stopping_patience < settings.epochs, val_loss
    assert trained.best_epoch == best + 1
    for restored, kept in zip(trained.model.get_weights(), snapshots.snapshots[best], strict=True):
        np.testing.assert_array_equal(restored, kept)
    assert any(not np.array_equal(a, b) for a, b in zip(trained.model.get_weights(), snapshots.snapshots[-1]))
