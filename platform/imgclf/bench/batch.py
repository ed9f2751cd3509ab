"""`batch` section: a batch job end to end against the bare model and a naive single-process script, and the
job's peak memory on 1× against 10× the images.

All measures run in this one process on the same JPEG files copied from ../shared/datasets/hymenoptera, the
same VGG16 artifact (fp32, batch size 32) and the same Ray cluster, started before anything is timed:

- bare model: `predict_batch` on pre-decoded, pre-resized uint8 arrays, warm (one untimed warm-up batch);
- batch job: `run_batch` from the call to its return (actor start, TensorFlow import, model load, read,
  decode, classify, Parquet written);
- naive script: load the model, PIL decode + resize, predict in batches, pandas `to_parquet`, all timed.

Peak memory is the summed RSS of this process and all its descendants (Ray's GCS, raylet, workers, actors),
sampled in a background thread during a batch job on N images and then on 10×N (copies under new names).
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd
import ray
from PIL import Image

from imgclf.batch.job import BatchSummary, actor_resources, run_batch
from imgclf.cluster import connect
from imgclf.config import BatchSettings
from imgclf.data.decode import decode_file
from imgclf.data.transforms import stack_images
from imgclf.models.artifact import load_classifier, new_card, save_keras_artifact
from imgclf.models.classifier import Classifier, top_k
from imgclf.models.vgg import VGGArchitecture, build_vgg16
from imgclf.registry import Registry
from imgclf.runtime import cpu_count

import psutil  # ships with Ray (ray/thirdparty_files): importable once ray is imported

DATASET = Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / "hymenoptera"
LABELS = ("ants", "bees")
IMAGES = 160
IMAGE_SIZE = 224
MEMORY_IMAGE_SIZE = 64
MEMORY_FACTOR = 10
BATCH_SIZE = 32
TOP_K = 3
PRECISION = "fp32"
SAMPLE_INTERVAL_S = 0.2
MIB = 1 << 20
TARGET_BATCH_OVER_BARE = 0.85
TARGET_BATCH_OVER_NAIVE = 1.0
TARGET_MAX_PEAK_RSS_RATIO = 1.25


@dataclass(frozen=True)
class BenchModel:
    """A registered VGG16 artifact: the registry root, its reference, and its local folder."""

    registry: str
    reference: str
    folder: Path


def source_photos(count: int) -> list[Path]:
    """`count` JPEG photos spread evenly over the dataset's sorted files (cycled when it holds fewer)."""
    photos = sorted(path for path in DATASET.rglob("*") if path.suffix.lower() in (".jpg", ".jpeg"))
    if not photos:
        raise FileNotFoundError(f"no JPEG photos under {DATASET} (see ../shared/datasets/README.md)")
    if count <= len(photos):
        return [photos[index * len(photos) // count] for index in range(count)]
    return [photos[index % len(photos)] for index in range(count)]


def photo_folder(folder: Path, images: int, copies: int = 1) -> Path:
    """A flat folder holding `copies` copies of `images` photos, each file under its own name; reused when
    it already holds that many."""
    if folder.is_dir() and len(list(folder.glob("*.jpg"))) == images * copies:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for copy in range(copies):
        for index, source in enumerate(source_photos(images)):
            shutil.copyfile(source, folder / f"{copy:02d}-{index:05d}-{source.parent.name}-{source.stem}.jpg")
    return folder


def bench_model(registry_root: Path, image_size: int) -> BenchModel:
    """A VGG16 artifact at `image_size` px with random weights, built and registered once, then reused."""
    name = f"bench-vgg16-{image_size}"
    registry = Registry(registry_root)
    if name not in registry.list_models():
        architecture = VGGArchitecture(num_classes=len(LABELS), image_size=image_size)
        card = new_card(
            name=name, kind="vgg16", labels=list(LABELS), input_size=image_size, architecture=architecture.to_dict(),
            weights_source="none", pretrained=False, precision=PRECISION,
        )
        staging = registry_root.parent / f"staging-{name}"
        shutil.rmtree(staging, ignore_errors=True)
        save_keras_artifact(staging, build_vgg16(architecture, weights="none"), card)
        registry.register(name, staging)
        shutil.rmtree(staging)
    name, version = registry.resolve(name)
    return BenchModel(str(registry_root), f"{name}:{version}", registry.local_path(f"{name}:{version}"))


def fresh_folder(folder: Path) -> Path:
    """`folder`, emptied: every timed run writes into a folder of its own."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder


def image_paths(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.jpg"))


def bare_model_images_per_s(model: BenchModel, folder: Path) -> float:
    """Warm `predict_batch` throughput on the folder's images, decoded and resized beforehand."""
    classifier = load_classifier(model.folder, precision=PRECISION)
    images = stack_images([decode_file(path) for path in image_paths(folder)], classifier.input_size)
    classifier.predict_batch(images[:BATCH_SIZE])
    started = time.perf_counter()
    for start in range(0, len(images), BATCH_SIZE):
        classifier.predict_batch(images[start : start + BATCH_SIZE])
    return len(images) / (time.perf_counter() - started)


def batch_settings(model: BenchModel, folder: Path, output: Path) -> BatchSettings:
    return BatchSettings(
        input=str(folder), output=str(output), model=model.reference, registry=model.registry,
        batch_size=BATCH_SIZE, top_k=TOP_K, precision=PRECISION, progress=False,
    )


def timed_batch_job(model: BenchModel, folder: Path, output: Path) -> tuple[float, BatchSummary]:
    """Seconds from calling `run_batch` to its return, and its summary."""
    settings = batch_settings(model, folder, fresh_folder(output))
    started = time.perf_counter()
    summary = run_batch(settings)
    return time.perf_counter() - started, summary


def naive_script_seconds(model: BenchModel, folder: Path, output: Path) -> float:
    """The plain single-process way, timed from nothing loaded to Parquet written."""
    fresh_folder(output).mkdir()
    started = time.perf_counter()
    classifier = load_classifier(model.folder, precision=PRECISION)
    paths = image_paths(folder)
    rows: list[dict[str, Any]] = []
    for start in range(0, len(paths), BATCH_SIZE):
        chunk = paths[start : start + BATCH_SIZE]
        batch = np.stack([naive_decode(path, classifier.input_size) for path in chunk])
        rows += naive_rows(chunk, classifier, classifier.predict_batch(batch))
    pd.DataFrame(rows).to_parquet(output / "predictions.parquet")
    return time.perf_counter() - started


def naive_decode(path: Path, size: int) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB").resize((size, size)), dtype=np.uint8)


def naive_rows(paths: list[Path], classifier: Classifier, probabilities: np.ndarray) -> list[dict[str, Any]]:
    """The same columns the batch job writes for a decoded file."""
    rows = []
    for path, row in zip(paths, probabilities):
        ranked = top_k(row, classifier.labels, TOP_K)
        rows.append({
            "path": str(path), "label": ranked[0][0], "label_index": classifier.labels.index(ranked[0][0]),
            "score": ranked[0][1], "top_k": [{"label": label, "score": score} for label, score in ranked],
        })
    return rows


def tree_rss() -> int:
    """Summed RSS in bytes of this process and all its descendants (processes that end meanwhile skipped)."""
    me = psutil.Process()
    total = me.memory_info().rss
    for child in me.children(recursive=True):
        try:
            total += child.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


class PeakTreeRss:
    """Context manager sampling `tree_rss` every SAMPLE_INTERVAL_S in a background thread; keeps the peak."""

    def __init__(self) -> None:
        self.before = self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-peak-rss", daemon=True)

    def __enter__(self) -> PeakTreeRss:
        self.before = self.peak = tree_rss()
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss())

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            self.peak = max(self.peak, tree_rss())


def memory_run(model: BenchModel, folder: Path, output: Path) -> dict[str, float]:
    """Tree RSS before and at peak (MiB) during one batch job, with its wall time."""
    with PeakTreeRss() as rss:
        seconds, summary = timed_batch_job(model, folder, output)
    return {"images": summary.files, "wall_s": seconds, "rss_before_mib": rss.before / MIB,
            "peak_rss_mib": rss.peak / MIB}


def peak_memory(work: Path, images: int) -> dict[str, Any]:
    """Peak tree RSS of a batch job on 1× then 10× the images, at MEMORY_IMAGE_SIZE px, on the same cluster."""
    model = bench_model(work / "registry", MEMORY_IMAGE_SIZE)
    runs = {
        f"{factor}x": memory_run(model, photo_folder(work / f"photos-{images}x{factor}", images, factor),
                                 work / "out" / f"memory-{factor}x")
        for factor in (1, MEMORY_FACTOR)
    }
    ratio = runs[f"{MEMORY_FACTOR}x"]["peak_rss_mib"] / runs["1x"]["peak_rss_mib"]
    return {
        "model": model.reference,
        "image_size": MEMORY_IMAGE_SIZE,
        "runs": runs,
        "peak_rss_10x_over_1x": ratio,
        "note": (
            f"a second artifact at {MEMORY_IMAGE_SIZE} px keeps the 10× run short; the pipeline's memory does not "
            "depend on the model input size beyond the batch arrays. RSS is summed over this process (which also "
            "holds the 224 px models of the throughput measures) and every descendant: Ray's GCS, raylet, "
            "dashboard, idle workers, the model actor and Parquet writers; shared object-store pages count in "
            f"each process that maps them. Sampled every {SAMPLE_INTERVAL_S} s; 1× runs first, then 10×."
        ),
    }


def throughput(work: Path, images: int) -> dict[str, Any]:
    """Bare model, batch job and naive script images/s on the same N photos at IMAGE_SIZE px."""
    model = bench_model(work / "registry", IMAGE_SIZE)
    folder = photo_folder(work / f"photos-{images}x1", images)
    bare = bare_model_images_per_s(model, folder)
    batch_s, summary = timed_batch_job(model, folder, work / "out" / "batch")
    naive_s = naive_script_seconds(model, folder, work / "out" / "naive")
    resources = actor_resources(batch_settings(model, folder, work / "out" / "batch"))
    return {
        "model": model.reference,
        "images_per_s": {
            "bare_model": bare,
            "batch_job": images / batch_s,
            "batch_job_summary": summary.images_per_second,
            "naive_script": images / naive_s,
        },
        "seconds": {"batch_job": batch_s, "batch_job_summary": summary.wall_s, "naive_script": naive_s},
        "batch_rows": {"files": summary.files, "failed": summary.failed},
        "actors": {"count": resources.concurrency, "cpus_each": resources.cpus},
        "batch_over_bare": images / batch_s / bare,
        "batch_over_naive": naive_s / batch_s,
    }


def run(bench_dir: Path, *, images: int = IMAGES, **_: Any) -> dict[str, Any]:
    work = bench_dir / "batch"
    started_ray = not ray.is_initialized()
    connect(None, progress=False)  # the cluster starts here, before anything is timed
    try:
        speed = throughput(work, images)
        memory = peak_memory(work, images)
    finally:
        if started_ray:
            ray.shutdown()
    meets = {
        "batch_over_bare": speed["batch_over_bare"] >= TARGET_BATCH_OVER_BARE,
        "batch_over_naive": speed["batch_over_naive"] >= TARGET_BATCH_OVER_NAIVE,
        "peak_rss_10x_over_1x": memory["peak_rss_10x_over_1x"] <= TARGET_MAX_PEAK_RSS_RATIO,
    }
    return {
        "dataset": f"{DATASET.name} (../shared/datasets): real JPEG photos, copied into {work}",
        "images": images,
        "image_size": IMAGE_SIZE,
        "batch_size": BATCH_SIZE,
        "precision": PRECISION,
        "weights": "none: random initialisation, no network here; speed does not depend on the weight values",
        "cpus": cpu_count(),
        **speed,
        "timing": (
            "bare model: predict_batch on pre-decoded 224×224 uint8 arrays, one untimed warm-up batch. Batch job: "
            "run_batch from call to return, the Ray cluster started beforehand; includes actor start, TensorFlow "
            "import in the actor, model load, read, decode, resize, predict and Parquet write. Naive script: in "
            "this process, where TensorFlow is already imported; includes model load, PIL decode + resize, "
            "predict_batch in batches of 32 and pandas to_parquet."
        ),
        "scaling": (
            "one model actor per node holding the node's CPUs less 0.5 for the Parquet writers; TensorFlow's "
            "intra-op threads follow the actor's CPUs, so more cores speed up the model on each node, and more "
            "nodes add actors (near-linear while the input listing and writers keep up). The naive script is "
            "one process on one machine."
        ),
        "memory": memory,
        "targets": {
            "batch_over_bare_min": TARGET_BATCH_OVER_BARE,
            "batch_over_naive_min": TARGET_BATCH_OVER_NAIVE,
            "peak_rss_10x_over_1x_max": TARGET_MAX_PEAK_RSS_RATIO,
        },
        "meets": meets,
        "meets_targets": all(meets.values()),
    }


def rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(measure, value) lines for the printed table."""
    speed, memory = result["images_per_s"], result["memory"]
    runs = memory["runs"]
    size = f"{result['images']} JPEGs, {result['image_size']} px"
    return [
        (f"bare model images/s ({size}, batch {result['batch_size']})", f"{speed['bare_model']:.2f}"),
        ("batch job images/s, end to end (summary's own)",
         f"{speed['batch_job']:.2f} ({speed['batch_job_summary']:.2f})"),
        ("naive script images/s, end to end", f"{speed['naive_script']:.2f}"),
        (f"batch ÷ bare (target ≥ {TARGET_BATCH_OVER_BARE})", f"{result['batch_over_bare']:.2f}"),
        (f"batch ÷ naive (target ≥ {TARGET_BATCH_OVER_NAIVE})", f"{result['batch_over_naive']:.2f}"),
        (f"peak RSS 1× / {MEMORY_FACTOR}× MiB ({runs['1x']['images']} / {runs[f'{MEMORY_FACTOR}x']['images']} "
         f"JPEGs, {memory['image_size']} px)",
         f"{runs['1x']['peak_rss_mib']:.0f} / {runs[f'{MEMORY_FACTOR}x']['peak_rss_mib']:.0f}"),
        (f"peak RSS {MEMORY_FACTOR}× ÷ 1× (target ≤ {TARGET_MAX_PEAK_RSS_RATIO})",
         f"{memory['peak_rss_10x_over_1x']:.2f}"),
        ("meets targets", "yes" if result["meets_targets"] else "NO"),
    ]
