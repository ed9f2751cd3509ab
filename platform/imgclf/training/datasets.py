"""In-memory image arrays as batched tf.data pipelines for Keras."""

from __future__ import annotations

import numpy as np

from imgclf.models.keras_api import tf


def to_tf_dataset(
    images: np.ndarray, labels: np.ndarray, *, batch_size: int, shuffle: bool, seed: int
) -> tf.data.Dataset:
    """(uint8 images, int labels) batches; shuffled each epoch with a fixed seed when `shuffle`.

    Auto-sharding is off: under a multi-worker strategy each worker already holds only its own shard.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    dataset = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32))).with_options(options)
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
