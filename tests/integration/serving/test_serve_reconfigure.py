"""Redeploying serve_config.yaml on a running Serve application: a new model version is swapped in without a
failed request, and an overloaded Classifier answers 503 with Retry-After and recovers. (The bearer token is
tested route by route in tests/integration/reliability/test_serving_reliability.py.)

One Ray head of this module's own (the session `serve_head` keeps its deployment for the other modules); each
test `serve deploy`s its config to it, replacing the previous one (same app name, same HTTP port), and waits
until Serve reports it applied. The Classifier is pinned to one replica, so each client's answers follow that
one replica's model swap, and a burst cannot be absorbed by scaling up (max_queued_requests limits the queue of
the one Api replica's handle to it).

The two versions are different networks: version 1 is the session's digits VGG16 (labels 0-9), version 2 a VGG16
trained on the same kind of digits sorted into even and odd. The labels of an answer thus tell whose weights
computed it, whatever version number the answer names.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from imgclf.registry import Registry
from utils import serve_app  # not its `test_config` by name: pytest would collect it as a test
from utils.cli import run_cli
from utils.digits_run import DIGIT_CLASSES, VGG_MODEL, TrainedRun
from utils.ray_head import HeadNode, free_port, ray_head
from utils.serve_app import deployment, serve_applications, serve_deploy, wait_until_ready

pytestmark = pytest.mark.slow

APP_TIMEOUT_S = 420.0  # a first deploy imports TensorFlow in each replica on 2 shared cores
REQUEST_TIMEOUT_S = 60.0
ONE_REPLICA = {"autoscaling_config": {"min_replicas": 1, "max_replicas": 1, "target_ongoing_requests": 2}}
PARITY_CLASSES = ("even", "odd")
PARITY_PER_DIGIT = 5  # 50 images: version 2 only has to answer with its own labels, not to be accurate
LABELS_OF = {"1": frozenset(DIGIT_CLASSES), "2": frozenset(PARITY_CLASSES)}  # version -> its network's labels


@dataclass(frozen=True)
class Stage:
    head: HeadNode
    port: int
    folder: Path
    registry: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self, version: str, *, classifier: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
        return serve_app.test_config(port=self.port, registry=self.registry, model=f"{VGG_MODEL}:{version}",
                                     classifier={**ONE_REPLICA, **(classifier or {})}, **overrides)

    def deploy(self, config: dict[str, Any], name: str) -> dict[str, Any]:
        """`serve deploy` the config and wait until Serve has applied it; the application's details."""
        serve_deploy(self.head, config, self.folder / f"{name}.yaml")
        return wait_until_applied(self.head, config)


def write_parity_digits(digits_dir: Path, folder: Path) -> Path:
    """The first PARITY_PER_DIGIT images of each digit, in a folder per parity (`even`, `odd`)."""
    for digit in DIGIT_CLASSES:
        target = folder / PARITY_CLASSES[int(digit) % 2]
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted((digits_dir / digit).glob("*.png"))[:PARITY_PER_DIGIT]:
            shutil.copy(source, target / f"{digit}-{source.name}")
    return folder


@pytest.fixture(scope="module")
def swap_registry(trained_run: TrainedRun, digits_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """VGG_MODEL version 1: the session's digits VGG16; version 2: a VGG16 trained (1 epoch, 32 px) on parity."""
    root = tmp_path_factory.mktemp("swap")
    data = write_parity_digits(digits_dir, root / "parity")
    trained = run_cli(["train", "--data", data, "--models", "vgg16", "--image-size", "32", "--epochs", "1",
                       "--registry", root / "trained", "--output", root / "runs",
                       "--storage-path", root / "ray_results"])
    assert trained.exit_code == 0, trained.stderr
    registry = Registry(root / "registry")
    registry.register(VGG_MODEL, Registry(trained_run.registry).local_path(VGG_MODEL))
    registry.register(VGG_MODEL, Registry(root / "trained").local_path("parity-vgg16"))
    return root / "registry"


@pytest.fixture(scope="module")
def stage(swap_registry: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    """This module's own head node; its deployments all answer on one port."""
    with ray_head("/tmp", num_cpus=2) as head:
        yield Stage(head, free_port(), tmp_path_factory.mktemp("serve-reconfigure"), swap_registry)


@pytest.fixture(scope="module")
def digit(trained_run: TrainedRun) -> bytes:
    return sorted((trained_run.data_dir / "7").glob("*.png"))[0].read_bytes()


# --- waiting for Serve ------------------------------------------------------------------------------------------


def not_applied(app: dict[str, Any] | None, target: dict[str, Any]) -> list[str]:
    """Why the application's details do not show the target config applied and settled (empty when they do)."""
    if app is None:
        return ["no such application yet"]
    problems = [] if app["status"] == "RUNNING" else [f"application {app['status']}: {app.get('message', '')[:300]}"]
    deployed = app.get("deployed_app_config") or {}
    if (deployed.get("runtime_env") or {}).get("env_vars") != target["runtime_env"]["env_vars"]:
        problems.append("runtime_env not the target's")
    for wanted in target["deployments"]:
        details = app["deployments"].get(wanted["name"])
        if details is None:
            problems.append(f"{wanted['name']}: not deployed")
            continue
        if details["status"] != "HEALTHY":
            problems.append(f"{wanted['name']}: {details['status']}")
        options = details["deployment_config"]
        problems += [f"{wanted['name']}.{key}: {options.get(key)!r}" for key in
                     ("user_config", "max_ongoing_requests", "max_queued_requests", "autoscaling_config")
                     if key in wanted and not settles(wanted[key], options.get(key))]
        replicas = details["replicas"]
        if not replicas or any(r["state"] != "RUNNING" for r in replicas):
            problems.append(f"{wanted['name']} replicas: {[r['state'] for r in replicas]}")
    return problems


def settles(wanted: Any, actual: Any) -> bool:
    """Every option the config sets has that value (Serve fills in the options it leaves out)."""
    if isinstance(wanted, dict) and isinstance(actual, dict):
        return all(settles(value, actual.get(key)) for key, value in wanted.items())
    return wanted == actual


def wait_until_applied(head: HeadNode, config: dict[str, Any], *, timeout_s: float = APP_TIMEOUT_S) -> dict[str, Any]:
    """Poll Serve's REST API until the config's application runs with the config's options, all replicas up."""
    target = config["applications"][0]
    deadline, problems = time.monotonic() + timeout_s, ["not asked yet"]
    while time.monotonic() < deadline:
        try:
            app = serve_applications(head).get(target["name"])
            problems = not_applied(app, target)
            if not problems:
                return app
        except Exception as exc:  # noqa: BLE001 - the dashboard busy or restarting: ask again
            problems = [repr(exc)[:500]]
        time.sleep(1)
    raise TimeoutError(f"the config was not applied in {timeout_s:.0f} s: {problems}")


def poll_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout_s:.0f} s: {what}")
        time.sleep(0.2)


def replica_ids(app: dict[str, Any], name: str) -> set[str]:
    return {r["replica_id"] for r in app["deployments"][name]["replicas"]}


# --- 1. hot swap ------------------------------------------------------------------------------------------------


def infer(url: str, image: bytes, version: str | None = None) -> httpx.Response:
    """One image through the inference protocol's infer route of VGG_MODEL (at `version`, if given)."""
    path = f"/v2/models/{VGG_MODEL}" + (f"/versions/{version}" if version else "") + "/infer"
    body = {"inputs": [{"name": "IMAGE", "datatype": "BYTES", "shape": [1], "data": [base64.b64encode(image).decode()]}]}
    return httpx.post(f"{url}{path}", json=body, timeout=REQUEST_TIMEOUT_S)


def inferred(answer: httpx.Response) -> tuple[str, list[int], str]:
    """The answer's model version, PROBABILITIES shape and LABEL."""
    assert answer.status_code == 200, answer.text
    body = answer.json()
    outputs = {output["name"]: output for output in body["outputs"]}
    return body["model_version"], outputs["PROBABILITIES"]["shape"], outputs["LABEL"]["data"][0]


@dataclass
class Answer:
    sent: float  # when the request went out
    status: int | None  # None: no HTTP answer at all
    version: str | None  # the version the answer names
    labels: frozenset[str] = frozenset()  # the labels of its top_k
    detail: str = ""
    at: float = field(default_factory=time.monotonic)  # when it came

    @property
    def computed_by(self) -> str | None:
        """The version whose network has the answer's labels; None for a failure or labels of both networks."""
        return next((version for version, labels in LABELS_OF.items() if self.labels and self.labels <= labels), None)


@dataclass
class Client:
    """Sends classify requests one after another until told to stop; its answers in the order they came."""

    url: str
    image: bytes
    stop: threading.Event
    answers: list[Answer] = field(default_factory=list)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=REQUEST_TIMEOUT_S) as http:
            while not self.stop.is_set():
                self.answers.append(self.ask(http))

    def ask(self, http: httpx.Client) -> Answer:
        sent = time.monotonic()
        try:
            answer = http.post("/v1/classify", content=self.image, headers={"content-type": "image/png"})
        except httpx.HTTPError as exc:
            return Answer(sent, None, None, detail=repr(exc))
        if answer.status_code != 200:
            return Answer(sent, answer.status_code, None, detail=answer.text[:300])
        body = answer.json()
        return Answer(sent, 200, body["model"]["version"], frozenset(entry["label"] for entry in body["top_k"]))

    def count(self, version: str) -> int:
        return sum(a.version == version for a in list(self.answers))


def test_new_model_version_is_swapped_in_without_a_failed_request(stage: Stage, digit: bytes) -> None:
    started = time.monotonic()
    before = stage.deploy(stage.config("1"), "v1")
    wait_until_ready(stage.url, version="1")
    version, shape, label = inferred(infer(stage.url, digit))  # the Api replica now knows version 1's labels
    assert (version, shape, label in DIGIT_CLASSES) == ("1", [1, len(DIGIT_CLASSES)], True)

    stop = threading.Event()
    clients = [Client(stage.url, digit, stop) for _ in range(3)]
    threads = [threading.Thread(target=c.run, name=f"client-{i}", daemon=True) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    try:
        poll_until(lambda: all(c.count("1") >= 5 for c in clients), 120, "every client answered by version 1")
        swap_started = time.monotonic()
        after = stage.deploy(stage.config("2"), "v2")
        wait_until_ready(stage.url, version="2")
        swapped = time.monotonic()
        assert httpx.get(f"{stage.url}/readyz", timeout=30).json() == {"status": "ready", "model": f"{VGG_MODEL}:2"}
        poll_until(lambda: all(c.count("2") >= 10 for c in clients), 120, "every client answered by version 2")
    finally:
        stop.set()
        for thread in threads:
            thread.join(REQUEST_TIMEOUT_S + 5)
    assert not any(thread.is_alive() for thread in threads)

    answers = [a for c in clients for a in c.answers]
    failed = [a for a in answers if a.status != 200]
    during = [a for a in answers if swap_started <= a.at <= swapped]
    print(f"\nhot swap: {len(answers)} requests by {len(clients)} clients, {len(failed)} failed, "
          f"{sum(a.computed_by == '1' for a in answers)} by version 1, {sum(a.computed_by == '2' for a in answers)} "
          f"by version 2; {len(during)} answered during the {swapped - swap_started:.1f} s from `serve deploy` to "
          f"/readyz on version 2; test {time.monotonic() - started:.1f} s")
    assert not failed, f"{len(failed)} of {len(answers)} requests failed, e.g. {failed[:3]}"
    assert during, "no request was answered while the new version was deployed"
    wrong = [a for a in answers if a.computed_by != a.version]
    assert not wrong, (f"{len(wrong)} of {len(answers)} answers have labels of another network than the version "
                       f"they name, e.g. {wrong[:3]}")
    # Before `serve deploy`, only version 1 exists. Once /readyz names version 2, the one replica's reconfigure has
    # switched its model, so every batch from then on runs version 2: a request sent after that never gets version
    # 1. In between, a request may still be answered by version 1 (its batch started before the switch).
    assert {a.computed_by for a in answers if a.sent < swap_started} == {"1"}
    assert {a.computed_by for a in answers if a.sent > swapped} == {"2"}
    for number, client in enumerate(clients):
        versions = [a.computed_by for a in client.answers]
        assert set(versions) == {"1", "2"}, f"client {number}: {set(versions)}"
        switch = versions.index("2")
        assert versions[:switch].count("1") >= 5
        assert "1" not in versions[switch:], f"client {number} got version 1 after version 2: {versions}"
    # Swapped in place by reconfigure: the same replicas, now serving version 2.
    assert replica_ids(after, "Classifier") == replica_ids(before, "Classifier")
    [model] = httpx.get(f"{stage.url}/v1/models", timeout=30).json()["models"]
    assert (model["name"], model["version"]) == (VGG_MODEL, "2")
    # The inference protocol answers with version 2's network and labels, asked by name or by version, and no
    # longer knows version 1.
    for asked in (None, "2"):
        version, shape, label = inferred(infer(stage.url, digit, asked))
        assert (version, shape, label in PARITY_CLASSES) == ("2", [1, len(PARITY_CLASSES)], True)
    gone = infer(stage.url, digit, "1")
    assert gone.status_code == 404 and f"{VGG_MODEL} version 2" in gone.json()["error"], gone.text


# --- 2. backpressure --------------------------------------------------------------------------------------------


BURST = 40


async def burst(url: str, image: bytes, count: int) -> list[httpx.Response | BaseException]:
    """`count` classify requests at once, each given up on (as an exception) after REQUEST_TIMEOUT_S."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, limits=limits) as http:
        async def one() -> httpx.Response:
            request = http.post(f"{url}/v1/classify", content=image, headers={"content-type": "image/png"})
            return await asyncio.wait_for(request, REQUEST_TIMEOUT_S + 5)

        return await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)


def test_overload_answers_503_with_retry_after_and_the_service_recovers(stage: Stage, digit: bytes) -> None:
    started = time.monotonic()
    config = stage.config("2", classifier={"max_ongoing_requests": 2, "max_queued_requests": 2},
                          classifier_user_config={"max_batch_size": 2, "batch_wait_timeout_s": 0.5},
                          api_user_config={"overload_wait_s": 0})  # refused at once (the wait: test_service.py)
    stage.deploy(config, "backpressure")
    wait_until_ready(stage.url, version="2")

    burst_started = time.monotonic()
    answers = asyncio.run(burst(stage.url, digit, BURST))
    burst_s = time.monotonic() - burst_started
    statuses = [a.status_code if isinstance(a, httpx.Response) else repr(a) for a in answers]
    overloaded = [a for a in answers if isinstance(a, httpx.Response) and a.status_code == 503]
    print(f"\nbackpressure: {len(answers)} requests at once, {statuses.count(200)} answered 200, {len(overloaded)} "
          f"503, {len(answers) - statuses.count(200) - len(overloaded)} other, in {burst_s:.1f} s; "
          f"test {time.monotonic() - started:.1f} s")
    assert all(status in (200, 503) for status in statuses), f"not 200 or 503: {statuses}"
    assert statuses.count(200) >= 1, statuses
    assert overloaded, f"no request was refused: {statuses}"
    retry_after = str(deployment(config, "Api")["user_config"]["retry_after_s"])
    for answer in overloaded:
        assert answer.headers.get("retry-after") == retry_after, answer.headers
        assert answer.headers["content-type"] == "application/json"
        error = answer.json()["error"]
        assert error["code"] == "overloaded" and error["message"], error

    after = httpx.post(f"{stage.url}/v1/classify", content=digit, headers={"content-type": "image/png"},
                       timeout=REQUEST_TIMEOUT_S)
    assert after.status_code == 200, after.text
    assert after.json()["model"] == {"name": VGG_MODEL, "version": "2"}
