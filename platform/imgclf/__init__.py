"""imgclf: image classification on Ray — train, evaluate, classify in batch, serve."""

from imgclf.config import BaselineSettings, DecodeLimits, SplitSettings, TrainSettings, VGGSettings
from imgclf.data.decode import decode_file, decode_image
from imgclf.errors import (
    ConfigError,
    CorruptImageError,
    DatasetError,
    EmptyImageError,
    ImageDecodeError,
    ImageTooLargeError,
    ImgclfError,
    ModelNotFoundError,
    RegistryError,
    UnsupportedImageError,
    WeightsError,
)
from imgclf.registry import ModelRef, Registry

__version__ = "0.1.0"

__all__ = [
    "BaselineSettings",
    "ConfigError",
    "CorruptImageError",
    "DatasetError",
    "DecodeLimits",
    "EmptyImageError",
    "ImageDecodeError",
    "ImageTooLargeError",
    "ImgclfError",
    "ModelNotFoundError",
    "ModelRef",
    "Registry",
    "RegistryError",
    "SplitSettings",
    "TrainSettings",
    "UnsupportedImageError",
    "VGGSettings",
    "WeightsError",
    "__version__",
    "decode_file",
    "decode_image",
]
