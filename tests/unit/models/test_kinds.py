"""The model kind table: imgclf's own kinds, kinds that installed distributions add through entry points, and the
vocabulary configuration reads from it."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest

from imgclf.config import TrainSettings, backend_names, check_inference_choice
from imgclf.errors import ArtifactError, ConfigError
from imgclf.models.artifact import load_classifier
from imgclf.models.baselines import DECISION_TREE, KNN, search_of
from imgclf.models.card import ModelCard, read_card
from imgclf.models.kinds import model_kind, model_kind_names
from imgclf.models.vgg_kind import VGG16
from utils.toy_plugin import TOY_KIND, ClassMeans, ToyClassifier, install_toy_plugin, refresh_tables

BUILTIN_KINDS = ("vgg16", "knn", "dt")


def install(folder: Path, entry_points: str, modules: dict[str, str] | None = None) -> None:
    """A distribution with these entry points (and these module files) in `folder`, put on sys.path."""
    info = folder / "extra_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: extra-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)
    for name, text in (modules or {}).items():
        (folder / f"{name}.py").write_text(text)
    sys.path.insert(0, str(folder))
    refresh_tables()


@pytest.fixture
def extra_site(tmp_path: Path):
    """A folder for one more distribution, taken off sys.path (and its modules forgotten) after the test."""
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [name for name, module in sys.modules.items()
                 if str(getattr(module, "__file__", "") or "").startswith(str(tmp_path))]:
        del sys.modules[name]
    refresh_tables()


def test_imgclfs_own_kinds_are_the_table_and_the_vocabulary() -> None:
    assert model_kind_names() == BUILTIN_KINDS
    assert model_kind_names() == BUILTIN_KINDS
    assert [model_kind(name) for name in BUILTIN_KINDS] == [VGG16, KNN, DECISION_TREE]
    assert TrainSettings(data_dir=Path("data")).models == BUILTIN_KINDS  # the default: every kind


def test_an_unknown_kind_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"^model kind must be one of vgg16, knn, dt; got 'svm'$"):
        model_kind("svm")
    with pytest.raises(ConfigError, match=r"^models must be a non-empty subset of vgg16, knn, dt; got 'svm'"):
        TrainSettings(data_dir=Path("data"), models=("svm",))


def test_an_installed_distribution_adds_its_kind_and_backend_everywhere_they_are_named(tmp_path: Path) -> None:
    with install_toy_plugin(tmp_path):
        assert model_kind_names() == (*BUILTIN_KINDS, "toy")
        assert model_kind("toy") is TOY_KIND
        assert TrainSettings(data_dir=Path("data"), models=["toy"]).models == ("toy",)
        assert backend_names() == ("auto", "tensorflow", "openvino", "numpy")
        check_inference_choice("numpy", "fp32")
    assert "toy" not in model_kind_names() and "numpy" not in backend_names()
    with pytest.raises(ConfigError, match="must be a non-empty subset of vgg16, knn, dt; got 'toy'"):
        TrainSettings(data_dir=Path("data"), models=["toy"])


def test_a_kinds_module_is_imported_when_the_kind_is_looked_up_not_when_kinds_are_listed(extra_site: Path) -> None:
    install(extra_site, "[imgclf.model_kinds]\nlazy = lazy_kind:KIND\n",
            {"lazy_kind": "from utils.toy_plugin import TOY_KIND\nimport dataclasses\n"
                          "KIND = dataclasses.replace(TOY_KIND, name='lazy')\n"})

    assert "lazy" in model_kind_names()
    assert "lazy_kind" not in sys.modules
    assert model_kind("lazy").name == "lazy"
    assert "lazy_kind" in sys.modules


def test_a_distribution_cannot_replace_one_of_imgclfs_kinds(extra_site: Path, caplog) -> None:
    install(extra_site, "[imgclf.model_kinds]\nvgg16 = utils.toy_plugin:TOY_KIND\n")

    with caplog.at_level(logging.WARNING, logger="imgclf"):
        assert model_kind_names() == BUILTIN_KINDS
    assert model_kind("vgg16") is VGG16
    assert "ignoring model kind 'vgg16' of utils.toy_plugin:TOY_KIND: imgclf has its own" in caplog.messages


@pytest.mark.parametrize(("entry", "message"), [
    ("broken = utils.toy_plugin:ClassMeans", r"model kind 'broken' \(utils.toy_plugin:ClassMeans\) must be a "
                                             r"ModelKind named 'broken'; got <class"),
    ("broken = utils.toy_plugin:TOY_KIND", r"must be a ModelKind named 'broken'; got ModelKind\(name='toy'"),
    ("broken = no_such_module:KIND", r"^model kind 'broken' \(no_such_module:KIND\) cannot be loaded: No module"),
])
def test_an_entry_that_is_not_a_kind_of_its_name_is_a_config_error(extra_site: Path, entry: str, message: str) -> None:
    install(extra_site, f"[imgclf.model_kinds]\n{entry}\n")

    with pytest.raises(ConfigError, match=message):
        model_kind("broken")


def test_the_baseline_search_knows_the_kinds_that_are_baselines(tmp_path: Path) -> None:
    with install_toy_plugin(tmp_path):
        assert search_of("knn") is KNN.baseline and search_of("dt") is DECISION_TREE.baseline
        with pytest.raises(ConfigError, match=r"^kind must be one of knn, dt; got 'toy'$"):
            search_of("toy")


def test_a_plugin_kind_saves_and_loads_through_its_own_backend(tmp_path: Path, seed: int) -> None:
    labels = ("dark", "light")
    means = np.stack([np.full(4 * 4 * 3, 0.1, np.float32), np.full(4 * 4 * 3, 0.9, np.float32)])
    images = np.random.default_rng(seed).integers(0, 256, (6, 4, 4, 3), dtype=np.uint8)
    folder = tmp_path / "model"
    with install_toy_plugin(tmp_path / "site"):
        card = ModelCard(name="shades-toy", kind="toy", labels=labels, input_size=4)
        trained = ToyClassifier(ClassMeans(means), labels=labels, input_size=4, card=card.to_dict())
        TOY_KIND.save(folder, trained, card)
        by_auto = load_classifier(folder)
        by_name = load_classifier(folder, backend="numpy")

        assert isinstance(by_auto, ToyClassifier)
        assert by_auto.card["inference"] == {"backend": "numpy", "precision": "fp32", "variant": None,
                                             "reason": "pixel features: no network to compile"}
        assert by_name.card["inference"]["backend"] == "numpy"
        np.testing.assert_array_equal(by_auto.predict_batch(images), trained.predict_batch(images))
        np.testing.assert_array_equal(by_name.predict_batch(images), trained.predict_batch(images))
    with pytest.raises(ArtifactError, match="model kind must be one of vgg16, knn, dt; got 'toy'"):
        read_card(folder)  # without the distribution, its models do not load

