"""A real batch job (`run_batch`, the code of `imgclf classify`) pushing its metrics to a real Prometheus
Pushgateway, read back from the gateway's /metrics; and a gateway killed while a job runs."""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import psutil
import pyarrow.parquet as pq
import pytest

from imgclf.batch.job import run_batch
from imgclf.batch.settings import BatchSettings
from imgclf.errors import ConfigError
from imgclf.local_cluster import free_port
from utils.datasets import write_digit_files_and_a_broken_one
from utils.digits_run import TrainedRun
from utils.pushgateway import pushed, pushgateway

pytestmark = pytest.mark.slow

MODEL = "digits-knn-pixels"
JOB = "test-batch"
GOOD_FILES = 4
BAD_FILES = 1
FIRST_PUSH_TIMEOUT_S = 120.0
JOB_TIMEOUT_S = 300.0
POLL_S = 0.05


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    with pushgateway() as url:
        yield url


@pytest.fixture(scope="module")
def images(digits_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GOOD_FILES digit PNGs (from different classes) and one PNG cut in half."""
    return write_digit_files_and_a_broken_one(tmp_path_factory.mktemp("pushed-images") / "images", digits_dir,
                                              good=GOOD_FILES, broken_name="broken.png")


def settings(images: Path, out: Path, trained_run: TrainedRun, gateway: str, **changes: object) -> BatchSettings:
    return BatchSettings(**{
        "input": str(images), "output": str(out), "model": MODEL, "registry": str(trained_run.registry),
        "batch_size": 2, "pushgateway": gateway, "job_name": JOB, "progress": False, **changes,
    })


def test_finished_job_metrics_are_on_the_gateway(images: Path, trained_run: TrainedRun, gateway: str,
                                                 ray_cluster, tmp_path: Path) -> None:
    started = time.time()
    summary = run_batch(settings(images, tmp_path / "out", trained_run, gateway))
    finished = time.time()

    assert (summary.files, summary.failed) == (GOOD_FILES + BAD_FILES, BAD_FILES)
    assert pq.read_table(tmp_path / "out").num_rows == GOOD_FILES + BAD_FILES
    metrics = pushed(gateway, JOB)
    assert metrics["imgclf_batch_files_processed"][0] == GOOD_FILES + BAD_FILES
    assert metrics["imgclf_batch_files_failed"][0] == BAD_FILES
    assert metrics["imgclf_batch_finished"][0] == 1
    assert started - 1 <= metrics["imgclf_batch_last_success_timestamp_seconds"][0] <= finished + 1
    assert metrics["imgclf_batch_duration_seconds"][0] > 0
    for _, labels in metrics.values():
        assert labels["model"] == f"{MODEL}:1", labels


def test_unreachable_gateway_fails_before_any_output(images: Path, trained_run: TrainedRun, tmp_path: Path) -> None:
    out = tmp_path / "out"
    closed = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(ConfigError, match=f"Pushgateway at {closed} does not answer"):
        run_batch(settings(images, out, trained_run, closed))

    assert not list(out.rglob("*.parquet"))
    assert not out.exists() or not any(out.iterdir())  # at most the empty folder that the write check made


def gateway_process(url: str) -> psutil.Process:
    """The `prometheus-pushgateway` process this test process started to listen at `url`."""
    option = f"--web.listen-address={url.removeprefix('http://')}"
    [process] = [child for child in psutil.Process().children() if option in child.cmdline()]
    return process


def wait_for_first_push(url: str, job: Future) -> None:
    """Return once the gateway holds the job's group; fail when the job ends first or FIRST_PUSH_TIMEOUT_S passes."""
    deadline = time.monotonic() + FIRST_PUSH_TIMEOUT_S
    while not pushed(url, JOB):
        assert not job.done(), f"the job ended before its first push: {job.exception() or job.result()}"
        assert time.monotonic() < deadline, f"no push reached the gateway in {FIRST_PUSH_TIMEOUT_S:.0f} s"
        time.sleep(POLL_S)


def test_a_gateway_killed_mid_job_does_not_stop_the_job(images: Path, trained_run: TrainedRun, ray_cluster,
                                                       tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Kill -9 the gateway once it holds the job's first push: every row is still written, and each push that
    fails (the periodic ones after the kill, the final one) is a warning naming the gateway."""
    caplog.set_level(logging.WARNING, logger="imgclf")
    out = tmp_path / "out"
    with pushgateway() as url, ThreadPoolExecutor(max_workers=1) as background:
        job = background.submit(run_batch, settings(images, out, trained_run, url, push_interval_s=0.25))
        wait_for_first_push(url, job)
        gateway = gateway_process(url)
        gateway.kill()
        gateway.wait(timeout=10)
        assert not job.done(), "the job ended before the gateway was killed"
        summary = job.result(timeout=JOB_TIMEOUT_S)

    assert (summary.files, summary.failed) == (GOOD_FILES + BAD_FILES, BAD_FILES)
    assert sorted(pq.read_table(out).column("path").to_pylist()) == sorted(str(path) for path in images.iterdir())
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    periodic = [message for message in warnings if message.startswith(f"could not push batch metrics of job {JOB} "
                                                                       f"to {url}: ")]
    assert periodic and all("Connection refused" in message for message in periodic), warnings
    [final] = [message for message in warnings if message.startswith(f"could not push the final batch metrics to {url}: ")]
    assert "Connection refused" in final, final
