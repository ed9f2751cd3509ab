"""`train` section: Ray Train epochs (1 worker) against plain single-process Keras epochs, same data, model and
augmentation; each side's median epoch after the first (which traces the graph and warms caches). The Ray side's
cluster starts after the plain side ends; its worker runs at this process's priority."""

from __future__ import annotations

import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.cluster import section_cluster
from bench.data import digits_folder
from imgclf.config import ClusterSettings, TrainSettings, VGGSettings
from imgclf.data.dataset import prepare_dataset
from imgclf.models.keras_api import keras, tf
from imgclf.models.vgg import VGGArchitecture
from imgclf.runtime import cpu_count
from imgclf.training.datasets import to_tf_dataset
from imgclf.training.distributed import train_vgg16_on_ray
from imgclf.training.vgg_loop import class_weights, train_vgg16

TARGET_MAX_RATIO = 1.15
EPOCHS = 4  # the first epoch traces the graph and warms caches; the median of the others is compared


def run(bench_dir: Path, **_: Any) -> dict[str, Any]:
    cpus = cpu_count()
    settings = TrainSettings(
        data_dir=digits_folder(bench_dir), name="bench", models=("vgg16",),
        vgg=VGGSettings(image_size=32, epochs=EPOCHS),
        cluster=ClusterSettings(workers=1, cpus_per_worker=cpus, storage_path=str(bench_dir / "ray_results")),
    )
    data = prepare_dataset(
        settings.data_dir, image_size=32, split=settings.split, limits=settings.limits, progress=False
    )
    architecture = VGGArchitecture(num_classes=len(data.classes), image_size=32)
    train_images, train_labels = data.split("train")
    weights = class_weights(settings.vgg, train_labels, architecture.num_classes)
    keras.utils.set_random_seed(settings.seed)
    plain = train_vgg16(
        settings.vgg, architecture,
        to_tf_dataset(train_images, train_labels, batch_size=32, shuffle=True, seed=settings.seed,
                      augmentation=settings.vgg.augmentation),
        to_tf_dataset(*data.split("val"), batch_size=32, shuffle=False, seed=settings.seed),
        train_images=len(train_images), verbose=0,
        class_weight=weights,
    )
    run_name = f"bench-train-{datetime.now():%Y%m%d-%H%M%S}"  # a new run: an old name would resume its checkpoints
    with section_cluster():  # only for the Ray side: its own processes' share of the CPUs is part of its cost
        on_ray = train_vgg16_on_ray(settings, architecture, data, run_name, class_weight=weights, progress=False)
    plain_s, ray_s = (median_epoch_s(run.history["epoch_seconds"]) for run in (plain, on_ray))
    return {
        "train_images": len(train_images),
        "cpus": cpus,
        "plain_keras_epoch_s": plain_s,
        "ray_train_1_worker_epoch_s": ray_s,
        **ray_over_plain(plain_s, ray_s),
        "gpus_visible": len(tf.config.list_physical_devices("GPU")),
    }


def median_epoch_s(epoch_seconds: list[float]) -> float:
    """The median epoch after the first (which traces the graph and warms caches)."""
    return statistics.median(epoch_seconds[1:])


def ray_over_plain(plain_s: float, ray_s: float) -> dict[str, Any]:
    """Ray Train's median epoch ÷ plain Keras's, against the target."""
    return {"ratio": ray_s / plain_s, "target_max_ratio": TARGET_MAX_RATIO,
            "meets_target": ray_s / plain_s <= TARGET_MAX_RATIO}


def rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (f"plain Keras fit, median epoch s ({result['train_images']} images, 32 px)",
         f"{result['plain_keras_epoch_s']:.1f}"),
        ("Ray Train 1 worker, median epoch s", f"{result['ray_train_1_worker_epoch_s']:.1f}"),
        ("Ray Train ÷ plain (target ≤ 1.15)", f"{result['ratio']:.2f}"),
        ("meets target", "yes" if result["meets_target"] else "NO"),
    ]
