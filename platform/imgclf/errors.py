"""Every error imgclf raises on purpose, under one base class.

    ImgclfError
    ├── ConfigError            a setting or command-line value is not allowed
    ├── DatasetError           a data folder cannot be used (missing, < 2 classes, empty class)
    ├── ImageDecodeError       bytes that cannot become an RGB image (names the source and the cause)
    │   ├── EmptyImageError        zero bytes
    │   ├── UnsupportedImageError  not an image, or a format Pillow cannot read
    │   ├── CorruptImageError      a known format, but truncated or damaged
    │   ├── ImageTooLargeError     more pixels (or bytes) than the configured limit
    │   └── InputNotAllowedError   a batch input file that resolves outside the allowed roots
    ├── ExplanationError       no explanation for that: a kind without one, or explanations switched off
    │   └── UnknownClassError      a class name the model does not know
    ├── WeightsError           pretrained weights are unavailable or do not fit the model
    └── RegistryError          a model registry cannot be read or written
        └── ModelNotFoundError     no such model, version or alias
"""

from __future__ import annotations


class ImgclfError(Exception):
    """Base class of every error imgclf raises on purpose."""


class ConfigError(ImgclfError, ValueError):
    """A setting or command-line value is not allowed."""


class DatasetError(ImgclfError):
    """A data folder cannot be used for training or evaluation."""


class ImageDecodeError(ImgclfError):
    """Bytes that cannot be turned into an RGB image."""

    def __init__(self, source: str, cause: str) -> None:
        self.source = source
        self.cause = cause
        super().__init__(f"{source}: {cause}")


class EmptyImageError(ImageDecodeError):
    """The input holds zero bytes."""


class UnsupportedImageError(ImageDecodeError):
    """The input is not an image in a format we read."""


class CorruptImageError(ImageDecodeError):
    """The input claims a known image format but is truncated or damaged."""


class ImageTooLargeError(ImageDecodeError):
    """The image declares more pixels than the configured limit."""


class InputNotAllowedError(ImageDecodeError):
    """A batch input file that resolves outside the allowed roots (a symlink pointing out of them)."""


class ExplanationError(ImgclfError, ValueError):
    """An explanation cannot be given: a model kind that explains nothing, or explanations switched off."""


class UnknownClassError(ExplanationError):
    """A class name the model does not know (the message names its classes)."""


class WeightsError(ImgclfError):
    """Pretrained weights are unavailable or do not fit the model."""


class RegistryError(ImgclfError):
    """A model registry cannot be read or written."""


class ModelNotFoundError(RegistryError):
    """No model, version or alias by that name."""


class ModelNotLoadedError(ImgclfError):
    """A serving replica was asked to classify before its user_config named a model."""


class ModelNotServedError(ImgclfError):
    """A request named a model that the serving deployment does not serve."""


class ArtifactError(RegistryError):
    """A model folder's card (model.json) cannot be read, or names a field that is unknown or leaves one out."""
