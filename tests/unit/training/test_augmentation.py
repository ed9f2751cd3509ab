"""Training-only random changes: active on training batches, uint8 in and out, absent everywhere else."""

import numpy as np
import pytest

from imgclf.config import AugmentationSettings, VGGSettings
from imgclf.errors import ConfigError
from imgclf.training.augmentation import augmentation_layers
from imgclf.training.datasets import to_tf_dataset

OFF = AugmentationSettings(translation=0, zoom=0, rotation=0, contrast=0)


@pytest.fixture
def images() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8)


def batches(images: np.ndarray, augmentation: AugmentationSettings | None) -> np.ndarray:
    dataset = to_tf_dataset(images, np.zeros(len(images)), batch_size=len(images), shuffle=False, seed=1,
                            augmentation=augmentation)
    return np.concatenate([batch.numpy() for batch, _ in dataset])


def test_training_batches_change_every_epoch_and_stay_uint8(images: np.ndarray) -> None:
    dataset = to_tf_dataset(images, np.zeros(len(images)), batch_size=len(images), shuffle=False, seed=1,
                            augmentation=AugmentationSettings())
    first, second = (next(iter(dataset))[0].numpy() for _ in range(2))
    assert first.dtype == np.uint8 and first.shape == images.shape
    assert not np.array_equal(first, images)
    assert not np.array_equal(first, second)  # new random changes on each pass


def test_without_augmentation_the_images_pass_unchanged(images: np.ndarray) -> None:
    np.testing.assert_array_equal(batches(images, None), images)
    np.testing.assert_array_equal(batches(images, OFF), images)
    assert augmentation_layers(OFF, seed=1) is None and not OFF.active


def test_digits_are_never_mirrored_by_default() -> None:
    assert VGGSettings().augmentation.flip == "none"
    names = [layer.name for layer in augmentation_layers(VGGSettings().augmentation, seed=1).layers]
    assert not any("flip" in name for name in names)
    flipped = augmentation_layers(AugmentationSettings(flip="horizontal"), seed=1).layers
    assert "flip" in flipped[0].name


@pytest.mark.parametrize("flip, axis", [("horizontal", 1), ("vertical", 0)])  # axes of one (height, width, 3) image
def test_a_flip_alone_mirrors_some_images_and_leaves_the_others(images: np.ndarray, flip: str, axis: int) -> None:
    changed = batches(images, AugmentationSettings(flip=flip, translation=0, zoom=0, rotation=0, contrast=0))
    mirrored = [np.array_equal(result, np.flip(original, axis)) for original, result in zip(images, changed)]
    unchanged = [np.array_equal(result, original) for original, result in zip(images, changed)]
    assert all(m or u for m, u in zip(mirrored, unchanged)), "a flip changed an image in another way"
    assert any(mirrored) and any(unchanged), f"mirrored: {mirrored}"  # each image flips with probability ½


@pytest.mark.parametrize("values, message", [
    ({"flip": "sideways"}, r"^augmentation.flip must be one of none, horizontal, vertical"),
    ({"zoom": 0.9}, r"^augmentation.zoom must be a number in \[0, 0.5\]; got 0.9$"),
    ({"rotation": -0.1}, r"^augmentation.rotation must be a number"),
])
def test_bad_settings_are_refused(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AugmentationSettings(**values)
