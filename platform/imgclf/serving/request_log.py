"""The request log: a sampled share of classify requests kept as Parquet, each image stored once by its content hash,
written by one background thread so that a slow, full or read-only disk never fails or slows a request.

    <folder>/requests/<UTC time>-<pid>-<seq>.parquet   the batch output's columns (path = the stored image) plus
                                                       time, route, latency_s, request_id, image_sha256
    <folder>/images/<sha256[:2]>/<sha256>.<ext>       each image's original bytes, once per hash

A request is logged iff its id's hash falls under `sample`, so whoever knows the ids knows which requests are in
the log. The id is the request's X-Request-Id: Serve's proxy gives one to every request without it and echoes it in
every answer. Beyond `max_bytes` the oldest files go first; an image's modification time is set to that of the newest
Parquet file naming it, so an image goes only once the files naming it are gone. Rows end `written`, `dropped` (the
in-memory queue was full) or `failed` (a write failed), counted in the metric `imgclf_request_log_rows{outcome}`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import queue
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from PIL import Image
from ray.serve import metrics

from imgclf.models.prediction_schema import COLUMNS
from imgclf.models.prediction import Prediction
from imgclf.serving.settings import RequestLogConfig

LOG = logging.getLogger("imgclf.serving")
REQUEST_ID_HEADER = "X-Request-Id"
MAX_REQUEST_ID = 128  # characters of a client's request id; a longer (or unprintable) one is replaced
REQUESTS_DIR, IMAGES_DIR = "requests", "images"
SCHEMA = pa.schema([
    *COLUMNS,
    pa.field("time", pa.timestamp("us", tz="UTC"), nullable=False),  # when the request began
    pa.field("route", pa.string(), nullable=False),  # the route's template, e.g. /v1/classify
    pa.field("latency_s", pa.float64(), nullable=False),  # from the request's start to its answer
    pa.field("request_id", pa.string(), nullable=False),
    pa.field("image_sha256", pa.string(), nullable=False),  # hex; the image is images/<first 2>/<all>.<ext>
])
WARN_EVERY_S = 30.0  # at most one warning per cause this often
CLOSE_TIMEOUT_S = 30.0  # close() waits this long for the last rows to be written
LOW_WATER = 0.9  # over the budget, files go until the folder holds this share of max_bytes
FORMAT_SUFFIXES = {"JPEG": "jpg", "MPO": "jpg", "TIFF": "tif"}  # else the Pillow format's name in lower case


def request_id(given: str | None = None) -> str:
    """The client's request id when it is printable ASCII of at most MAX_REQUEST_ID characters, else a new one."""
    if given and len(given) <= MAX_REQUEST_ID and given.isascii() and given.isprintable():
        return given
    return uuid.uuid4().hex


def sampled(request_id: str, share: float) -> bool:
    """Whether the request is logged: the first 8 bytes of its id's SHA-256, as a fraction of 2**64, under `share`."""
    digest = hashlib.sha256(request_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") < share * 2**64


@cache
def rows_counter() -> metrics.Counter:
    """The log's rows by outcome (one metric object per process, made on first use inside the replica)."""
    return metrics.Counter("imgclf_request_log_rows", tag_keys=("outcome",), description=(
        "Request log rows: written to Parquet, dropped (queue full) or failed (write error)."))


@dataclass(frozen=True)
class LoggedRequest:
    request_id: str
    started: float  # unix seconds
    latency_s: float
    route: str
    image: bytes  # the upload as sent
    prediction: Prediction


class Warnings:
    """Logs a warning per cause at most once every WARN_EVERY_S seconds (thread-safe)."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self.lock = threading.Lock()

    def warn(self, cause: str, message: str, *args: object) -> None:
        now = time.monotonic()
        with self.lock:
            if now - self.last.get(cause, -WARN_EVERY_S) < WARN_EVERY_S:
                return
            self.last[cause] = now
        LOG.warning(message, *args)


class RequestLog:
    """`record` (on the request path: microseconds, never raises) queues a sampled request; a writer thread writes
    the queue every `flush_s` (sooner when a quarter of `max_pending` waits) and keeps the folder within budget."""

    def __init__(self, config: RequestLogConfig) -> None:
        self.config = config
        self.folder = Path(config.folder)
        self.pending: queue.Queue[LoggedRequest] = queue.Queue(maxsize=config.max_pending)
        self.pending_bytes, self.pending_lock = 0, threading.Lock()  # the queued images' bytes
        self.flush_rows = max(1, config.max_pending // 4)
        self.counts: Counter[str] = Counter()  # rows by outcome, as the metric counts them
        self.counts_lock = threading.Lock()
        self.warnings = Warnings()
        self.wake, self.closing = threading.Event(), threading.Event()
        self.sequence = 0
        self.estimated_bytes: int | None = None  # the folder's size at the last look plus what was written since
        self.writer = threading.Thread(target=self.run, name="imgclf-request-log", daemon=True)
        self.writer.start()

    def record(self, request_id: str, image: bytes, prediction: Prediction, route: str, started: float) -> bool:
        """Queue the answered request if its id is sampled (`started`: time.time() when it began); whether it was
        queued. A full queue drops the row, counted and warned about."""
        if not sampled(request_id, self.config.sample):
            return False
        row = LoggedRequest(request_id, started, time.time() - started, route, image, prediction)
        if not self.closing.is_set() and self.reserve(len(image)):
            try:
                self.pending.put_nowait(row)
            except queue.Full:
                self.reserve(-len(image))
            else:
                if self.pending.qsize() >= self.flush_rows:
                    self.wake.set()
                return True
        self.count("dropped", 1)
        self.warnings.warn("dropped", "request log: rows dropped: %d wait to be written (the disk is slow or "
                           "stalled) or the log is closing", self.pending.qsize())
        return False

    def reserve(self, size: int) -> bool:
        """Count `size` more (or, negative, fewer) bytes waiting; False, counting nothing, past max_pending_bytes."""
        with self.pending_lock:
            if size > 0 and self.pending_bytes + size > self.config.max_pending_bytes:
                return False
            self.pending_bytes += size
            return True

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Write what waits and stop the writer (rows recorded from now on are dropped)."""
        self.closing.set()
        self.wake.set()
        self.writer.join(timeout_s)

    def count(self, outcome: str, rows: int) -> None:
        with self.counts_lock:
            self.counts[outcome] += rows
        rows_counter().inc(rows, tags={"outcome": outcome})

    # --- the writer thread ---------------------------------------------------------------------------------------

    def run(self) -> None:
        while True:
            self.wake.wait(self.config.flush_s)
            self.wake.clear()
            closing = self.closing.is_set()
            rows = self.drain()
            if rows:
                self.write(rows)
            if closing:
                return

    def drain(self) -> list[LoggedRequest]:
        rows = [self.pending.get_nowait() for _ in range(self.pending.qsize())]  # the one consumer: all are there
        self.reserve(-sum(len(row.image) for row in rows))
        return rows

    def write(self, rows: list[LoggedRequest]) -> None:
        """One Parquet file of `rows` and their new images; a failure counts the rows failed and never raises."""
        try:
            written = self.write_file(rows)
            self.count("written", len(rows))
        except Exception as exc:  # noqa: BLE001 - a disk error (OSError, ArrowException) or not: never end the writer
            self.count("failed", len(rows))
            self.warnings.warn("failed", "request log: %d rows not written to %s: %s", len(rows), self.folder, exc)
            return
        try:
            self.keep_budget(written)
        except OSError as exc:
            self.warnings.warn("budget", "request log: cannot keep %s within %d bytes: %s", self.folder,
                               self.config.max_bytes, exc)

    def write_file(self, rows: list[LoggedRequest]) -> int:
        """Store the images, then the Parquet file (temp name, then renamed); the bytes written."""
        hashes = [hashlib.sha256(row.image).hexdigest() for row in rows]
        stored, written = {}, 0
        for digest, row in zip(hashes, rows):
            if digest not in stored:
                stored[digest], size = self.store_image(digest, row.image)
                written += size
        requests = self.folder / REQUESTS_DIR
        requests.mkdir(parents=True, exist_ok=True)
        self.sequence += 1
        name = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S%fZ}-{os.getpid()}-{self.sequence:06d}.parquet"
        target, temporary = requests / name, requests / f".{name}.tmp"
        try:
            pq.write_table(table_of(rows, hashes, stored), temporary)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        mtime = target.stat().st_mtime_ns
        for path in stored.values():  # each image as recent as the newest file naming it
            with contextlib.suppress(FileNotFoundError):  # deleted meanwhile by another replica keeping the budget
                os.utime(self.folder / path, ns=(mtime, mtime))
        return written + target.stat().st_size

    def store_image(self, digest: str, data: bytes) -> tuple[str, int]:
        """The image's path relative to the folder, written unless already there; and the bytes written."""
        relative = f"{IMAGES_DIR}/{digest[:2]}/{digest}.{image_suffix(data)}"
        path = self.folder / relative
        if path.exists():
            return relative, 0
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            temporary.write_bytes(data)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        return relative, len(data)

    def keep_budget(self, written: int) -> None:
        """Beyond max_bytes, delete the oldest files (Parquet before images of the same time) down to LOW_WATER of it.
        The folder is listed only when the size known at the last listing plus what was written since passes the
        budget (other replicas writing the same folder are seen at that listing)."""
        if self.estimated_bytes is not None:
            self.estimated_bytes += written
            if self.estimated_bytes <= self.config.max_bytes:
                return
        files = sorted(log_files(self.folder))
        total = sum(size for _, _, size, _ in files)
        if total > self.config.max_bytes:
            for _, _, size, path in files:
                if total <= LOW_WATER * self.config.max_bytes:
                    break
                path.unlink(missing_ok=True)
                total -= size
        self.estimated_bytes = total


def log_files(folder: Path) -> list[tuple[int, int, int, Path]]:
    """(mtime ns, 0 for Parquet / 1 for an image, size, path) of every file under requests/ and images/."""
    found = []
    for top, kind in ((folder / REQUESTS_DIR, 0), (folder / IMAGES_DIR, 1)):
        for place, _, names in os.walk(top):
            for name in names:
                path = Path(place, name)
                try:
                    stat = path.stat()
                except FileNotFoundError:  # deleted meanwhile (another replica keeping the budget)
                    continue
                found.append((stat.st_mtime_ns, kind, stat.st_size, path))
    return found


def image_suffix(data: bytes) -> str:
    """The file suffix of the image's format, read from its header (`bin` if Pillow cannot tell)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format or ""
    except Exception:  # noqa: BLE001 - the upload was decoded on the request path; any doubt here is only a name
        kind = ""
    return FORMAT_SUFFIXES.get(kind, kind.lower() or "bin")


def table_of(rows: list[LoggedRequest], hashes: list[str], stored: dict[str, str]) -> pa.Table:
    """The rows as a table of SCHEMA."""
    predictions = [row.prediction for row in rows]
    columns = {
        "path": [stored[digest] for digest in hashes],
        "label": [p.label for p in predictions],
        "label_index": [p.label_index for p in predictions],
        "score": [p.score for p in predictions],
        "top_k": [p.top_k_rows() for p in predictions],
        "model": [p.model_name for p in predictions],
        "model_version": [p.model_version for p in predictions],
        "error": [None] * len(rows),
        "time": [datetime.fromtimestamp(row.started, timezone.utc) for row in rows],
        "route": [row.route for row in rows],
        "latency_s": [row.latency_s for row in rows],
        "request_id": [row.request_id for row in rows],
        "image_sha256": hashes,
    }
    return pa.table(columns, schema=SCHEMA)


def read_request_log(folder: str | Path) -> pa.Table:
    """Every row of the request log in `folder` (an empty table when nothing was written yet)."""
    requests = Path(folder) / REQUESTS_DIR
    if not requests.is_dir():
        return SCHEMA.empty_table()
    return pads.dataset(requests, format="parquet", schema=SCHEMA).to_table()
