"""Random changes to training batches, as Keras preprocessing layers mapped over the training dataset only.

They never enter the model: the saved network, validation, test and every inference path see images unchanged.
"""

from __future__ import annotations

from imgclf.config import AugmentationSettings
from imgclf.models.keras_api import keras, tf


def augmentation_layers(settings: AugmentationSettings, seed: int) -> keras.Sequential | None:
    """The active changes in a fixed order (flip, rotation, zoom, translation, contrast); None when all are off."""
    layers: list[keras.layers.Layer] = []
    if settings.flip != "none":
        layers.append(keras.layers.RandomFlip(settings.flip, seed=seed))
    if settings.rotation:
        layers.append(keras.layers.RandomRotation(settings.rotation, fill_mode="reflect", seed=seed + 1))
    if settings.zoom:
        layers.append(keras.layers.RandomZoom(settings.zoom, fill_mode="reflect", seed=seed + 2))
    if settings.translation:
        layers.append(keras.layers.RandomTranslation(settings.translation, settings.translation, fill_mode="reflect",
                                                     seed=seed + 3))
    if settings.contrast:
        layers.append(keras.layers.RandomContrast(settings.contrast, seed=seed + 4))
    return keras.Sequential(layers, name="augmentation") if layers else None


def augment(dataset: tf.data.Dataset, settings: AugmentationSettings, seed: int) -> tf.data.Dataset:
    """Batches of (uint8 images, labels) → the same with each image randomly changed, still uint8 in [0, 255]."""
    layers = augmentation_layers(settings, seed)
    if layers is None:
        return dataset

    def changed(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        result = layers(tf.cast(images, tf.float32), training=True)
        return tf.cast(tf.clip_by_value(tf.round(result), 0.0, 255.0), tf.uint8), labels

    return dataset.map(changed, num_parallel_calls=tf.data.AUTOTUNE)
