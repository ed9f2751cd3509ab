"""In-memory image arrays as batched tf.data pipelines for Keras."""

from __future__ import annotations

import numpy as np

from imgclf.config import AugmentationSettings
from imgclf.models.keras_api import tf
from imgclf.training.augmentation import augment


def to_tf_dataset(
    images: np.ndarray, labels: np.ndarray, *, batch_size: int, shuffle: bool, seed: int,
    augmentation: AugmentationSettings | None = None,
) -> tf.data.Dataset:
    """(uint8 images, int labels) batches; shuffled each epoch with a fixed seed when `shuffle`; randomly changed
    by `augmentation` when given (training data only).

    Auto-sharding is off: under a multi-worker strategy each worker already holds only its own shard.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    dataset = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32))).with_options(options)
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if augmentation is not None:
        dataset = augment(dataset, augmentation, seed)
    return dataset.prefetch(tf.data.AUTOTUNE)
