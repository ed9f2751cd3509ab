"""The hop comparison's one-hop layout: the shipped config turned into one deployment that carries the Api's
settings, and that deployment's service answering from the replica's own models (no handle)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.one_hop import API_KEY, ReplicaClassifier, one_hop_config
from bench.serve_deployment import bench_config

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_config_becomes_one_deployment_with_the_apis_settings() -> None:
    shipped = bench_config(REPO / "serve_config.yaml", "/registry", "m:1", 8123, 16)
    config = one_hop_config(shipped)
    [app] = config["applications"]
    assert app["import_path"] == "bench.one_hop:build_app"
    [source] = app["runtime_env"]["py_modules"]  # Ray's workers import the bench from the checkout, in place
    assert source == f"local://{REPO}" and (REPO / "bench" / "one_hop.py").is_file()
    assert app["runtime_env"]["env_vars"] == shipped["applications"][0]["runtime_env"]["env_vars"]
    assert [entry["name"] for entry in app["deployments"]] == ["Classifier"]
    api = next(entry for entry in shipped["applications"][0]["deployments"] if entry["name"] == "Api")
    user_config = app["deployments"][0]["user_config"]
    assert user_config[API_KEY] == api["user_config"] and user_config["model"] == "m:1"
    assert len(shipped["applications"][0]["deployments"]) == 2  # the given config is left as it was
    assert "py_modules" not in shipped["applications"][0]["runtime_env"]


class Replica:
    async def classify(self, image: object, k: int, model: str | None) -> dict:
        return {"image": image, "k": k, "model": model}

    def summaries(self) -> list[dict]:
        return [{"name": "m"}]

    def describe_all(self) -> list[dict]:
        return [{"name": "m", "metrics": {}}]


def test_the_service_calls_the_replicas_own_methods() -> None:
    classifier = ReplicaClassifier(Replica())
    assert asyncio.run(classifier.classify("x", 3, "m")) == {"image": "x", "k": 3, "model": "m"}
    assert asyncio.run(classifier.summaries()) == [{"name": "m"}]
    assert asyncio.run(classifier.describe_all()) == [{"name": "m", "metrics": {}}]
