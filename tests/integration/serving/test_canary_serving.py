"""A canary under the reliability suite's load: a second version of the default model answers its share of
requests (header and JSON say which), Prometheus sees every metric split by version and fires the canary alert
when the canary answers with another confidence, and `imgclf serve promote` / `rollback` move every request to
one version without losing any.

One Ray head of this module's own (the session `serve_head` keeps its deployment for the other modules). The
stable version is the session's digits decision tree on pixels; the canary, version 2 of the same name, is a
tree of depth 1 fitted here on the same digits: it answers with a confidence near 0.2 where the stable tree's is
near 1, so the two are told apart by their answers as well as by their version numbers.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import pytest
import yaml

from imgclf.config import BaselineSettings
from imgclf.data.decode import decode_file
from imgclf.data.transforms import stack_images
from imgclf.models.artifact import save_estimator_artifact
from imgclf.models.baselines import build_decision_tree
from imgclf.models.card import ModelCard
from imgclf.models.features import PixelFeatures
from imgclf.observability import load_rules
from imgclf.registry import Registry
from utils.classify_load import Kind, Load, summary, wait_for
from utils.cli import run_cli
from utils.digits_run import BAD_FILES, DIGIT_CLASSES, TrainedRun
from utils.monitoring import rules_copy
from utils.prometheus import alerts, prometheus, ray_scrape_config, wait_for_alert, wait_for_query
from utils.ray_head import HeadNode, ray_head
from utils.serve_app import ServeApp, deploy_app

pytestmark = pytest.mark.slow

MODEL = "digits-dt-pixels"
CLIENTS = 32  # the reliability suite's full load
HEADER_REQUESTS = 40  # the header test's requests, counted by Prometheus beside the share test's
SHARE_REQUESTS = 1500  # at a 10% share, 3 points are over 3 standard deviations of the binomial count
ALERT_TIMEOUT_S = 180.0
ONE_REPLICA = {"autoscaling_config": {"min_replicas": 1, "max_replicas": 1, "target_ongoing_requests": 8},
               "max_queued_requests": 4 * CLIENTS}  # the 32 clients queue rather than get 503


def shallow_tree(trained_run: TrainedRun, folder: Path) -> Path:
    """A depth-1 tree on the digits' pixels, saved as the session's tree is (same labels, input and features)."""
    bad = {trained_run.data_dir / name for name in BAD_FILES}
    files = [path for label in DIGIT_CLASSES for path in sorted((trained_run.data_dir / label).glob("*.png"))
             if path not in bad]
    images = stack_images([decode_file(path) for path in files], 32)
    labels = [DIGIT_CLASSES.index(path.parent.name) for path in files]
    features = PixelFeatures(BaselineSettings().pixel_size)
    tree = build_decision_tree(BaselineSettings(tree_max_depth=1), 0).fit(features.transform(images), labels)
    card = ModelCard(name=MODEL, kind="dt", labels=DIGIT_CLASSES, input_size=32)
    save_estimator_artifact(folder, tree, features, card)
    return folder


@pytest.fixture(scope="module")
def registry(trained_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("canary-registry")
    registry = Registry(root)
    registry.register(MODEL, Registry(trained_run.registry).local_path(MODEL))
    registry.register(MODEL, shallow_tree(trained_run, tmp_path_factory.mktemp("shallow") / MODEL))
    return root


@pytest.fixture(scope="module")
def head() -> Iterator[HeadNode]:
    with ray_head("/tmp", num_cpus=2) as node:
        yield node


@pytest.fixture(scope="module")
def app(head: HeadNode, registry: Path, tmp_path_factory: pytest.TempPathFactory) -> ServeApp:
    return deploy_app(head, tmp_path_factory.mktemp("canary-app"), registry=registry, model=f"{MODEL}:1",
                      classifier=ONE_REPLICA, classifier_user_config={"canary": {"version": 2, "weight": 10}})


@pytest.fixture(scope="module")
def prom(app: ServeApp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prometheus scraping the app every second with the shipped rules made to fire at once (`for:` 0 s,
    5-minute windows 1 minute)."""
    path = tmp_path_factory.mktemp("rules") / "rules.yml"
    path.write_text(yaml.safe_dump(rules_copy(load_rules(), for_="0s", windows={"5m": "1m"}), sort_keys=False))
    with prometheus(ray_scrape_config(app.head.temp_dir), scrape_interval="1s", rule_files=[path]) as url:
        yield url


@pytest.fixture(scope="module")
def digits(trained_run: TrainedRun) -> list[Kind]:
    bad = {trained_run.data_dir / name for name in BAD_FILES}
    files = [path for path in sorted(trained_run.data_dir.glob("*/*.png")) if path not in bad]
    return [Kind(path.name, {"content": path.read_bytes(), "headers": {"content-type": "image/png"}})
            for path in files[::5]]


def loaded(app: ServeApp, digits: list[Kind], seed: int, until: int) -> Load:
    """32 clients classifying digits until `until` of their requests were answered."""
    load = Load(app.url, CLIENTS, lambda rng: rng.choice(digits), seed)

    async def control() -> None:
        assert await wait_for(lambda: len(load.outcomes) >= until, 300), summary(load.outcomes)

    asyncio.run(load.run(control()))
    return load


def versions(load: Load) -> Counter:
    return Counter(outcome.version for outcome in load.outcomes)


def test_every_answer_names_its_version_in_header_and_json(app: ServeApp, digits: list[Kind]) -> None:
    seen = set()
    for kind in digits[:HEADER_REQUESTS]:
        answer = httpx.post(f"{app.url}/v1/classify", timeout=60, **kind.request)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert answer.headers["x-model-name"] == body["model"]["name"] == MODEL
        assert answer.headers["x-model-version"] == body["model"]["version"]
        seen.add(body["model"]["version"])
    listed = httpx.get(f"{app.url}/v1/models", timeout=60).json()["models"]
    assert [(m["version"], m["role"], m["traffic_percent"]) for m in listed] == [("1", "stable", 90),
                                                                                 ("2", "canary", 10)]
    assert seen <= {"1", "2"}


def test_a_ten_percent_canary_gets_ten_percent_under_load(app: ServeApp, prom: str, digits: list[Kind]) -> None:
    load = loaded(app, digits, seed=1, until=SHARE_REQUESTS)
    assert all(outcome.status == 200 for outcome in load.outcomes), summary(load.outcomes)
    share = versions(load)["2"] / len(load.outcomes)
    print(f"canary at weight 10: {versions(load)['2']} of {len(load.outcomes)} answers ({share:.1%}) by "
          f"{CLIENTS} clients")
    assert 0.07 <= share <= 0.13, f"canary share {share:.3f} of {len(load.outcomes)}: {versions(load)}"
    # Prometheus counts the same answers by version: the API's requests and the replica's predictions
    counted = dict(versions(load))
    by_version = 'sum by (version) (ray_imgclf_requests_total{route="/v1/classify",status="200"})'

    def by_version_count(result: list[dict]) -> dict[str, float]:
        return {item["metric"].get("version", ""): float(item["value"][1]) for item in result}

    # the counts reach Prometheus seconds after the answers (Ray exports metrics periodically) and the header
    # test's requests add to them: wait until every version has caught up with its own answers (a series without
    # the version tag, or one short of its answers, never does: TimeoutError)
    scraped = by_version_count(wait_for_query(
        prom, by_version, lambda r: all(by_version_count(r).get(v, 0) >= n for v, n in counted.items()),
        timeout_s=ALERT_TIMEOUT_S))
    assert all(scraped[version] - count <= HEADER_REQUESTS for version, count in counted.items())
    # the replica's predictions are exported by its own process: wait for both roles' series
    wait_for_query(prom, "sum by (role) (ray_imgclf_predictions_total)",
                   lambda r: {item["metric"].get("role") for item in r} == {"stable", "canary"},
                   timeout_s=ALERT_TIMEOUT_S)


def test_the_canary_alert_fires_on_its_other_confidence(app: ServeApp, prom: str, digits: list[Kind]) -> None:
    def traffic() -> None:
        loaded(app, digits, seed=2, until=200)

    alert = wait_for_alert(prom, "ImgclfCanaryConfidence", timeout_s=ALERT_TIMEOUT_S, between=traffic)
    assert alert["labels"]["name"] == MODEL and alert["labels"]["severity"] == "warning"
    assert float(alert["value"]) > 0.5  # medians near 1 and near 0.2
    assert "<no value>" not in alert["annotations"]["description"]
    assert not [a for a in alerts(prom) if a["labels"]["alertname"] == "ImgclfCanaryErrorRatio"]


def infer(app: ServeApp, images: list[bytes], version: str | None = None) -> tuple[str, np.ndarray]:
    """One inference protocol request of several images: the answering version and the images' probabilities."""
    path = f"/v2/models/{MODEL}" + (f"/versions/{version}" if version else "") + "/infer"
    body = {"inputs": [{"name": "IMAGE", "datatype": "BYTES", "shape": [len(images)],
                        "data": [base64.b64encode(image).decode() for image in images]}],
            "outputs": [{"name": "PROBABILITIES"}]}
    answer = httpx.post(f"{app.url}{path}", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    assert (answer.headers["x-model-name"], answer.headers["x-model-version"]) == (MODEL, answer.json()["model_version"])
    [probabilities] = answer.json()["outputs"]
    return answer.json()["model_version"], np.array(probabilities["data"]).reshape(probabilities["shape"])


def test_one_inference_request_is_answered_by_one_version(app: ServeApp, digits: list[Kind]) -> None:
    """At weight 50 each request draws its version once: every image of it gets that version's probabilities (as
    the version pinned in the path gives them), never a mix."""
    done = run_cli(["serve", "promote", "--weight", "50", "--address", app.head.dashboard_url])
    assert done.exit_code == 0, done.stderr
    images = [kind.request["content"] for kind in digits[:8]]
    pinned = {version: infer(app, images, version) for version in ("1", "2")}
    assert [version for version, _ in pinned.values()] == ["1", "2"]
    assert not np.allclose(pinned["1"][1], pinned["2"][1], atol=1e-3)  # the two trees answer differently
    answered = Counter()
    for _ in range(12):
        version, probabilities = infer(app, images)
        answered[version] += 1
        np.testing.assert_allclose(probabilities, pinned[version][1], atol=1e-6)
    assert set(answered) == {"1", "2"}, answered


def test_promote_then_rollback_under_load_lose_no_request(app: ServeApp, digits: list[Kind]) -> None:
    """Each command returns once the replicas run the new weight: every request started after it is answered by
    one version, and no request of the whole load fails."""
    moves: dict[str, tuple[float, float]] = {}  # command -> (started, returned)

    async def move(command: str) -> None:
        await asyncio.sleep(3)  # the clients keep the replica busy meanwhile
        started = time.monotonic()
        done = await asyncio.to_thread(run_cli, ["serve", command, "--address", app.head.dashboard_url])
        assert done.exit_code == 0, done.stderr
        moves[command] = (started, time.monotonic())

    async def promote_then_rollback() -> None:
        await move("promote")
        await move("rollback")
        await asyncio.sleep(3)

    load = Load(app.url, CLIENTS, lambda rng: rng.choice(digits), 3)
    asyncio.run(load.run(promote_then_rollback()))
    assert len(load.outcomes) > 100 and all(outcome.status == 200 for outcome in load.outcomes), \
        summary(load.outcomes)
    promoted = [o.version for o in load.outcomes if moves["promote"][1] < o.started and o.ended < moves["rollback"][0]]
    rolled_back = [o.version for o in load.outcomes if o.started > moves["rollback"][1]]
    print(f"promote then rollback under {CLIENTS} clients: {summary(load.outcomes)}; after promote "
          f"{dict(Counter(promoted))}, after rollback {dict(Counter(rolled_back))}")
    assert promoted and set(promoted) == {"2"}, Counter(promoted)
    assert rolled_back and set(rolled_back) == {"1"}, Counter(rolled_back)
    listed = httpx.get(f"{app.url}/v1/models", timeout=60).json()["models"]
    assert [(m["version"], m["traffic_percent"]) for m in listed] == [("1", 100), ("2", 0)]
