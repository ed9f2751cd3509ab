"""Prometheus Pushgateway metrics of batch classification jobs.

Each push replaces the job's whole group on the gateway (`push_to_gateway` is a PUT), so the group always
holds the latest snapshot only. `imgclf_batch_last_success_timestamp_seconds` is part of the final push of a
job that completed (finished=True) and of no other: it appears once the job has finished, and the next run's
first push removes it again. Every gauge carries the label `model` when a model reference is given, and no
label otherwise.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from dataclasses import dataclass
from types import TracebackType
from typing import Callable
from urllib.parse import urlparse

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from imgclf.errors import ConfigError

PUSH_TIMEOUT_S = 5.0
LOG = logging.getLogger("imgclf")


@dataclass(frozen=True)
class BatchProgress:
    """Counts of a batch job so far."""

    files: int  # files processed so far (ok + failed)
    failed: int  # files that became error rows
    elapsed_s: float  # seconds since the job started
    finished: bool = False  # True only for the final push of a job that completed

    @property
    def images_per_second(self) -> float:
        """Files processed per second, 0.0 before any time has passed."""
        return self.files / self.elapsed_s if self.elapsed_s > 0 else 0.0


def gateway_url(url: str) -> str:
    """The Pushgateway's base URL with a scheme and no trailing slash (`host:port` becomes `http://host:port`)."""
    url = url.strip().rstrip("/")
    return url if urlparse(url).scheme in ("http", "https") else f"http://{url}"


def check_pushgateway(url: str, timeout_s: float = 5.0) -> None:
    """Raise ConfigError naming the URL when the Pushgateway at `url` does not answer its readiness check."""
    ready = f"{gateway_url(url)}/-/ready"
    try:
        with urllib.request.urlopen(ready, timeout=timeout_s) as response:  # noqa: S310 - http(s) only, see gateway_url
            response.read()
    except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors; ValueError: a malformed URL
        reason = getattr(exc, "reason", exc)
        raise ConfigError(f"the Prometheus Pushgateway at {url} does not answer ({ready}: {reason})") from exc


def batch_registry(progress: BatchProgress, model: str | None, now: float) -> CollectorRegistry:
    """A fresh registry holding the gauges of one snapshot."""
    registry = CollectorRegistry()
    labels = {"model": model} if model else {}

    def gauge(name: str, documentation: str, value: float) -> None:
        metric = Gauge(name, documentation, list(labels), registry=registry)
        (metric.labels(**labels) if labels else metric).set(value)

    gauge("imgclf_batch_files_processed", "Files processed so far, ok and failed.", progress.files)
    gauge("imgclf_batch_files_failed", "Files that became error rows.", progress.failed)
    gauge("imgclf_batch_throughput_images_per_second", "Files processed per second.", progress.images_per_second)
    gauge("imgclf_batch_duration_seconds", "Seconds since the job started.", progress.elapsed_s)
    gauge("imgclf_batch_finished", "1 once the job completed, else 0.", int(progress.finished))
    if progress.finished:
        gauge("imgclf_batch_last_success_timestamp_seconds", "Unix time the job completed.", now)
    return registry


def push_batch_metrics(url: str, job: str, progress: BatchProgress, *, model: str | None = None) -> None:
    """Push one snapshot to the group job=<job>, replacing it; raises OSError when the gateway cannot be reached."""
    registry = batch_registry(progress, model, time.time())
    push_to_gateway(gateway_url(url), job=job, registry=registry, timeout=PUSH_TIMEOUT_S)


class PeriodicPusher:
    """Pushes read_progress() at start and every `interval_s` from a daemon thread, while used as a context manager.

    On exit the thread stops (after a push in flight, so it cannot overwrite the caller's final push); the
    final snapshot (finished=True) is the caller's to push. Failed pushes are logged as warnings, never raised.
    """

    def __init__(
        self,
        url: str,
        job: str,
        read_progress: Callable[[], BatchProgress],
        *,
        interval_s: float = 15.0,
        model: str | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ConfigError(f"the metrics push interval must be a positive number of seconds; got {interval_s!r}")
        self.url = url
        self.job = job
        self.read_progress = read_progress
        self.interval_s = interval_s
        self.model = model
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"imgclf-metrics-{job}", daemon=True)

    def __enter__(self) -> PeriodicPusher:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        """Push now, then once per interval until stopped."""
        while True:
            self._push_once()
            if self._stop.wait(self.interval_s):
                return

    def _push_once(self) -> None:
        try:
            push_batch_metrics(self.url, self.job, self.read_progress(), model=self.model)
        except Exception as exc:  # noqa: BLE001 - metrics must never stop the job; any failure becomes a warning
            LOG.warning("could not push batch metrics of job %s to %s: %s", self.job, self.url, exc)
