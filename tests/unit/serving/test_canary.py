"""A canary: the second version of the default model answers its share of requests, a pinned version always
answers, both are listed, and a new weight is a reconfiguration that keeps the loaded models."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import numpy as np
import pytest
from test_replica_explain import LABELS, SIZE, save_tree

from imgclf.errors import ConfigError, ModelNotFoundError, ModelNotServedError
from imgclf.registry import Registry
from imgclf.serving.canary import CANARY, STABLE, answering, traffic_percent, with_canary_weight
from imgclf.serving.launcher import read_serve_config
from imgclf.serving.model_replica import ClassifierReplica

REPO = Path(__file__).resolve().parents[3]
LIGHT = np.full((SIZE, SIZE, 3), 230, np.uint8)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> str:
    """`shade` versions 1 and 2 (the same tree twice: the answers tell versions apart by model_version only)."""
    root, artifacts = tmp_path_factory.mktemp("registry"), tmp_path_factory.mktemp("artifacts")
    for version in (1, 2):
        Registry(root).register("shade", save_tree(artifacts / f"shade{version}"))
    return str(root)


def replica_with(registry: str, **user_config: object) -> ClassifierReplica:
    replica = ClassifierReplica.func_or_class()
    asyncio.run(replica.reconfigure({"model": "shade:1", "registry": registry, **user_config}))
    return replica


@pytest.mark.parametrize(("draw", "weight", "expected"), [
    (0.0999, 10, "canary"), (0.1, 10, "stable"), (0.0, 0, "stable"), (0.9999, 100, "canary"), (0.5, 50, "stable"),
])
def test_the_canary_answers_when_the_draw_falls_under_its_weight(draw: float, weight: float, expected: str) -> None:
    assert answering("stable", "canary", weight, draw=lambda: draw) == expected


def test_without_a_canary_the_stable_version_answers_whatever_the_weight() -> None:
    assert answering("stable", None, 100, draw=lambda: 0.0) == "stable"


def test_traffic_shares_add_up_to_the_whole() -> None:
    assert (traffic_percent(STABLE, 10), traffic_percent(CANARY, 10), traffic_percent(STABLE, None)) == (90, 10, 100)


def test_a_ten_percent_canary_answers_a_tenth_of_the_requests(registry: str) -> None:
    replica = replica_with(registry, canary={"version": 2, "weight": 10})
    random.seed(7)
    versions = [replica.served(None).version for _ in range(4000)]
    assert 0.09 <= versions.count("2") / len(versions) <= 0.11
    assert {replica.served("shade").version for _ in range(200)} == {"1", "2"}


def test_a_pinned_version_always_answers(registry: str) -> None:
    replica = replica_with(registry, canary={"version": 2, "weight": 90})
    assert {replica.served("shade:1").version for _ in range(200)} == {"1"}
    assert {replica.served("shade:2").role for _ in range(200)} == {CANARY}
    with pytest.raises(ModelNotServedError, match="shade:1, shade:2"):
        replica.served("shade:3")


def test_a_batch_of_two_versions_answers_each_with_its_own(registry: str) -> None:
    replica = replica_with(registry, canary={"version": 2, "weight": 100})
    batch = type(replica).classify_batch.__wrapped__  # the batched function itself (Serve forms the batches)
    chosen = [replica.served(None), replica.served("shade:1"), replica.served(None)]
    answers = asyncio.run(batch(replica, [LIGHT] * 3, [1] * 3, chosen))
    assert [f"{answer.model_version}:{answer.label}" for answer in answers] == ["2:light", "1:light", "2:light"]


def test_the_images_of_one_request_are_answered_by_one_version(registry: str) -> None:
    """classify_all (a `/v2` request's images) draws the version once: never a request answered by both."""
    replica = replica_with(registry, canary={"version": 2, "weight": 50})
    batch = type(replica).classify_batch.__wrapped__  # Serve's batching needs a running deployment

    async def alone(image: np.ndarray, k: int, chosen: object) -> object:
        return (await batch(replica, [image], [k], [chosen]))[0]

    replica.classify_batch = alone
    random.seed(3)

    async def requests() -> list:
        return await asyncio.gather(*(replica.classify_all([LIGHT] * 4, 1, None) for _ in range(30)))

    answered = [{answer.model_version for answer in answers} for answers in asyncio.run(requests())]
    assert all(len(versions) == 1 for versions in answered), answered
    assert set.union(*answered) == {"1", "2"}  # both answer, each a whole request


def test_both_versions_are_listed_with_their_role_and_share(registry: str) -> None:
    replica = replica_with(registry, canary={"version": 2, "weight": 25})
    listed = [(m["name"], m["version"], m["role"], m["traffic_percent"]) for m in replica.summaries()]
    assert listed == [("shade", "1", STABLE, 75), ("shade", "2", CANARY, 25)]
    assert [m["labels"] for m in replica.describe_all()] == [LABELS, LABELS]


def test_a_new_weight_keeps_the_loaded_models(registry: str) -> None:
    replica = replica_with(registry, canary={"version": 2, "weight": 10})
    loaded = [model.classifier for model in replica.served_models.all()]
    for weight in (100, 0):
        asyncio.run(replica.reconfigure({"model": "shade:1", "registry": registry,
                                         "canary": {"version": 2, "weight": weight}}))
        assert [model.classifier for model in replica.served_models.all()] == loaded
        assert replica.served_models.canary.traffic == weight
    asyncio.run(replica.reconfigure({"model": "shade:2", "registry": registry}))
    assert (replica.served_models.canary, replica.served(None).version) == (None, "2")
    assert replica.served(None).classifier is loaded[1]


def test_a_canary_of_the_served_version_or_of_no_version_is_refused(registry: str) -> None:
    with pytest.raises(ConfigError, match="already served"):
        replica_with(registry, canary={"version": 1, "weight": 10})
    with pytest.raises(ModelNotFoundError):
        replica_with(registry, canary={"version": 9, "weight": 10})
    with pytest.raises(ConfigError, match="canary.weight"):
        replica_with(registry, canary={"version": 2, "weight": 110})


def with_canary(weight: float) -> dict:
    config = read_serve_config(REPO / "serve_config.yaml")
    config["applications"][0]["deployments"][0]["user_config"]["canary"] = {"version": 2, "weight": weight}
    return config


def test_promote_and_rollback_change_only_the_canarys_weight() -> None:
    config = with_canary(10)
    promoted = with_canary_weight(config, 100)
    assert promoted == with_canary(100)
    assert config == with_canary(10)  # the given config is left as it was
    assert with_canary_weight(promoted, 0, "imgclf") == with_canary(0)


def test_moving_a_canary_that_is_not_there_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match="serves no canary"):
        with_canary_weight(read_serve_config(REPO / "serve_config.yaml"), 100)
    with pytest.raises(ConfigError, match="no application 'other'"):
        with_canary_weight(with_canary(10), 100, "other")
    with pytest.raises(ConfigError, match="canary.weight"):
        with_canary_weight(with_canary(10), 101)
