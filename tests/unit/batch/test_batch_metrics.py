"""Batch job metrics pushed to a real Prometheus Pushgateway and read back from its /metrics."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Iterator

import pytest
from utils.pushgateway import pushed, pushgateway

from imgclf.batch.metrics import BatchProgress, PeriodicPusher, check_pushgateway, push_batch_metrics
from imgclf.errors import ConfigError
from imgclf.local_cluster import free_port

MODEL = "digits-vgg16:1"
WAIT_TIMEOUT_S = 60.0  # a deadline for what must happen, not how fast: generous for a busy core
# Leaving the context must interrupt the pusher's wait: far less than its 60 s interval, with room for a busy core.
PROMPT_EXIT_S = 10.0


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    """One real Pushgateway for this module's tests; each test pushes to a job of its own."""
    with pushgateway() as url:
        yield url


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds, or fail after WAIT_TIMEOUT_S."""
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {WAIT_TIMEOUT_S:.0f} s waiting for {what}")
        time.sleep(0.05)


def closed_port_url() -> str:
    """A loopback URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


def test_images_per_second_is_zero_before_time_passes() -> None:
    assert BatchProgress(files=5, failed=0, elapsed_s=0.0).images_per_second == 0.0
    assert BatchProgress(files=10, failed=1, elapsed_s=4.0).images_per_second == 2.5


def test_pushed_snapshot_reads_back_with_job_and_model_labels(gateway: str) -> None:
    push_batch_metrics(gateway, "snapshot", BatchProgress(files=40, failed=3, elapsed_s=8.0), model=MODEL)

    samples = pushed(gateway, "snapshot")
    values = {name: value for name, (value, _) in samples.items()}
    assert values == {
        "imgclf_batch_files_processed": 40,
        "imgclf_batch_files_failed": 3,
        "imgclf_batch_throughput_images_per_second": 5.0,
        "imgclf_batch_duration_seconds": 8.0,
        "imgclf_batch_finished": 0,
    }
    assert all(labels == {"job": "snapshot", "instance": "", "model": MODEL} for _, labels in samples.values())


def test_host_port_url_without_model_pushes_unlabelled_gauges(gateway: str) -> None:
    push_batch_metrics(gateway.removeprefix("http://"), "bare", BatchProgress(files=1, failed=0, elapsed_s=1.0))

    samples = pushed(gateway, "bare")
    assert samples["imgclf_batch_files_processed"][0] == 1
    assert all("model" not in labels for _, labels in samples.values())


def test_finished_push_carries_last_success_timestamp_until_the_next_push(gateway: str) -> None:
    before = time.time()
    push_batch_metrics(gateway, "done", BatchProgress(files=7, failed=0, elapsed_s=2.0, finished=True), model=MODEL)

    samples = pushed(gateway, "done")
    assert samples["imgclf_batch_finished"][0] == 1
    assert before <= samples["imgclf_batch_last_success_timestamp_seconds"][0] <= time.time()

    push_batch_metrics(gateway, "done", BatchProgress(files=0, failed=0, elapsed_s=0.0), model=MODEL)
    samples = pushed(gateway, "done")
    assert samples["imgclf_batch_finished"][0] == 0
    assert "imgclf_batch_last_success_timestamp_seconds" not in samples  # the push replaced the whole group


def test_periodic_pusher_pushes_every_interval_and_stops_promptly(gateway: str) -> None:
    reads: list[int] = []  # the files count of each snapshot read, in order
    long_wait_after = 3  # the snapshot whose push is followed by a one-minute wait

    def read_progress() -> BatchProgress:
        reads.append(len(reads) + 1)
        if reads[-1] == long_wait_after:
            pusher.interval_s = 60.0  # read by the wait that follows this push: exit must interrupt that wait
        return BatchProgress(files=reads[-1], failed=0, elapsed_s=1.0)

    def files_pushed() -> float:
        return pushed(gateway, "periodic").get("imgclf_batch_files_processed", (0, {}))[0]

    pusher = PeriodicPusher(gateway, "periodic", read_progress, interval_s=0.05, model=MODEL)
    with pusher:
        wait_until(lambda: files_pushed() == long_wait_after, f"periodic push {long_wait_after} on the gateway")
        started_exit = time.monotonic()
    exit_s = time.monotonic() - started_exit
    assert exit_s < PROMPT_EXIT_S, f"leaving the pusher took {exit_s:.1f} s: its 60 s wait was not interrupted"
    assert reads == list(range(1, long_wait_after + 1)), f"snapshots read during the long wait: {reads}"
    assert not any(t.name == "imgclf-metrics-periodic" for t in threading.enumerate())


def test_periodic_pusher_logs_failed_pushes_as_warnings(caplog: pytest.LogCaptureFixture) -> None:
    url = closed_port_url()
    caplog.set_level(logging.WARNING, logger="imgclf")

    with PeriodicPusher(url, "unreachable", lambda: BatchProgress(files=1, failed=0, elapsed_s=1.0), interval_s=0.05):
        wait_until(lambda: len(caplog.records) >= 2, "two warnings about failed pushes")

    assert all(r.levelno == logging.WARNING and r.name == "imgclf" for r in caplog.records)
    assert url in caplog.records[0].getMessage()


def test_periodic_pusher_rejects_a_non_positive_interval() -> None:
    with pytest.raises(ConfigError, match="interval"):
        PeriodicPusher("127.0.0.1:9091", "job", lambda: BatchProgress(0, 0, 0.0), interval_s=0)


def test_check_pushgateway_passes_for_a_running_gateway(gateway: str) -> None:
    check_pushgateway(gateway)
    check_pushgateway(gateway.removeprefix("http://"))


def test_check_pushgateway_names_the_url_that_does_not_answer() -> None:
    url = closed_port_url()
    with pytest.raises(ConfigError, match=f"Pushgateway at {url} does not answer"):
        check_pushgateway(url, timeout_s=1.0)
