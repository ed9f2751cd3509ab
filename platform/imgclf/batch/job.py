"""A batch classification job: every image file below INPUT → one Parquet row in OUTPUT, streamed through Ray Data.

    summary = run_batch(BatchSettings(input="photos/", output="out/", model="digits-vgg16"))
    print(summary.line())

Everything that can be checked is checked before any work starts (input folder, model, output folder,
Pushgateway). The pipeline never materialises the dataset: blocks of file paths flow into model actors that
read, decode and classify each batch, and Parquet writers stream the rows out, so memory stays bounded
however many files INPUT holds.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import ray

from imgclf.batch.inputs import ListedFile, files_table, list_images, require_folder
from imgclf.batch.metrics import BatchProgress, PeriodicPusher, check_pushgateway, push_batch_metrics
from imgclf.batch.output import count_rows, parquet_files, prepare_output, written_paths
from imgclf.batch.predictor import BatchPredictor, PredictorSpec
from imgclf.batch.progress import ProgressCounter
from imgclf.batch.roots import AllowedRoots
from imgclf.cluster import connect
from imgclf.batch.settings import ALLOWED_ROOTS_ENV, BatchSettings
from imgclf.errors import ConfigError
from imgclf.registry import Registry
from imgclf.resources import Placement, place
from imgclf.storage import Location

LOG = logging.getLogger("imgclf.batch")
PATHS_PER_BLOCK_BATCHES = 4  # input blocks hold this many model batches of paths
IO_CPUS_PER_NODE = 0.5  # left free on each node for the Parquet writers
WRITER_CPUS = 0.25
JOB_CONFIG_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"  # set by Ray for a job's entrypoint


@dataclass(frozen=True)
class BatchSummary:
    output: str
    files: int  # rows written by this run
    failed: int
    resumed: int  # files skipped because their rows were already in the output
    wall_s: float

    @property
    def ok(self) -> int:
        return self.files - self.failed

    @property
    def images_per_second(self) -> float:
        return self.files / self.wall_s if self.wall_s > 0 else 0.0

    def line(self) -> str:
        resumed = f", {self.resumed} already in the output" if self.resumed else ""
        return (
            f"classified {self.files} files: {self.ok} ok, {self.failed} failed{resumed}; "
            f"{self.wall_s:.1f} s, {self.images_per_second:.2f} images/s → {self.output}"
        )


def actor_placement(settings: BatchSettings) -> Placement:
    """Model actors: one per node (its CPUs less IO_CPUS_PER_NODE for the Parquet writers) or per GPU, unless set."""
    return place(settings.concurrency, settings.cpus_per_actor, settings.gpus_per_actor,
                 spare_cpus=IO_CPUS_PER_NODE, min_cpus=0.5)


def default_job_name() -> str:
    """The Ray job's submission id when running as a Ray job, else the driver's Ray job id."""
    try:
        metadata = json.loads(os.environ.get(JOB_CONFIG_ENV, "{}")).get("metadata", {})
    except ValueError:
        metadata = {}
    return metadata.get("job_submission_id") or f"imgclf-batch-{ray.get_runtime_context().get_job_id()}"


def run_batch(settings: BatchSettings) -> BatchSummary:
    """Classify every image below settings.input into Parquet files in settings.output; return the counts."""
    started = time.monotonic()
    source, target = Location.parse(settings.input), Location.parse(settings.output)
    roots = AllowedRoots.resolve(settings.allowed_roots)
    check_allowed(roots, {"input": source, "output": target, "registry": Location.parse(settings.registry)})
    name, version = Registry(settings.registry).resolve(settings.model)
    require_folder(source)
    if settings.pushgateway:
        check_pushgateway(settings.pushgateway)
    prepare_output(target, resume=settings.resume)
    with ThreadPoolExecutor(max_workers=1) as background:  # list the files while Ray starts or connects
        listing = background.submit(list_images, source)
        connect(settings.address, progress=settings.progress)
        files = listing.result()
    done = written_paths(target) if settings.resume else set()
    todo = [file for file in files if file.shown not in done]
    LOG.info("%d image files under %s; %d to classify with %s:%s", len(files), settings.input, len(todo), name, version)

    before = set(parquet_files(target))
    counter = ProgressCounter.remote() if settings.pushgateway else None
    resources = actor_placement(settings)
    spec = PredictorSpec(
        registry=settings.registry, name=name, version=version, input=settings.input, top_k=settings.top_k,
        embeddings=settings.embeddings, limits=settings.limits, backend=settings.backend, precision=settings.precision,
        threads=math.ceil(resources.cpus), roots=roots, progress=counter,
    )
    reference = f"{name}:{version}"
    if todo:
        if settings.pushgateway:
            job = settings.job_name or default_job_name()

            def read_progress() -> BatchProgress:
                files, failed = ray.get(counter.totals.remote(), timeout=10)
                return BatchProgress(files, failed, time.monotonic() - started)

            with PeriodicPusher(settings.pushgateway, job, read_progress, interval_s=settings.push_interval_s,
                                model=reference):
                write(todo, spec, resources, settings, target)
        else:
            write(todo, spec, resources, settings, target)
    counts = count_rows(target, sorted(set(parquet_files(target)) - before))
    summary = BatchSummary(target.shown(target.base), counts.files, counts.failed, len(files) - len(todo),
                           time.monotonic() - started)
    if settings.pushgateway:
        final = BatchProgress(summary.files, summary.failed, summary.wall_s, finished=True)
        try:
            push_batch_metrics(settings.pushgateway, settings.job_name or default_job_name(), final, model=reference)
        except OSError as exc:
            LOG.warning("could not push the final batch metrics to %s: %s", settings.pushgateway, exc)
    return summary


def check_allowed(roots: AllowedRoots, locations: dict[str, Location]) -> None:
    """With allowed roots set, every location (input, output, registry) must be a local folder below them."""
    if not roots:
        return
    for what, location in locations.items():
        if not location.is_local:
            raise ConfigError(f"{what} {location.shown(location.base)} is not a local folder; ${ALLOWED_ROOTS_ENV} "
                              f"allows only folders below {', '.join(roots.folders)}")
        refusal = roots.refusal(location.base, what)
        if refusal:
            raise ConfigError(refusal)


def write(todo: list[ListedFile], spec: PredictorSpec, resources: Placement, settings: BatchSettings,
          target: Location) -> None:
    """The streaming pipeline: path blocks → model actors (read, decode, classify) → Parquet writers."""
    block_rows = settings.batch_size * PATHS_PER_BLOCK_BATCHES
    blocks = [files_table(todo[start : start + block_rows]) for start in range(0, len(todo), block_rows)]
    dataset = ray.data.from_arrow(blocks).map_batches(
        BatchPredictor,
        fn_constructor_args=(spec,),
        batch_size=settings.batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=resources.count),
        num_cpus=resources.cpus,
        num_gpus=resources.gpus or None,
    )
    dataset.write_parquet(
        target.base,
        filesystem=target.filesystem,
        min_rows_per_file=settings.rows_per_file,
        ray_remote_args={"num_cpus": WRITER_CPUS},
    )
