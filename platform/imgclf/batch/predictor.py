"""The model actor of a batch job: loads the model once, then turns batches of file paths into output rows."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from imgclf.batch.inputs import files_of, read_file
from imgclf.batch.roots import AllowedRoots
from imgclf.models.prediction_schema import output_schema
from imgclf.config import DecodeLimits
from imgclf.data.decode import decode_image
from imgclf.data.transforms import resize_image, stack_images
from imgclf.errors import ImageDecodeError
from imgclf.models.backends import BackendChoice
from imgclf.models.prediction import Prediction
from imgclf.storage import Location

LOG = logging.getLogger("imgclf.batch")


@dataclass(frozen=True)
class PredictorSpec:
    """Everything a model actor needs, small enough to ship to every actor."""

    registry: str
    name: str
    version: str
    input: str
    top_k: int
    embeddings: bool
    limits: DecodeLimits
    backend: str
    precision: str | None
    threads: int | None  # the runtime's threads (TensorFlow, OpenVINO, ...): the CPUs the actor reserved, rounded up
    roots: AllowedRoots = AllowedRoots()  # every file read must resolve below these
    progress: Any = None  # a ProgressCounter actor handle to report each batch to, or None


def loaded_line(model: str, choice: BackendChoice, seconds: float) -> str:
    """What a model actor says once its model is loaded: how it runs, how long loading took, and whether this
    process imported TensorFlow (a compiled variant runs without it)."""
    tensorflow = "imported" if "tensorflow" in sys.modules else "not imported"
    return f"{model} runs on {choice} in this model actor; loaded in {seconds:.1f} s, TensorFlow {tensorflow}"


def announce(line: str) -> None:
    """A line on this actor's stderr, which Ray keeps in the worker's log file and echoes to the job's output
    (Ray sets up no Python logging in its workers: an INFO record would be dropped there)."""
    print(line, file=sys.stderr, flush=True)


class BatchPredictor:
    """A Ray Data callable class: Arrow batches of listed files (inputs.files_table) in, output rows (schema.py)
    out."""

    def __init__(self, spec: PredictorSpec) -> None:
        from imgclf.models.artifact import load_classifier
        from imgclf.registry import Registry

        started = time.monotonic()
        self.spec = spec
        self.location = Location.parse(spec.input)
        folder = Registry(spec.registry).local_path(f"{spec.name}:{spec.version}")
        self.classifier = load_classifier(folder, backend=spec.backend, precision=spec.precision, threads=spec.threads)
        self.schema = output_schema(embeddings=spec.embeddings)
        announce(loaded_line(f"{spec.name}:{spec.version}", BackendChoice(**self.classifier.card["inference"]),
                             time.monotonic() - started))

    def __call__(self, batch: pa.Table) -> pa.Table:
        files = files_of(batch)
        paths = [file.shown for file in files]
        errors: list[str | None] = [None] * len(paths)
        images, decoded = [], []
        for index, file in enumerate(files):
            try:
                data = read_file(self.location, file, self.spec.limits, self.spec.roots)
                # resized at once, so the batch never holds more than one image at its full size
                images.append(resize_image(decode_image(data, source=file.shown, limits=self.spec.limits),
                                           self.classifier.input_size))
                decoded.append(index)
            except ImageDecodeError as exc:
                errors[index] = f"{type(exc).__name__}: {exc.cause}"
            except Exception as exc:  # noqa: BLE001 - one bad file must become an error row, never end the job
                LOG.exception("unexpected failure on %s", file.shown)
                errors[index] = f"{type(exc).__name__}: {exc}"
        batch_images = stack_images(images, self.classifier.input_size)
        if self.spec.embeddings:
            embeddings, probabilities = self.classifier.embed_and_predict(batch_images)
        else:
            embeddings, probabilities = None, self.classifier.predict_batch(batch_images)
        if self.spec.progress is not None:
            self.spec.progress.add.remote(len(paths), len(paths) - len(decoded))
        return self.rows(paths, errors, decoded, probabilities, embeddings)

    def rows(self, paths: list[str], errors: list[str | None], decoded: list[int], probabilities: np.ndarray,
             embeddings: np.ndarray | None) -> pa.Table:
        """One output row per path; rows of undecodable files carry only path, model and error."""
        count, labels = len(paths), self.classifier.labels
        label: list[str | None] = [None] * count
        label_index: list[int | None] = [None] * count
        score: list[float | None] = [None] * count
        top_k_rows: list[list[dict] | None] = [None] * count
        embedding: list[list[float] | None] = [None] * count
        for row, index in enumerate(decoded):
            prediction = Prediction.from_probabilities(
                probabilities[row], labels, self.spec.top_k, model_name=self.spec.name,
                model_version=self.spec.version, embedding=None if embeddings is None else embeddings[row])
            label[index], label_index[index], score[index] = prediction.label, prediction.label_index, prediction.score
            top_k_rows[index] = prediction.top_k_rows()
            if prediction.embedding is not None:
                embedding[index] = list(prediction.embedding)
        columns = {
            "path": paths, "label": label, "label_index": label_index, "score": score, "top_k": top_k_rows,
            "model": [self.spec.name] * count, "model_version": [self.spec.version] * count, "error": errors,
        }
        if self.spec.embeddings:
            columns["embedding"] = embedding
        return pa.Table.from_pydict(columns, schema=self.schema)
