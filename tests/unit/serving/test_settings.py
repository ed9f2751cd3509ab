"""The Api deployment's user_config: what serve_config.yaml ships parses, bad values are refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from imgclf.errors import ConfigError, ModelNotFoundError
from imgclf.serving.settings import ApiConfig, ClassifierConfig, expand_references

SERVE_CONFIG = Path(__file__).resolve().parents[3] / "serve_config.yaml"


def shipped_api_user_config() -> dict:
    (app,) = yaml.safe_load(SERVE_CONFIG.read_text())["applications"]
    return next(d for d in app["deployments"] if d["name"] == "Api")["user_config"]


def test_the_shipped_user_config_parses_with_retries_for_a_lost_replica() -> None:
    config = ApiConfig.from_mapping(shipped_api_user_config())
    assert config.replica_retries == 2 and config.retry_after_s == 1
    assert config.limits.max_bytes == config.max_body_bytes == 10 * 2**20


@pytest.mark.parametrize("values, named", [({"replica_retries": -1}, "replica_retries"),
                                           ({"replica_retries": 11}, "replica_retries"),
                                           ({"retry_after_s": 0}, "retry_after_s"),
                                           ({"max_pixels": 0}, "max_pixels must be an integer"),
                                           ({"max_pixels": "many"}, "max_pixels must be an integer"),
                                           ({"retries": 1}, "unknown setting Api user_config.retries")])
def test_bad_values_are_refused_naming_the_setting(values: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        ApiConfig.from_mapping(values)


def test_the_secrets_come_from_the_environment_and_stay_out_of_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGCLF_API_TOKEN", "t0ken")
    monkeypatch.setenv("IMGCLF_UI_PASSWORD", "pa55")
    config = ApiConfig.from_mapping(shipped_api_user_config())
    assert (config.api_token, config.ui_password) == ("t0ken", "pa55")
    assert "t0ken" not in repr(config) and "pa55" not in repr(config)
    monkeypatch.delenv("IMGCLF_API_TOKEN")
    assert ApiConfig.from_mapping({}).api_token is None  # read again at each reconfigure


@pytest.mark.parametrize("secret, variable", [("api_token", "IMGCLF_API_TOKEN"), ("ui_password", "IMGCLF_UI_PASSWORD")])
def test_a_secret_in_user_config_is_refused_naming_its_variable(secret: str, variable: str) -> None:
    with pytest.raises(ConfigError, match=f"Api user_config.{secret} is a secret: set \\${variable}"):
        ApiConfig.from_mapping({secret: "x"})


def shipped_classifier_user_config() -> dict:
    (app,) = yaml.safe_load(SERVE_CONFIG.read_text())["applications"]
    return next(d for d in app["deployments"] if d["name"] == "Classifier")["user_config"]


def test_the_shipped_classifier_picks_its_backend_and_never_holds_a_lone_request() -> None:
    config = ClassifierConfig.from_mapping(shipped_classifier_user_config())
    assert (config.backend, config.precision, config.batch_wait_timeout_s) == ("auto", None, 0)


@pytest.mark.parametrize("values, named", [({"backend": "onnx"}, "backend must be one of auto"),
                                           ({"precision": "fp16"}, "precision must be one of fp32, bf16, int8"),
                                           ({"backend": "tensorflow", "precision": "int8"}, "int8 runs only"),
                                           ({"batch_wait_timeout_s": -0.1}, "batch_wait_timeout_s must be")])
def test_bad_classifier_values_are_refused_naming_the_setting(values: dict, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        ClassifierConfig.from_mapping({"model": "digits-vgg16", **values})


RUN_MODELS = ["digits-dt-embeddings", "digits-dt-pixels", "digits-knn-pixels", "digits-vgg16", "photos-vgg16"]


def test_the_classifier_takes_one_reference_or_a_list_from_yaml() -> None:
    assert ClassifierConfig.from_mapping({"model": "digits-vgg16:1"}).references == ("digits-vgg16:1",)
    listed = ClassifierConfig.from_mapping(yaml.safe_load("model: [digits-vgg16:1, digits-knn-pixels]"))
    assert listed.references == ("digits-vgg16:1", "digits-knn-pixels")


@pytest.mark.parametrize("model", ["", [], ["digits-vgg16", ""], ["digits-vgg16", "digits-vgg16"], 3])
def test_empty_repeated_or_non_text_model_references_are_refused(model) -> None:
    with pytest.raises(ConfigError, match="model"):
        ClassifierConfig.from_mapping({"model": model})


def test_a_pattern_expands_to_one_runs_models_by_name_and_keeps_listed_order() -> None:
    assert expand_references(("digits-*",), RUN_MODELS) == [
        ["digits-dt-embeddings", "digits-dt-pixels", "digits-knn-pixels", "digits-vgg16"]]
    assert expand_references(("digits-knn-pixels", "digits-*"), RUN_MODELS) == [
        ["digits-knn-pixels"], ["digits-dt-embeddings", "digits-dt-pixels", "digits-vgg16"]]
    assert expand_references(("photos-vgg16:2", "digits-vgg16"), []) == [["photos-vgg16:2"], ["digits-vgg16"]]


def test_a_pattern_that_matches_nothing_names_what_is_registered() -> None:
    with pytest.raises(ModelNotFoundError, match="no registered model matches 'cats-\\*'.*digits-vgg16"):
        expand_references(("cats-*",), RUN_MODELS)
