"""`imgclf train`: train, evaluate and register models, here or as a Ray job on a cluster's dashboard."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imgclf.cli.options import add_guard_options, add_registry, comma_list, positive_int, settings_from
from imgclf.config import FEATURE_SETS, FLIP_MODES, INFERENCE_PRECISIONS, PRECISIONS, TrainSettings, model_kind_names
from imgclf.errors import ConfigError


def register(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser("train", help="train, evaluate and register models on a folder-per-class dataset",
                                allow_abbrev=False)
    train.add_argument("--data", type=Path, required=True, action="append",
                       help="folder with one subfolder per class; repeat it to add more roots (the page's "
                       "corrections): one label set, a file whose bytes equal an earlier one's counted once, a later "
                       "root's label winning (docs/retraining.md)")
    train.add_argument("--config", type=Path, help="YAML settings file; command-line options override it")
    train.add_argument("--models", type=comma_list, help=f"comma list of {','.join(model_kind_names())} (default: all)")
    train.add_argument("--features", type=comma_list, help=f"baseline feature sets: {','.join(FEATURE_SETS)} (default: all)")
    train.add_argument("--weights", help="VGG16 base weights: imagenet, none, or a weights file (default: none)")
    train.add_argument("--image-size", type=int, help="model input side in pixels, 32-512 (default: 224)")
    train.add_argument("--epochs", type=int, help="training epochs, at most (default: 15; early stopping may end sooner)")
    train.add_argument("--fine-tune-epochs", type=int, help="extra epochs fine-tuning block5 (pretrained weights only)")
    train.add_argument("--batch-size", type=int, help="training batch size (default: 32)")
    train.add_argument("--learning-rate", type=float, help="Adam learning rate (default: 1e-4)")
    train.add_argument("--precision", choices=PRECISIONS, help="inference precision recorded in model.json")
    train.add_argument("--flip", choices=FLIP_MODES,
                       help="random mirroring while training (default: none; photos: horizontal; never for digits)")
    train.add_argument("--early-stopping-patience", type=int,
                       help="epochs without a lower validation loss before training stops, 0: never (default: 8)")
    train.add_argument("--seed", type=int, help="seed for the split, initialisation and shuffling (default: 42)")
    train.add_argument("--name", help="model name prefix in the registry (default: the data folder's name)")
    train.add_argument("--output", type=Path, help="folder for run reports (default: runs)")
    train.add_argument("--optimize", type=comma_list, metavar="PRECISIONS",
                       help=f"after training, make these OpenVINO variants ({','.join(INFERENCE_PRECISIONS)}) of "
                       "every model with a network (`imgclf optimize`)")
    add_guard_options(train)
    cluster = train.add_argument_group("Ray cluster")
    cluster.add_argument(
        "--address",
        help="Ray cluster to train on: auto, ray://HOST:10001, or a dashboard URL http://HOST:8265 to submit the run "
        "as a Ray job (run from the imgclf source folder, which is uploaded as the job's working folder: relative "
        "paths in the other options then mean paths inside that uploaded copy, so give the registry, output and "
        "storage as absolute paths or URIs the cluster can reach) (default: start a local one)",
    )
    cluster.add_argument("--workers", type=positive_int, help="Ray Train workers (default: cluster CPUs ÷ CPUs per worker)")
    cluster.add_argument("--cpus-per-worker", type=float, help="CPUs each worker reserves (default: 1)")
    cluster.add_argument("--gpus-per-worker", type=float, help="GPUs each worker reserves (default: 1 when the cluster has GPUs)")
    cluster.add_argument("--storage-path", help="checkpoint folder or URI, shared by all nodes (default: ray_results)")
    cluster.add_argument("--max-failures", type=int, help="worker-group restarts from the last checkpoint (default: 2)")
    add_registry(train)
    train.set_defaults(handler=train_models)


def train_settings(args: argparse.Namespace) -> TrainSettings:
    """The YAML file (if any) overlaid with every option given on the command line."""
    return settings_from(TrainSettings, {
        "data_dir": args.data[0], "extra_data_dirs": args.data[1:], "registry": args.registry, "name": args.name,
        "models": args.models, "output_dir": args.output, "seed": args.seed,
        "split": {"seed": args.seed},
        "vgg": {"weights": args.weights, "image_size": args.image_size, "epochs": args.epochs,
                "fine_tune_epochs": args.fine_tune_epochs, "batch_size": args.batch_size,
                "learning_rate": args.learning_rate, "precision": args.precision,
                "early_stopping_patience": args.early_stopping_patience, "augmentation": {"flip": args.flip}},
        "baselines": {"feature_sets": args.features},
        "optimize": {"precisions": args.optimize, "max_accuracy_drop": args.max_accuracy_drop,
                     "calibration_images": args.calibration_images},
        "cluster": {"address": args.address, "workers": args.workers, "cpus_per_worker": args.cpus_per_worker,
                    "gpus_per_worker": args.gpus_per_worker, "storage_path": args.storage_path,
                    "max_failures": args.max_failures},
    }, args.config)


def train_models(args: argparse.Namespace) -> int:
    from imgclf.submit import is_dashboard_address

    settings = train_settings(args)
    if is_dashboard_address(args.address):
        return run_as_job(args)
    if is_dashboard_address(settings.cluster.address):
        raise ConfigError(
            f"cluster.address {settings.cluster.address!r} in {args.config} is a dashboard URL; "
            "pass it as --address to submit a Ray job, or use auto or ray://HOST:10001 there"
        )
    from imgclf.training.run import run_training

    result = run_training(settings, progress=sys.stderr.isatty())
    print(result.table())
    print(f"\nreport: {result.report_path}")
    return 0


def run_as_job(args: argparse.Namespace) -> int:
    """`imgclf train --address http://...`: run `python jobs/train.py <the same options>` as a Ray job and follow it."""
    from imgclf.submit import follow, split_address, submit_work

    _, options = split_address(args.argv[args.argv.index("train") + 1 :])
    job_id = submit_work(args.address, "train", options)
    print(f"submitted Ray job {job_id} to {args.address}", flush=True)
    try:
        status = follow(args.address, job_id)
    except KeyboardInterrupt:
        print(f"imgclf: stopped following; Ray job {job_id} keeps running "
              f"(ray job stop --address {args.address} {job_id})", file=sys.stderr)
        raise
    if status != "SUCCEEDED":
        print(f"imgclf: error: Ray job {job_id} ended {status} (logs: ray job logs --address {args.address} {job_id})",
              file=sys.stderr)
        return 1
    return 0
