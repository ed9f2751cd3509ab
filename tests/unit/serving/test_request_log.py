"""The request log on its own and behind `/v1/classify` (a stand-in Classifier): sampling by request id, rows and
images read back as recorded, the size budget, and a failing or stalled disk that never fails a request."""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.dataset as pads
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from imgclf.models.prediction_schema import COLUMNS
from imgclf.models.prediction import Prediction
from imgclf.serving import request_log
from imgclf.serving.http_app import build_api
from imgclf.serving.request_log import (
    REQUEST_ID_HEADER,
    SCHEMA,
    RequestLog,
    read_request_log,
    request_id,
    sampled,
)
from imgclf.serving.service import ClassifyService, HandleClassifier
from imgclf.serving.settings import ApiConfig, RequestLogConfig
from test_service import LABELS, Handle, Method, answer  # noqa: I001 - this folder's stand-ins

MIB = 2**20
WAIT_S = 10.0


def encoded(seed: int, size: int = 8, kind: str = "PNG") -> bytes:
    """An image of random pixels (incompressible: its file is about size² × 3 bytes)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=kind)
    return buffer.getvalue()


def prediction(version: str = "2") -> Prediction:
    return Prediction.from_probabilities(np.array([0.25, 0.75]), LABELS, 2, model_name="pets", model_version=version)


def opened(folder: Path, **settings: Any) -> RequestLog:
    return RequestLog(RequestLogConfig(folder=str(folder), **{"sample": 1.0, "flush_s": 0.02, **settings}))


def wait_until(condition: Any) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "not within the wait"
        time.sleep(0.01)


def wait_written(log: RequestLog, rows: int) -> None:
    wait_until(lambda: log.counts["written"] == rows)


@pytest.fixture
def metric(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, dict[str, str]]]:
    """The rows metric's increments, as (rows, tags)."""
    increments: list[tuple[int, dict[str, str]]] = []

    class Recorder:
        def inc(self, value: int, tags: dict[str, str]) -> None:
            increments.append((value, tags))

    monkeypatch.setattr(request_log, "rows_counter", lambda: Recorder())
    return increments


# --- which requests are logged ---------------------------------------------------------------------------------


def test_a_request_is_logged_exactly_when_its_ids_hash_falls_under_the_sample() -> None:
    ids = [f"client-{number}" for number in range(4000)]
    for share in (0.0, 0.3, 0.5, 1.0):
        # the documented rule: the first 16 hex digits of SHA-256(id) as a fraction of 2**64, under the share
        expected = {i for i in ids if int(hashlib.sha256(i.encode()).hexdigest()[:16], 16) / 2**64 < share}
        assert {i for i in ids if sampled(i, share)} ^ expected == set()
        assert abs(len(expected) / len(ids) - share) < 0.03


@pytest.mark.parametrize("given, kept", [
    ("order-17", True), ("a" * 128, True), ("a b:c/d", True),
    (None, False), ("", False), ("a" * 129, False), ("tab\there", False), ("bad\x7f", False), ("é", False),
])
def test_the_clients_request_id_is_kept_when_printable_and_short_else_a_new_one(given: str | None, kept: bool) -> None:
    identity = request_id(given)
    if kept:
        assert identity == given
    else:
        assert identity != given and len(identity) == 32 and int(identity, 16) >= 0
        assert request_id(given) != identity  # new each time


def test_only_sampled_ids_are_written(tmp_path: Path) -> None:
    log = opened(tmp_path, sample=0.5)
    ids = [f"r{number}" for number in range(200)]
    queued = [log.record(i, encoded(1), prediction(), "/v1/classify", time.time()) for i in ids]
    log.close()
    assert queued == [sampled(i, 0.5) for i in ids]
    assert sorted(read_request_log(tmp_path).column("request_id").to_pylist()) == sorted(
        i for i in ids if sampled(i, 0.5))


# --- what is written ------------------------------------------------------------------------------------------


def test_rows_and_images_read_back_as_recorded(tmp_path: Path) -> None:
    png, jpeg = encoded(1), encoded(2, kind="JPEG")
    recorded = [("a", png, prediction("1"), "/v1/classify", 1_700_000_000.25),
                ("b", jpeg, prediction("2"), "/v2/models/{name}/infer", 1_700_000_001.5),
                ("c", png, prediction("2"), "/v1/classify", 1_700_000_002.0)]
    log = opened(tmp_path)
    for row in recorded:
        log.record(*row)
    log.close()

    table = read_request_log(tmp_path)
    assert table.schema == SCHEMA
    assert [field.name for field in SCHEMA][:len(COLUMNS)] == [field.name for field in COLUMNS]
    rows = {row["request_id"]: row for row in table.to_pylist()}
    assert sorted(rows) == ["a", "b", "c"]
    for identity, image, answered, route, started in recorded:
        row = rows[identity]
        assert (row["label"], row["label_index"], row["model"], row["model_version"], row["error"]) == (
            answered.label, answered.label_index, "pets", answered.model_version, None)
        assert row["score"] == pytest.approx(answered.score)
        assert [(entry["label"], entry["score"]) for entry in row["top_k"]] == [
            (label, float(np.float32(score))) for label, score in answered.top_k]
        assert row["route"] == route
        assert row["time"].timestamp() == pytest.approx(started, abs=1e-6)
        assert 0 <= row["latency_s"] < time.time() - started + 1
        assert row["image_sha256"] == hashlib.sha256(image).hexdigest()
        assert (tmp_path / row["path"]).read_bytes() == image
    assert rows["a"]["path"] == f"images/{rows['a']['image_sha256'][:2]}/{rows['a']['image_sha256']}.png"
    assert rows["b"]["path"].endswith(".jpg")
    assert rows["a"]["path"] == rows["c"]["path"]
    assert len([p for p in (tmp_path / "images").rglob("*") if p.is_file()]) == 2  # each image once
    # the same folder through pandas and a pyarrow dataset, as batch output is read
    assert sorted(pd.read_parquet(tmp_path / "requests")["request_id"]) == ["a", "b", "c"]
    assert pads.dataset(tmp_path / "requests", format="parquet").count_rows() == 3


def test_an_image_seen_again_later_is_not_stored_again(tmp_path: Path) -> None:
    log = opened(tmp_path)
    inodes = []
    for count, identity in enumerate(("first", "second"), start=1):
        log.record(identity, encoded(3), prediction(), "/v1/classify", time.time())
        wait_written(log, count)
        inodes += [p.stat().st_ino for p in (tmp_path / "images").rglob("*") if p.is_file()]
    log.close()
    assert len(list((tmp_path / "requests").glob("*.parquet"))) == 2
    assert len(inodes) == 2 and inodes[0] == inodes[1]  # one file, written once (a rewrite is a new file)


def test_close_writes_what_waits(tmp_path: Path) -> None:
    log = opened(tmp_path, flush_s=3600)
    for number in range(3):
        log.record(f"r{number}", encoded(number), prediction(), "/v1/classify", time.time())
    time.sleep(0.1)
    assert read_request_log(tmp_path).num_rows == 0  # waiting for the flush
    log.close()
    assert read_request_log(tmp_path).num_rows == 3
    assert not log.writer.is_alive()


def test_over_the_budget_the_oldest_files_go_first_and_images_still_named_stay(tmp_path: Path) -> None:
    log = opened(tmp_path, max_bytes=MIB)
    images = [encoded(seed, size=160) for seed in range(20)]  # about 77 KB each
    # r1-r10 images 0-9, r11 image 0 again, r12-r21 images 10-19: well past 1 MiB; a file for each
    for count, image in enumerate([*images[:10], images[0], *images[10:]], start=1):
        log.record(f"r{count}", image, prediction(), "/v1/classify", time.time())
        wait_written(log, count)
    log.close()

    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= MIB
    kept = read_request_log(tmp_path).column("request_id").to_pylist()
    numbers = sorted(int(identity[1:]) for identity in kept)
    assert numbers == list(range(numbers[0], 22)) and 1 < numbers[0] <= 11  # the newest: the oldest went first
    for row in read_request_log(tmp_path).to_pylist():
        assert (tmp_path / row["path"]).is_file()  # every kept row's image is there
    # r11 names image 0 again and is kept: so is image 0, though first stored with r1, long gone
    assert any(p.name.startswith(hashlib.sha256(images[0]).hexdigest()) for p in files)


# --- a failing or stalled disk ----------------------------------------------------------------------------------


def test_a_folder_that_cannot_be_written_fails_no_record_and_counts_the_rows(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, metric: list) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # a folder below a file cannot be made, not even by root
    log = opened(blocker / "log")
    with caplog.at_level(logging.WARNING, logger="imgclf.serving"):
        assert all(log.record(f"r{n}", encoded(n), prediction(), "/v1/classify", time.time()) for n in range(5))
        wait_until(lambda: log.counts["failed"] == 5)
        log.record("r5", encoded(5), prediction(), "/v1/classify", time.time())
        log.close()
    assert log.counts == {"failed": 6}
    assert sum(value for value, tags in metric if tags == {"outcome": "failed"}) == 6
    warnings = [r for r in caplog.records if "not written" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]  # rate-limited: one per WARN_EVERY_S


def test_a_full_queue_drops_new_rows_and_counts_them(tmp_path: Path, metric: list,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    entered, release = threading.Event(), threading.Event()
    write_file = RequestLog.write_file

    def stalled(self: RequestLog, rows: list) -> int:  # a disk that hangs until released
        entered.set()
        release.wait(WAIT_S)
        return write_file(self, rows)

    monkeypatch.setattr(RequestLog, "write_file", stalled)
    log = opened(tmp_path, max_pending=2)
    log.record("r0", encoded(0), prediction(), "/v1/classify", time.time())
    assert entered.wait(WAIT_S)  # the writer holds r0, stalled
    queued = [log.record(f"r{n}", encoded(n), prediction(), "/v1/classify", time.time()) for n in range(1, 10)]
    release.set()
    log.close()
    assert queued == [True, True] + [False] * 7
    assert log.counts == {"written": 3, "dropped": 7}
    assert sum(value for value, tags in metric if tags == {"outcome": "dropped"}) == 7
    assert sorted(read_request_log(tmp_path).column("request_id").to_pylist()) == ["r0", "r1", "r2"]


def test_images_waiting_past_max_pending_bytes_are_dropped_and_counted(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    entered, release = threading.Event(), threading.Event()
    write_file = RequestLog.write_file

    def stalled(self: RequestLog, rows: list) -> int:
        entered.set()
        release.wait(WAIT_S)
        return write_file(self, rows)

    monkeypatch.setattr(RequestLog, "write_file", stalled)
    log = opened(tmp_path, max_pending_bytes=2**20)
    big = [encoded(n) + bytes(400_000) for n in range(5)]  # a PNG and its padding: 400 kB each
    log.record("r0", big[0], prediction(), "/v1/classify", time.time())
    assert entered.wait(WAIT_S)  # the writer holds r0: its bytes are no longer waiting
    queued = [log.record(f"r{n}", big[n], prediction(), "/v1/classify", time.time()) for n in range(1, 4)]
    release.set()
    wait_until(lambda: log.counts["written"] == 3)
    assert queued == [True, True, False] and log.counts["dropped"] == 1
    assert log.record("r4", big[4], prediction(), "/v1/classify", time.time())  # written: room again
    log.close()
    assert sorted(read_request_log(tmp_path).column("request_id").to_pylist()) == ["r0", "r1", "r2", "r4"]


def test_recording_costs_microseconds_even_for_a_big_image(tmp_path: Path) -> None:
    log = opened(tmp_path, flush_s=3600, max_pending=10_000)
    big = bytes(10 * MIB)  # hashing it alone takes milliseconds: it must happen in the writer, not here
    started = time.perf_counter()
    for number in range(200):
        log.record(f"r{number}", big, prediction(), "/v1/classify", time.time())
    per_record_s = (time.perf_counter() - started) / 200
    log.close(timeout_s=0)
    assert per_record_s < 0.5e-3, f"{per_record_s * 1e6:.0f} µs per record"


# --- behind the routes ------------------------------------------------------------------------------------------


class Classifying(Method):
    async def remote(self, image: np.ndarray, k: int, model: str | None) -> Prediction:
        return answer(k=k)


def logging_service(folder: Path, **log: Any) -> ClassifyService:
    config = ApiConfig.from_mapping({"request_log": {"folder": str(folder), "sample": 1.0, "flush_s": 0.02, **log}})
    return ClassifyService(HandleClassifier(Handle(Classifying())), config)


def test_the_classify_route_logs_the_upload_under_its_request_id(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMGCLF_API_TOKEN", raising=False)
    service = logging_service(tmp_path)
    client = TestClient(build_api(service))
    upload = encoded(7)
    given = client.post("/v1/classify?top_k=2", content=upload, headers={"content-type": "image/png",
                                                                         REQUEST_ID_HEADER: "client-1"})
    too_long = client.post("/v1/classify", files={"file": ("x.png", upload, "image/png")},
                           headers={REQUEST_ID_HEADER: "x" * 129})
    refused = client.post("/v1/classify", content=b"not an image", headers={"content-type": "image/png",
                                                                             REQUEST_ID_HEADER: "client-2"})
    service.close()

    assert (given.status_code, too_long.status_code, refused.status_code) == (200, 200, 415)
    rows = {row["request_id"]: row for row in read_request_log(tmp_path).to_pylist()}
    assert len(rows) == 2 and "client-1" in rows  # not the refused one
    made = next(identity for identity in rows if identity != "client-1")
    assert len(made) == 32 and rows[made]["image_sha256"] == hashlib.sha256(upload).hexdigest()
    assert rows["client-1"]["route"] == "/v1/classify"
    assert rows["client-1"]["label"] == given.json()["label"] and len(rows["client-1"]["top_k"]) == 2
    assert (tmp_path / rows["client-1"]["path"]).read_bytes() == upload


def test_the_inference_protocol_logs_each_image_of_a_request(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    monkeypatch.delenv("IMGCLF_API_TOKEN", raising=False)
    service = logging_service(tmp_path)
    images = [encoded(8), encoded(9)]
    answered = TestClient(build_api(service)).post(
        "/v2/models/pets/infer", headers={REQUEST_ID_HEADER: "batch-1"},
        json={"inputs": [{"name": "IMAGE", "datatype": "BYTES", "shape": [2],
                          "data": [base64.b64encode(image).decode() for image in images]}]})
    service.close()
    assert answered.status_code == 200, answered.text
    rows = read_request_log(tmp_path).to_pylist()
    assert {(row["route"], row["request_id"]) for row in rows} == {("/v2/models/{name}/infer", "batch-1")}
    assert sorted((tmp_path / row["path"]).read_bytes() for row in rows) == sorted(images)


def test_a_reconfigure_keeps_the_same_log_and_replaces_a_changed_one(tmp_path: Path) -> None:
    service = logging_service(tmp_path)
    first = service.request_log
    service.configure(ApiConfig.from_mapping({"request_log": {"folder": str(tmp_path), "sample": 1.0,
                                                              "flush_s": 0.02}}))
    assert service.request_log is first
    service.configure(ApiConfig.from_mapping({"request_log": {"folder": str(tmp_path), "sample": 0.5}}))
    assert service.request_log is not first and service.request_log.config.sample == 0.5
    first.writer.join(WAIT_S)
    assert not first.writer.is_alive()
    second = service.request_log
    service.configure(ApiConfig.from_mapping({}))
    assert service.request_log is None
    second.writer.join(WAIT_S)
    assert not second.writer.is_alive()
