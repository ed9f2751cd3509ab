"""The serve section's request and its bare side: the model's own `predict_batch` in this process, warm, on the
decoded request image, one image at a time and in batches."""

from __future__ import annotations

import io
import statistics
import time
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

from bench.data import source_photos
from imgclf.models.classifier import Classifier

BARE_SINGLE_CALLS = 20
BARE_BATCH_S = 5.0
BARE_MIN_BATCHES = 3


def request_jpeg(photos: Path, image_size: int) -> bytes:
    """One hymenoptera photo resized to the model's input size, as JPEG bytes (the ingress then skips resizing)."""
    photo = Image.open(source_photos(photos, 1)[0]).convert("RGB").resize((image_size, image_size), Image.BILINEAR)
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def own_cpu_s() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def bare_single(classifier: Classifier, image: np.ndarray, calls: int = BARE_SINGLE_CALLS) -> dict[str, float]:
    """Median latency of `predict_batch` on one pre-decoded image (warm), and its CPU time per call."""
    batch = image[np.newaxis]
    classifier.predict_batch(batch)
    seconds, cpu = [], own_cpu_s()
    for _ in range(calls):
        started = time.perf_counter()
        classifier.predict_batch(batch)
        seconds.append(time.perf_counter() - started)
    return single_call_figures(seconds, own_cpu_s() - cpu)


def single_call_figures(seconds: list[float], cpu_s: float) -> dict[str, float]:
    """The median of the calls' wall times and their CPU time per call, ms."""
    return {"latency_ms": statistics.median(seconds) * 1000, "cpu_ms": cpu_s * 1000 / len(seconds)}


def bare_batch(classifier: Classifier, image: np.ndarray, batch_size: int) -> dict[str, float]:
    """Warm `predict_batch` throughput on batches of `batch_size` copies of the pre-decoded image (at least
    BARE_BATCH_S and BARE_MIN_BATCHES batches), and its CPU time per image."""
    batch = np.repeat(image[np.newaxis], batch_size, axis=0)
    classifier.predict_batch(batch)
    images, started, cpu = 0, time.perf_counter(), own_cpu_s()
    while more_batches_needed(time.perf_counter() - started, images, batch_size):
        classifier.predict_batch(batch)
        images += batch_size
    elapsed_s = time.perf_counter() - started
    return batch_figures(images, elapsed_s, own_cpu_s() - cpu)


def more_batches_needed(elapsed_s: float, images: int, batch_size: int) -> bool:
    """Whether the bare batch measure still lacks BARE_BATCH_S seconds or BARE_MIN_BATCHES batches."""
    return elapsed_s < BARE_BATCH_S or images < BARE_MIN_BATCHES * batch_size


def batch_figures(images: int, elapsed_s: float, cpu_s: float) -> dict[str, float]:
    """Images per second over the measure and its CPU time per image, ms."""
    return {"images_per_s": images / elapsed_s, "cpu_ms_per_image": cpu_s * 1000 / images}
