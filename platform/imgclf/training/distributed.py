"""VGG16 on Ray Train: data-parallel TensorflowTrainer workers fed by Ray Data shards, checkpointed every epoch."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import ray
import ray.train
from ray.data.block import BlockAccessor
from ray.train.tensorflow import TensorflowTrainer

from imgclf.cluster import connect
from imgclf.config import ClusterSettings, TrainSettings, VGGSettings, build_dataclass
from imgclf.data.dataset import PreparedDataset
from imgclf.models.keras_api import keras, tf
from imgclf.models.vgg import VGGArchitecture, build_vgg16, leaf_layers, load_weights_file, ordered_weights, save_weights_file
from imgclf.errors import ConfigError
from imgclf.resources import place
from imgclf.runtime import configure_tensorflow
from imgclf.storage import absolute
from imgclf.training.datasets import to_tf_dataset
from imgclf.training.vgg_loop import TrainedVGG, TrainingState, train_vgg16

LOG = logging.getLogger("imgclf.training")
WEIGHTS_FILE = "weights.npz"
STATE_FILE = "state.json"
WORKER_RECORD = "worker-{rank}.json"  # every worker's record of an epoch, in that epoch's checkpoint


BLOCK_ROWS = 256  # rows per Ray Data block of a split: several blocks, so streaming_split shares them out evenly


def split_dataset(data: PreparedDataset, split: str) -> ray.data.Dataset:
    """One split as a Ray Dataset of the images the driver already decoded (no second decode, no Ray Data tasks:
    the blocks go to the object store as they are, and Ray Train shards them across its workers)."""
    images, labels = data.split(split)
    blocks = [BlockAccessor.batch_to_block({"image": images[start:start + BLOCK_ROWS],
                                            "label": labels[start:start + BLOCK_ROWS].astype(np.int32)})
              for start in range(0, len(labels), BLOCK_ROWS)]
    return ray.data.from_blocks(blocks)


def scaling_config(cluster: ClusterSettings) -> ray.train.ScalingConfig:
    """Workers and their resources (imgclf.resources.place: explicit settings, else per GPU or per node)."""
    workers = place(cluster.workers, cluster.cpus_per_worker, cluster.gpus_per_worker)
    per_worker = {"CPU": workers.cpus} | ({"GPU": workers.gpus} if workers.gpus else {})
    return ray.train.ScalingConfig(num_workers=workers.count, use_gpu=bool(workers.gpus), resources_per_worker=per_worker)


def restored_state(checkpoint: ray.train.Checkpoint | None, into: Path) -> TrainingState | None:
    """The epochs done, history and weights recorded in a checkpoint, copied into a local folder."""
    if checkpoint is None:
        return None
    into.mkdir(parents=True, exist_ok=True)
    with checkpoint.as_directory() as folder:
        state = json.loads((Path(folder) / STATE_FILE).read_text())
        shutil.copy(Path(folder) / WEIGHTS_FILE, into / WEIGHTS_FILE)
    return TrainingState(epochs_done=state["epochs_done"], history=state["history"], weights_path=str(into / WEIGHTS_FILE))


def weights_sha256(model: keras.Model) -> str:
    """SHA-256 of every variable's values in checkpoint order: the same bytes as the arrays of its weights file."""
    digest = hashlib.sha256()
    for weight in ordered_weights(model):
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()


class ReportEachEpoch(keras.callbacks.Callback):
    """Report every epoch's metrics to Ray Train with a checkpoint: weights and history from rank 0, and from every
    worker its record of the epoch (WORKER_RECORD)."""

    def __init__(self, rank: int, start: TrainingState | None) -> None:
        super().__init__()
        self.rank = rank
        self.history = {key: list(values) for key, values in (start.history if start else {}).items()}
        self.start_weights_sha256 = ""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.start_weights_sha256 = weights_sha256(self.model)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        metrics = {key: float(value) for key, value in (logs or {}).items()}
        for key, value in metrics.items():
            self.history.setdefault(key, []).append(value)
        with tempfile.TemporaryDirectory() as folder:
            if self.rank == 0:
                save_weights_file(self.model, os.path.join(folder, WEIGHTS_FILE))
                state = {"epochs_done": epoch + 1, "history": self.history}
                Path(folder, STATE_FILE).write_text(json.dumps(state))
            Path(folder, WORKER_RECORD.format(rank=self.rank)).write_text(json.dumps(self.worker_record(epoch)))
            ray.train.report(metrics | {"epoch": epoch + 1}, checkpoint=ray.train.Checkpoint.from_directory(folder))

    def worker_record(self, epoch: int) -> dict[str, Any]:
        """Which process trained `epoch` (0-based), from which weights, with which layers trainable."""
        return {"epoch": epoch + 1, "rank": self.rank, "pid": os.getpid(),
                "start_weights_sha256": self.start_weights_sha256,
                "trainable_layers": [layer.name for layer in leaf_layers(self.model) if layer.trainable_weights]}


def shard_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """This worker's shard of a split, read once into memory: the shard only, never the whole split.

    Feeding Keras from in-memory arrays (instead of re-reading the shard through `to_tf` every epoch)
    keeps the per-epoch cost at the plain `fit` level.
    """
    batches = list(ray.train.get_dataset_shard(split).iter_batches(batch_size=256, batch_format="numpy"))
    if not batches:
        raise ConfigError(f"this Ray Train worker got no {split} images: use fewer workers for so small a dataset")
    return np.concatenate([b["image"] for b in batches]), np.concatenate([b["label"] for b in batches])


def console_for_imgclf() -> None:
    """A Ray Train worker's console: imgclf's lines (one per epoch) and every library's warnings, not Ray Train's
    per-report INFO notices (whose logger sits outside `ray.train`, beyond its LoggingConfig)."""
    logging.getLogger("imgclf").setLevel(logging.INFO)
    logging.getLogger().setLevel(logging.WARNING)


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Runs in every Ray Train worker: this worker's shards, MultiWorkerMirroredStrategy, the shared loop."""
    console_for_imgclf()
    configure_tensorflow(config["cpus_per_worker"])
    keras.utils.set_random_seed(config["seed"])
    settings = build_dataclass(VGGSettings, config["vgg"], "vgg.")
    context = ray.train.get_context()
    # One worker needs no collectives: the default strategy saves MultiWorkerMirroredStrategy's all-reduce.
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if context.get_world_size() > 1 else tf.distribute.get_strategy()
    batch_size = max(settings.batch_size // context.get_world_size(), 1)
    train_images, train_labels = shard_arrays("train")
    train = to_tf_dataset(train_images, train_labels, batch_size=batch_size, shuffle=True,
                          seed=config["seed"] + context.get_world_rank(), augmentation=settings.augmentation)
    val = to_tf_dataset(*shard_arrays("val"), batch_size=batch_size, shuffle=False, seed=config["seed"])
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = ray.train.get_checkpoint()
        start = restored_state(checkpoint, Path(scratch))
        if start:
            LOG.info("resuming from checkpoint %s of epoch %d, training on from epoch %d", checkpoint.path,
                     start.epochs_done, start.epochs_done + 1)
        train_vgg16(
            settings, VGGArchitecture(**config["architecture"]), train, val,
            train_images=config["train_images"], strategy=strategy, verbose=0, start=start,
            callbacks=[ReportEachEpoch(context.get_world_rank(), start)],
            class_weight=config["class_weight"],
        )


def storage_path(cluster: ClusterSettings) -> str:
    return absolute(cluster.storage_path)


def train_vgg16_on_ray(
    settings: TrainSettings, architecture: VGGArchitecture, data: PreparedDataset, run_name: str, *,
    class_weight: dict[int, float] | None, progress: bool,
) -> TrainedVGG:
    """Fit on the Ray cluster; return the best epoch's model (lowest validation loss) and the full history."""
    connect(settings.cluster.address, progress=progress)
    datasets = {split: split_dataset(data, split) for split in ("train", "val")}
    scaling = scaling_config(settings.cluster)
    LOG.info("Ray Train: %d worker(s), %s each", scaling.num_workers, scaling.resources_per_worker)
    trainer = TensorflowTrainer(
        train_loop_per_worker,
        train_loop_config={
            "vgg": settings.to_dict()["vgg"],
            "architecture": architecture.to_dict(),
            "cpus_per_worker": scaling.resources_per_worker["CPU"],
            "train_images": len(data.indices("train")),
            "seed": settings.seed,
            "class_weight": class_weight,
        },
        scaling_config=scaling,
        run_config=ray.train.RunConfig(
            name=run_name,
            storage_path=storage_path(settings.cluster),
            failure_config=ray.train.FailureConfig(max_failures=settings.cluster.max_failures),
            # Checkpoint and report notices stay in Ray Train's log files; the console gets one line per epoch.
            logging_config=ray.train.LoggingConfig(log_level="WARNING"),
        ),
        datasets=datasets,
    )
    result = trainer.fit()
    best_checkpoint, best_metrics = min(result.best_checkpoints, key=lambda item: item[1]["val_loss"])
    with tempfile.TemporaryDirectory() as scratch:
        final = restored_state(result.checkpoint, Path(scratch, "final"))
        best = restored_state(best_checkpoint, Path(scratch, "best"))
        model = build_vgg16(architecture, weights="none")
        load_weights_file(model, best.weights_path)
    LOG.info("best epoch %d (val_loss=%.4f); checkpoints in %s", best_metrics["epoch"], best_metrics["val_loss"], result.path)
    return TrainedVGG(model=model, history=final.history, best_epoch=int(best_metrics["epoch"]))
