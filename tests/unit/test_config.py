"""Settings objects: validators with readable messages, nested mappings, YAML and JSON round trips."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from imgclf.config import (
    BaselineSettings,
    DecodeLimits,
    OptimizeSettings,
    SplitSettings,
    TrainSettings,
    VGGSettings,
    check_choice,
    check_fraction,
    check_int_range,
    check_subset,
)
from imgclf.batch.settings import BatchSettings
from imgclf.errors import ConfigError, ImgclfError


def test_config_error_is_a_value_error_and_an_imgclf_error():
    assert issubclass(ConfigError, ValueError)
    assert issubclass(ConfigError, ImgclfError)


# --- validators ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: check_int_range("image_size", "abc", 32, 512), "image_size must be an integer in [32, 512]; got 'abc'"),
        (lambda: check_int_range("image_size", 31, 32, 512), "image_size must be an integer in [32, 512]; got 31"),
        (lambda: check_int_range("image_size", 513, 32, 512), "image_size must be an integer in [32, 512]; got 513"),
        (lambda: check_int_range("epochs", 3.0, 1, 9), "epochs must be an integer in [1, 9]; got 3.0"),
        (lambda: check_int_range("epochs", True, 0, 9), "epochs must be an integer in [0, 9]; got True"),
        (lambda: check_fraction("lr", 0.0), "lr must be a number in (0.0, 1.0); got 0.0"),
        (lambda: check_fraction("lr", 1), "lr must be a number in (0.0, 1.0); got 1"),
        (lambda: check_fraction("lr", "0.1"), "lr must be a number in (0.0, 1.0); got '0.1'"),
        (lambda: check_fraction("lr", False), "lr must be a number in (0.0, 1.0); got False"),
        (lambda: check_choice("precision", "fp16", ("fp32", "bf16")), "precision must be one of fp32, bf16; got 'fp16'"),
        (lambda: check_subset("models", ("knn", "svm"), ("knn", "dt")), "models must be a non-empty subset of knn, dt; got 'knn,svm'"),
        (lambda: check_subset("models", (), ("knn", "dt")), "models must be a non-empty subset of knn, dt; got ''"),
    ],
)
def test_validators_name_the_setting_the_allowed_values_and_what_was_got(call, message):
    with pytest.raises(ConfigError) as info:
        call()

    assert str(info.value) == message


@pytest.mark.parametrize(
    "call",
    [
        lambda: check_int_range("n", 32, 32, 512),
        lambda: check_int_range("n", 512, 32, 512),
        lambda: check_fraction("f", 0.5),
        lambda: check_fraction("f", 1e-9),
        lambda: check_choice("c", "bf16", ("fp32", "bf16")),
        lambda: check_subset("s", ("dt",), ("knn", "dt")),
    ],
)
def test_validators_accept_allowed_values(call):
    assert call() is None


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (lambda: VGGSettings(image_size="abc"), r"^image_size must be an integer in \[32, 512\]; got 'abc'$"),
        (lambda: VGGSettings(epochs=0), r"^epochs must be an integer"),
        (lambda: VGGSettings(batch_size=5000), r"^batch_size must be an integer in \[1, 4096\]"),
        (lambda: VGGSettings(learning_rate=0), r"^learning_rate must be a number"),
        (lambda: VGGSettings(dropout=1.0), r"^dropout must be a number in \[0, 1\); got 1.0$"),
        (lambda: VGGSettings(precision="fp16"), r"^precision must be one of fp32, bf16; got 'fp16'$"),
        (lambda: VGGSettings(weights="/no/such/weights.h5"), r"^weights must be imagenet, none or the path"),
        (lambda: BaselineSettings(feature_sets=("pixels", "hog")), r"^feature_sets must be a non-empty subset"),
        (lambda: BaselineSettings(feature_sets=()), r"^feature_sets must be a non-empty subset"),
        (lambda: BaselineSettings(pixel_size=3), r"^pixel_size must be an integer in \[4, 128\]"),
        (lambda: BaselineSettings(tree_max_depth=0), r"^tree_max_depth must be an integer"),
        (lambda: BaselineSettings(cv_folds=1), r"^cv_folds must be an integer in \[2, 100\]"),
        (lambda: DecodeLimits(max_pixels=0), r"^max_pixels must be an integer"),
        (lambda: SplitSettings(val_fraction=0), r"^val_fraction must be a number in \(0.0, 1.0\); got 0$"),
        (lambda: SplitSettings(test_fraction=1.5), r"^test_fraction must be a number"),
        (lambda: TrainSettings(data_dir="d", models=("vgg16", "resnet")), r"^models must be a non-empty subset"),
        (lambda: OptimizeSettings(precisions=("int4",)), r"^optimize precision must be one of fp32, bf16, int8"),
        (lambda: OptimizeSettings(max_accuracy_drop=101), r"^max_accuracy_drop must be a number of points"),
        (lambda: OptimizeSettings(calibration_images=0), r"^calibration_images must be an integer"),
        (lambda: BatchSettings(input="i", output="o", model="m", backend="onnx"), r"^backend must be one of auto"),
        (lambda: BatchSettings(input="i", output="o", model="m", backend="tensorflow", precision="int8"),
         r"^precision int8 runs only as a compiled OpenVINO variant"),
    ],
)
def test_settings_reject_bad_values_by_name(build, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build()


def test_weights_may_be_an_existing_file(tmp_path):
    weights = tmp_path / "vgg.weights.h5"
    weights.write_bytes(b"\x89HDF")

    settings = VGGSettings(weights=str(weights))

    assert settings.pretrained
    assert not VGGSettings().pretrained
    assert VGGSettings(weights="imagenet").pretrained


@pytest.mark.parametrize(("val_fraction", "test_fraction"), [(0.5, 0.4), (0.45, 0.45), (0.8, 0.15)])
def test_split_fractions_summing_too_high_raise(val_fraction, test_fraction):
    with pytest.raises(ConfigError, match="at least 10% for training") as info:
        SplitSettings(val_fraction=val_fraction, test_fraction=test_fraction)

    assert f"{val_fraction} + {test_fraction}" in str(info.value)


def test_split_fractions_just_under_the_limit_are_allowed():
    settings = SplitSettings(val_fraction=0.45, test_fraction=0.44)

    assert (settings.val_fraction, settings.test_fraction) == (0.45, 0.44)


def test_settings_are_keyword_only_and_frozen():
    with pytest.raises(TypeError):
        SplitSettings(0.1, 0.1)  # type: ignore[misc]
    settings = SplitSettings()
    with pytest.raises(AttributeError):
        settings.seed = 1  # type: ignore[misc]


def test_non_numeric_dropout_raises_config_error_naming_it():
    with pytest.raises(ConfigError, match=r"dropout must be a number in \[0, 1\); got 'abc'"):
        VGGSettings(dropout="abc")


def test_negative_split_seed_raises_config_error():
    with pytest.raises(ConfigError, match="seed"):
        SplitSettings(seed=-1)


# --- TrainSettings ------------------------------------------------------------------------------------------------


def test_name_defaults_to_the_data_folder_name(tmp_path):
    settings = TrainSettings(data_dir=tmp_path / "flowers")

    assert settings.name == "flowers"
    assert TrainSettings(data_dir="x", name="mine").name == "mine"


def test_from_mapping_builds_nested_settings():
    settings = TrainSettings.from_mapping(
        {
            "data_dir": "data/flowers",
            "models": ["knn", "dt"],
            "seed": 3,
            "split": {"val_fraction": 0.2, "seed": 7},
            "vgg": {"image_size": 64, "epochs": 2},
            "baselines": {"feature_sets": ["pixels"], "tree_max_depth": 4},
            "limits": {"max_pixels": 1000},
        }
    )

    assert settings.data_dir == Path("data/flowers")
    assert settings.models == ("knn", "dt")
    assert settings.split == SplitSettings(val_fraction=0.2, seed=7)
    assert settings.vgg == VGGSettings(image_size=64, epochs=2)
    assert settings.baselines == BaselineSettings(feature_sets=("pixels",), tree_max_depth=4)
    assert settings.limits == DecodeLimits(max_pixels=1000)
    assert settings.seed == 3


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"data_dir": "d", "epochs": 3}, "epochs"),
        ({"data_dir": "d", "vgg": {"epoch": 3}}, "vgg.epoch"),
        ({"data_dir": "d", "split": {"ratio": 0.2}}, "split.ratio"),
    ],
)
def test_from_mapping_rejects_an_unknown_key_naming_it(values, key):
    with pytest.raises(ConfigError, match=rf"^unknown setting {re.escape(key)}; expected one of "):
        TrainSettings.from_mapping(values)


def test_from_mapping_lists_the_expected_keys():
    with pytest.raises(ConfigError) as info:
        TrainSettings.from_mapping({"data_dir": "d", "limits": {"pixels": 1}})

    assert str(info.value) == "unknown setting limits.pixels; expected one of max_bytes, max_pixels"


def test_from_mapping_passes_nested_validation_errors_through():
    with pytest.raises(ConfigError, match=r"image_size must be an integer in \[32, 512\]; got 'big'"):
        TrainSettings.from_mapping({"data_dir": "d", "vgg": {"image_size": "big"}})


def test_from_mapping_without_data_dir_raises():
    with pytest.raises(ConfigError, match="data_dir"):
        TrainSettings.from_mapping({"models": ["knn"]})


@pytest.mark.parametrize("section", ["split", "vgg", "baselines", "limits"])
def test_from_mapping_rejects_a_section_that_is_not_a_mapping(section):
    with pytest.raises(ConfigError, match=section):
        TrainSettings.from_mapping({"data_dir": "d", section: 0.2})


def test_to_dict_is_json_serialisable():
    settings = TrainSettings(data_dir=Path("data/flowers"), models=("knn",), cache_dir=Path("/tmp/cache"))

    values = settings.to_dict()

    assert json.loads(json.dumps(values)) == values
    assert values["data_dir"] == "data/flowers"
    assert values["cache_dir"] == "/tmp/cache"
    assert values["models"] == ["knn"]
    assert values["split"] == {"val_fraction": 0.15, "test_fraction": 0.15, "seed": 42}
    assert values["baselines"]["tree_max_depth"] is None


def test_to_dict_round_trips_through_from_mapping():
    settings = TrainSettings(data_dir="d", models=("dt",), vgg=VGGSettings(epochs=9))

    assert TrainSettings.from_mapping(settings.to_dict()) == settings


def test_from_yaml_round_trip(tmp_path):
    settings = TrainSettings(
        data_dir=tmp_path / "data",
        models=("vgg16", "knn"),
        split=SplitSettings(test_fraction=0.2, seed=5),
        vgg=VGGSettings(image_size=96, precision="bf16"),
        baselines=BaselineSettings(feature_sets=("embeddings",), knn_neighbors=7),
    )
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(settings.to_dict()))

    assert TrainSettings.from_yaml(path) == settings


def test_from_yaml_applies_overrides_recursively(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("data_dir: d\nvgg:\n  epochs: 2\n  image_size: 64\n")

    settings = TrainSettings.from_yaml(path, vgg={"epochs": 7}, seed=11)

    assert settings.vgg.epochs == 7
    assert settings.vgg.image_size == 64
    assert settings.seed == 11


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("- just\n- a list\n", "must hold a mapping; got list"),
        ("data_dir: [unclosed\n", "cannot read settings file"),
        ("", "data_dir"),
    ],
    ids=["list", "malformed", "empty"],
)
def test_from_yaml_rejects_bad_files(tmp_path, text, pattern):
    path = tmp_path / "settings.yaml"
    path.write_text(text)

    with pytest.raises(ConfigError, match=pattern):
        TrainSettings.from_yaml(path)


def test_from_yaml_on_a_missing_file_names_it(tmp_path):
    path = tmp_path / "missing.yaml"

    with pytest.raises(ConfigError, match="cannot read settings file") as info:
        TrainSettings.from_yaml(path)

    assert str(path) in str(info.value)


def test_the_shipped_photo_settings_build_and_mirror_only_photos():
    settings = TrainSettings.from_yaml(Path(__file__).resolve().parents[2] / "configs" / "hymenoptera.yaml",
                                       data_dir="photos")
    assert settings.vgg.augmentation.flip == "horizontal" and settings.vgg.image_size == 64
    assert TrainSettings(data_dir="digits").vgg.augmentation.flip == "none"
