"""The request log of a real Serve application (serve_config.yaml with a `request_log` in the Api's user_config, on a
Ray head of this module's own): under the reliability suite's load of 32 clients every sampled request is in the
Parquet read back, with its image stored by hash, and no other; with the log folder read-only every request is still
answered 200 and the failed rows are counted in the metric Ray exports.

The model is the trained digits KNN on pixels: the log does not care which model answers, and a baseline replica
starts without TensorFlow, which keeps the module short on two shared cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

import httpx
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from imgclf.serving.request_log import REQUEST_ID_HEADER, read_request_log, sampled
from utils.classify_load import Kind, Load, summary, wait_for
from utils.digits_run import BAD_FILES, TrainedRun
from utils.ray_head import ray_head
from utils.serve_app import ServeApp, deploy_app

pytestmark = pytest.mark.slow

MODEL = "digits-knn-pixels"
CLIENTS = 32  # the reliability suite's full-size load
REQUESTS = 320  # answers each burst waits for
BURST_TIMEOUT_S = 120.0
SAMPLE = 0.5
LOG_TIMEOUT_S = 30.0  # rows reach Parquet within a few flushes
METRICS_TIMEOUT_S = 60.0  # Ray exports metrics every 10 s
FAILED_ROWS = 'ray_imgclf_request_log_rows_total{outcome="failed"}'
ONE_REPLICA = {"autoscaling_config": {"min_replicas": 1, "max_replicas": 1, "target_ongoing_requests": 8}}


@pytest.fixture(scope="module")
def log_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("request-log")


@pytest.fixture(scope="module")
def app(trained_run: TrainedRun, log_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeApp]:
    """serve_config.yaml serving the digits KNN, logging half of the requests to `log_folder` every 0.5 s."""
    with ray_head("/tmp", num_cpus=2) as head:
        yield deploy_app(head, tmp_path_factory.mktemp("serve-request-log"), registry=trained_run.registry,
                         model=MODEL, classifier=ONE_REPLICA,
                         api_user_config={"request_log": {"folder": str(log_folder), "sample": SAMPLE,
                                                          "flush_s": 0.5}})


@pytest.fixture(scope="module")
def digits(trained_run: TrainedRun) -> list[bytes]:
    """Good uploads: a tenth of the digit PNGs (not the undecodable files the run adds)."""
    bad = {trained_run.data_dir / name for name in BAD_FILES}
    return [p.read_bytes() for p in sorted(trained_run.data_dir.glob("*/*.png"))[::10] if p not in bad]


class Uploads:
    """Each request a digit and an id of its own (`<prefix>-<n>`); which digit each id carried."""

    def __init__(self, digits: list[bytes], prefix: str) -> None:
        self.digits, self.prefix, self.numbers = digits, prefix, itertools.count()
        self.sent: dict[str, bytes] = {}

    def __call__(self, rng) -> Kind:  # noqa: ANN001 - Load's pick: a random.Random
        identity, digit = f"{self.prefix}-{next(self.numbers)}", rng.choice(self.digits)
        self.sent[identity] = digit
        return Kind(identity, {"content": digit, "headers": {"content-type": "image/png", REQUEST_ID_HEADER: identity}})


def burst(app: ServeApp, uploads: Uploads, seed: int) -> Load:
    """CLIENTS clients sending until REQUESTS answers came (or BURST_TIMEOUT_S passed)."""
    load = Load(app.url, CLIENTS, uploads, seed)
    asyncio.run(load.run(wait_for(lambda: len(load.outcomes) >= REQUESTS, BURST_TIMEOUT_S)))
    return load


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def failed_rows(app: ServeApp) -> float:
    """The failed rows Ray's metrics port shows for the log (0 before any)."""
    text = httpx.get(f"http://127.0.0.1:{app.head.metrics_port}/metrics", timeout=10).text
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "ray_imgclf_request_log_rows_total" and sample.labels.get("outcome") == "failed")


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[str]:
    """`folder` refuses writes, to root as well: a read-only bind mount over itself where mounting is permitted,
    else (no permission to mount) a file in place of each of its subfolders (`requests` and `images`:
    making a folder there fails with ENOTDIR or EEXIST). Restored after; the mechanism, in words."""
    for name in ("requests", "images"):
        (folder / name).mkdir(exist_ok=True)
    mounted = bool(shutil.which("mount")) and not subprocess.run(
        ["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode
    if mounted and subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True).returncode:
        subprocess.run(["umount", str(folder)], check=True)
        mounted = False
    moved = [] if mounted else [folder / "requests", folder / "images"]
    for path in moved:
        path.rename(path.with_name(f"{path.name}.aside"))
        path.write_text("in the way")
    try:
        yield "read-only bind mount" if mounted else "files in place of its subfolders"
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)
        for path in moved:
            path.unlink()
            path.with_name(f"{path.name}.aside").rename(path)


def test_under_32_clients_every_sampled_request_is_logged_and_no_other(app: ServeApp, log_folder: Path,
                                                                       digits: list[bytes], seed: int) -> None:
    expected_answer = {}
    for digit in digits:  # what the (deterministic) model answers for each digit, asked once outside the load
        answer = httpx.post(f"{app.url}/v1/classify", content=digit, headers={"content-type": "image/png"},
                            timeout=60)
        expected_answer[hashlib.sha256(digit).hexdigest()] = (
            answer.json()["label"], answer.json()["model"]["name"], answer.json()["model"]["version"])
    uploads = Uploads(digits, "load")
    load = burst(app, uploads, seed)
    answered = {o.kind.name for o in load.outcomes if o.status == 200}
    assert answered == set(uploads.sent), summary(load.outcomes)
    wanted = {identity for identity in answered if sampled(identity, SAMPLE)}
    assert 0.35 * len(answered) < len(wanted) < 0.65 * len(answered)

    def logged() -> list[dict]:
        return [row for row in read_request_log(log_folder).to_pylist() if row["request_id"].startswith("load-")]

    wait_until(lambda: {row["request_id"] for row in logged()} >= wanted, LOG_TIMEOUT_S)
    rows = logged()
    ids = [row["request_id"] for row in rows]
    assert set(ids) == wanted, f"missing {sorted(wanted - set(ids))[:5]}, not sampled {sorted(set(ids) - wanted)[:5]}"
    assert len(ids) == len(set(ids))
    for row in rows:
        upload = uploads.sent[row["request_id"]]
        assert row["image_sha256"] == hashlib.sha256(upload).hexdigest()
        assert hashlib.sha256((log_folder / row["path"]).read_bytes()).hexdigest() == row["image_sha256"]
        assert (row["label"], row["model"], row["model_version"]) == expected_answer[row["image_sha256"]]
        assert (row["route"], row["error"]) == ("/v1/classify", None) and row["latency_s"] > 0
    stored = [p for p in (log_folder / "images").rglob("*.png")]
    assert len(stored) == len({row["image_sha256"] for row in rows})  # each image once
    assert set(pd.read_parquet(log_folder / "requests")["request_id"]) >= wanted  # as batch output is read


def test_a_read_only_log_folder_fails_no_request_and_the_failure_is_counted(app: ServeApp, log_folder: Path,
                                                                            digits: list[bytes], seed: int) -> None:
    failed_before = failed_rows(app)
    with read_only(log_folder) as mechanism:
        with pytest.raises(OSError):  # the fault is real, for this (root) process too
            (log_folder / "requests" / "probe").write_bytes(b"x")
        load = burst(app, Uploads(digits, "read-only"), seed + 1)
        assert [o.status for o in load.outcomes] == [200] * len(load.outcomes), summary(load.outcomes)
        wanted = sum(sampled(o.kind.name, SAMPLE) for o in load.outcomes)
        # every sampled row of the burst (and nothing else is logged meanwhile) ends failed, none waits on
        wait_until(lambda: failed_rows(app) - failed_before >= wanted, METRICS_TIMEOUT_S)
        failed = failed_rows(app) - failed_before
    print(f"\nread-only log folder ({mechanism}, uid {os.geteuid()}): {summary(load.outcomes)}; "
          f"{wanted} rows sampled, {failed:.0f} counted failed")
    assert failed == wanted, f"{FAILED_ROWS} grew by {failed:.0f}, not {wanted}, within {METRICS_TIMEOUT_S:.0f} s"
    assert not [row for row in read_request_log(log_folder).to_pylist() if row["request_id"].startswith("read-only")]

    # writable again: the log goes on, also for requests without an id (Serve's proxy gives each one, in the answer)
    answers = [httpx.post(f"{app.url}/v1/classify", content=digit, headers={"content-type": "image/png"}, timeout=60)
               for digit in digits[:16]]
    assert [answer.status_code for answer in answers] == [200] * len(answers)
    wanted = {answer.headers[REQUEST_ID_HEADER] for answer in answers} - {""}
    wanted = {identity for identity in wanted if sampled(identity, SAMPLE)}
    assert wanted and wait_until(
        lambda: wanted <= set(read_request_log(log_folder).column("request_id").to_pylist()), LOG_TIMEOUT_S)


def test_every_classify_answer_carries_its_request_id_once(app: ServeApp, digits: list[bytes]) -> None:
    for body, status in ((digits[0], 200), (b"not an image", 415)):
        answer = httpx.post(f"{app.url}/v1/classify", content=body, timeout=60,
                            headers={"content-type": "image/png", REQUEST_ID_HEADER: "mine-1"})
        assert (answer.status_code, answer.headers.get_list(REQUEST_ID_HEADER)) == (status, ["mine-1"])
    made = httpx.post(f"{app.url}/v1/classify", content=digits[0], headers={"content-type": "image/png"}, timeout=60)
    assert len(made.headers.get_list(REQUEST_ID_HEADER)) == 1 and made.headers[REQUEST_ID_HEADER]
