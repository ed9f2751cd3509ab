"""The public surface of `imgclf` is what `__all__` lists; changing it is a decision, not an accident."""

import imgclf

EXPECTED = {
    "BaselineSettings", "ConfigError", "CorruptImageError", "DatasetError", "DecodeLimits", "EmptyImageError",
    "ImageDecodeError", "ImageTooLargeError", "ImgclfError", "ModelNotFoundError", "ModelRef", "Registry",
    "RegistryError", "SplitSettings", "TrainSettings", "UnsupportedImageError", "VGGSettings", "WeightsError",
    "__version__", "decode_file", "decode_image",
}


def test_all_is_pinned():
    assert set(imgclf.__all__) == EXPECTED


def test_every_name_in_all_exists():
    missing = [name for name in imgclf.__all__ if not hasattr(imgclf, name)]
    assert missing == []


def test_every_error_derives_from_the_base_class():
    errors = [getattr(imgclf, name) for name in imgclf.__all__ if name.endswith("Error")]
    assert errors and all(issubclass(error, imgclf.ImgclfError) for error in errors)
