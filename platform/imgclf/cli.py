"""The `imgclf` command: data, train, evaluate, predict, models."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Sequence

from imgclf.config import (
    BACKENDS,
    FEATURE_SETS,
    INFERENCE_PRECISIONS,
    BatchSettings,
    MODEL_KINDS,
    OptimizeSettings,
    PRECISIONS,
    TrainSettings,
    check_choice,
    default_registry,
    merge,
)
from imgclf import __version__
from imgclf.errors import ConfigError, ImageDecodeError, ImgclfError

LOG = logging.getLogger("imgclf")
JOB_ENTRYPOINTS = {"classify": "jobs/batch_classify.py", "train": "jobs/train.py"}


def comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer; got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {value!r}")
    return number


def add_registry(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--registry", default=default_registry(), help="registry root: a folder or a pyarrow URI (default: %(default)s)"
    )


def add_backend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend", choices=BACKENDS, default="auto",
        help="auto: TensorFlow on a GPU node, else the fastest stored OpenVINO variant this CPU runs natively, else "
        "TensorFlow (default: %(default)s)",
    )
    parser.add_argument("--precision", choices=INFERENCE_PRECISIONS,
                        help="run at this precision (int8: the OpenVINO variant) (default: the model's own, or auto's)")


def add_guard_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-accuracy-drop", type=float,
                        help="refuse a variant whose test accuracy drops more than this many points (default: 0.5)")
    parser.add_argument("--calibration-images", type=positive_int,
                        help="int8 calibration images from the training split (default: 300)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imgclf", description="Image classification on Ray: VGG16, KNN, decision tree.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="write the embedded datasets").add_subparsers(dest="dataset", required=True)
    digits = data.add_parser("digits", help="scikit-learn's 1,797 handwritten digits as RGB PNGs, a folder per class")
    digits.add_argument("folder", type=Path)
    digits.add_argument("--size", type=positive_int, default=32, help="image side in pixels (default: %(default)s)")
    digits.set_defaults(handler=cmd_data_digits)

    train = commands.add_parser("train", help="train, evaluate and register models on a folder-per-class dataset")
    train.add_argument("--data", type=Path, required=True, help="folder with one subfolder per class")
    train.add_argument("--config", type=Path, help="YAML settings file; command-line options override it")
    train.add_argument("--models", type=comma_list, help=f"comma list of {','.join(MODEL_KINDS)} (default: all)")
    train.add_argument("--features", type=comma_list, help=f"baseline feature sets: {','.join(FEATURE_SETS)} (default: all)")
    train.add_argument("--weights", help="VGG16 base weights: imagenet, none, or a weights file (default: none)")
    train.add_argument("--image-size", type=int, help="model input side in pixels, 32-512 (default: 224)")
    train.add_argument("--epochs", type=int, help="training epochs (default: 5)")
    train.add_argument("--fine-tune-epochs", type=int, help="extra epochs fine-tuning block5 (pretrained weights only)")
    train.add_argument("--batch-size", type=int, help="training batch size (default: 32)")
    train.add_argument("--learning-rate", type=float, help="Adam learning rate (default: 1e-4)")
    train.add_argument("--precision", choices=PRECISIONS, help="inference precision recorded in model.json")
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
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser("evaluate", help="score a registered model on a folder-per-class dataset")
    evaluate.add_argument("model", help="NAME, NAME:VERSION or NAME:ALIAS")
    evaluate.add_argument("--data", type=Path, required=True, help="the dataset folder")
    evaluate.add_argument(
        "--split", choices=("test", "all"), default="test",
        help="test: the test files of the model's own manifest; all: every image in --data (default: %(default)s)",
    )
    add_backend(evaluate)
    evaluate.add_argument("--output", type=Path, default=Path("runs"), help="report folder parent (default: %(default)s)")
    add_registry(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)

    predict = commands.add_parser("predict", help="classify image files with a registered model")
    predict.add_argument("model", help="NAME, NAME:VERSION or NAME:ALIAS")
    predict.add_argument("images", nargs="+", type=Path)
    predict.add_argument("--top-k", type=positive_int, default=3, help="labels to show per image (default: %(default)s)")
    add_backend(predict)
    predict.add_argument("--json", action="store_true", help="one JSON object per line instead of text")
    add_registry(predict)
    predict.set_defaults(handler=cmd_predict)

    optimize = commands.add_parser(
        "optimize", help="compile OpenVINO variants (int8, bf16, fp32) of a registered model behind an accuracy guard",
        description="Convert the model with OpenVINO (int8: quantized with NNCF on its training split), score each "
        "variant on the model's test split next to TensorFlow fp32, and store the ones within the guard in the same "
        "registry version under variants/. Exits 1 when a variant is refused.",
    )
    optimize.add_argument("model", help="NAME, NAME:VERSION or NAME:ALIAS")
    optimize.add_argument("--precision", dest="precisions", action="append", choices=INFERENCE_PRECISIONS,
                          help="a variant to make; repeat for several (default: int8)")
    optimize.add_argument("--data", help="the dataset folder the model was trained on (default: the one recorded)")
    add_guard_options(optimize)
    add_registry(optimize)
    optimize.set_defaults(handler=cmd_optimize)

    classify = commands.add_parser(
        "classify", help="classify every image below a folder or URI into Parquet files (Ray Data, streaming)"
    )
    add_classify_options(classify)
    classify.set_defaults(handler=cmd_classify)

    serve = commands.add_parser(
        "serve", help="serve a model over HTTP and a Gradio page with Ray Serve (serve_config.yaml)",
        description="Deploy serve_config.yaml with `serve deploy`: to the cluster at --address, or to a Ray head "
        "started here (stopped again on Ctrl-C). Options override the config's values.",
    )
    serve.add_argument("--config", type=Path, default=Path("serve_config.yaml"), help="default: %(default)s")
    serve.add_argument("--model", help="NAME, NAME:VERSION or NAME:ALIAS (default: the config's)")
    serve.add_argument("--registry", help="registry root (default: the config's)")
    serve.add_argument("--host", help="HTTP bind address (default: the config's, 127.0.0.1)")
    serve.add_argument("--port", type=positive_int, help="HTTP port (default: the config's, 8000)")
    serve.add_argument("--examples", help="folder of example images for the page (default: the config's)")
    serve.add_argument("--address", help="deploy to this cluster's dashboard, http://HEAD:8265, and return")
    serve.set_defaults(handler=cmd_serve)

    cluster = commands.add_parser("cluster", help="a local Ray cluster: head (+ worker nodes) on this machine")
    cluster_actions = cluster.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = cluster_actions.add_parser("up", help="start a head with dashboard and metrics, plus optional worker nodes")
    up.add_argument("--workers", type=int, default=0, help="extra worker nodes on this machine (default: %(default)s)")
    up.add_argument("--num-cpus", type=positive_int, help="CPUs each node offers (default: Ray's count)")
    up.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s; token auth "
                    "is on for any other address)")
    up.add_argument("--dashboard-port", type=positive_int, default=8265, help="default: %(default)s")
    up.add_argument("--metrics-port", type=positive_int, default=8080, help="default: %(default)s")
    up.set_defaults(handler=cmd_cluster_up)
    cluster_actions.add_parser("down", help="stop every process of the cluster `up` started").set_defaults(
        handler=cmd_cluster_down)
    cluster_actions.add_parser("status", help="the cluster's addresses and Ray's resource summary").set_defaults(
        handler=cmd_cluster_status)

    jobs = commands.add_parser("jobs", help="run imgclf work as Ray jobs on a cluster (the Jobs API)")
    job_actions = jobs.add_subparsers(dest="action", required=True, metavar="ACTION")
    submit = job_actions.add_parser(
        "submit", help="submit `classify` or `train` as a Ray job from this source folder; prints the job id",
        description="Submit a Ray job that runs `python jobs/batch_classify.py` or `python jobs/train.py` with the "
        "remaining arguments, uploading this folder as the job's working folder (relative paths then mean paths "
        "inside that copy: give data, registry and output as absolute paths or URIs the cluster can reach).",
    )
    submit.add_argument("work", choices=sorted(JOB_ENTRYPOINTS), help="what the job runs")
    submit.add_argument("arguments", nargs=argparse.REMAINDER, help="the options of `imgclf classify` or `imgclf train`")
    status = job_actions.add_parser("status", help="a job's status: PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED")
    logs = job_actions.add_parser("logs", help="a job's logs")
    for action in (submit, status, logs):
        action.add_argument("--address", default=default_dashboard(),
                            help="the Ray dashboard, http://HOST:8265 (default: $RAY_ADDRESS or %(default)s)")
    for action in (status, logs):
        action.add_argument("job_id", help="the id `imgclf jobs submit` printed")
    logs.add_argument("--follow", action="store_true", help="stream until the job ends")
    submit.set_defaults(handler=cmd_jobs_submit)
    status.set_defaults(handler=cmd_jobs_status)
    logs.set_defaults(handler=cmd_jobs_logs)

    models = commands.add_parser("models", help="inspect the model registry").add_subparsers(dest="action", required=True)
    listing = models.add_parser("list", help="every model with its versions and aliases")
    add_registry(listing)
    listing.set_defaults(handler=cmd_models_list)
    return parser


def add_classify_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="folder (searched recursively) or pyarrow URI of the images")
    parser.add_argument("--model", required=True, help="NAME, NAME:VERSION or NAME:ALIAS")
    parser.add_argument("--output", required=True, help="folder or URI for the Parquet files")
    parser.add_argument("--top-k", type=positive_int, default=3, help="labels kept per image (default: %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="images per model call (default: %(default)s)")
    parser.add_argument("--concurrency", type=positive_int, help="model actors (default: one per node, or per GPU)")
    parser.add_argument("--cpus-per-actor", type=float, help="CPUs each model actor reserves (default: the node's, less 0.5)")
    parser.add_argument("--gpus-per-worker", type=float, help="GPUs each model actor reserves (default: 1 when the cluster has GPUs)")
    parser.add_argument("--embeddings", action="store_true", help="also write each image's embedding vector")
    parser.add_argument("--resume", action="store_true", help="skip files already in the output; continue a stopped job")
    parser.add_argument("--rows-per-file", type=positive_int, default=1000, help="rows per Parquet file (default: %(default)s)")
    add_backend(parser)
    parser.add_argument("--pushgateway", help="Prometheus Pushgateway URL to push the job's metrics to")
    parser.add_argument("--push-interval", type=float, default=15.0, help="seconds between pushes (default: %(default)s)")
    parser.add_argument("--job-name", help="the metrics' job label (default: the Ray job's id)")
    parser.add_argument("--address", help="Ray cluster: auto or HOST:PORT (default: start a local one)")
    parser.add_argument("--show", type=int, default=0, metavar="N", help="print the first N rows of the output")
    add_registry(parser)


def default_dashboard() -> str:
    address = os.environ.get("RAY_ADDRESS", "")
    return address if address.startswith(("http://", "https://")) else "http://127.0.0.1:8265"


def cmd_classify(args: argparse.Namespace) -> int:
    from imgclf.batch.job import run_batch

    settings = BatchSettings(
        input=args.input, output=args.output, model=args.model, registry=args.registry, top_k=args.top_k,
        batch_size=args.batch_size, concurrency=args.concurrency, cpus_per_actor=args.cpus_per_actor,
        gpus_per_actor=args.gpus_per_worker, embeddings=args.embeddings, resume=args.resume,
        rows_per_file=args.rows_per_file, backend=args.backend, precision=args.precision, pushgateway=args.pushgateway,
        push_interval_s=args.push_interval, job_name=args.job_name, address=args.address,
        progress=sys.stderr.isatty(),
    )
    summary = run_batch(settings)
    if args.show > 0:
        from imgclf.batch.output import head

        print(head(settings.output, args.show))
    print(summary.line())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import tempfile
    import time

    from imgclf.serving.launcher import api_url, read_serve_config, serve_deploy, wait_until_ready, with_overrides

    registry = str(Path(args.registry).resolve()) if args.registry and "://" not in args.registry else args.registry
    examples = str(Path(args.examples).resolve()) if args.examples else None
    config = with_overrides(read_serve_config(args.config), model=args.model, registry=registry, host=args.host,
                            port=args.port, examples_dir=examples)
    url = api_url(config)
    if args.address:
        with tempfile.TemporaryDirectory() as folder:
            serve_deploy(config, Path(folder) / "serve_config.yaml", args.address)
        print(f"deployed to {args.address}: {url} (`serve status --address {args.address}`)")
        return 0
    import signal

    from imgclf.local_cluster import start_head, stop_head

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops the head as Ctrl-C does
    signal.signal(signal.SIGINT, signal.default_int_handler)
    head = start_head()
    try:
        serve_deploy(config, head.temp_dir / "serve_config.yaml", head.dashboard_url)
        print(f"waiting for {url}/readyz ...", flush=True)
        model = wait_until_ready(url)
        print(serving_banner(url, model, head, example_file(config)))
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping ...", file=sys.stderr)
        return 0
    finally:
        stop_head(head)


def example_file(config: dict[str, Any]) -> str:
    """An image to show in the curl example: the page's first example, else a placeholder name."""
    from imgclf.serving.page import example_images

    found = example_images(config["applications"][0].get("args", {}).get("examples_dir"))
    return os.path.relpath(found[0]) if found else "image.jpg"


def serving_banner(url: str, model: str, head: Any, example: str) -> str:
    return "\n".join([
        f"serving {model}",
        f"  API       {url}/v1/classify   (OpenAPI: {url}/docs)",
        f"  try it    curl -F file=@{example} '{url}/v1/classify?top_k=3'",
        f"  page      {url}/ui/",
        f"  metrics   http://127.0.0.1:{head.metrics_port}/metrics   (Prometheus targets: {head.service_discovery_file})",
        f"  dashboard {head.dashboard_url}",
        "Ctrl-C stops everything started here.",
    ])


def cluster_state_file() -> Path:
    return Path(os.environ.get("IMGCLF_CLUSTER_STATE", "~/.imgclf/cluster.json")).expanduser()


def cmd_cluster_up(args: argparse.Namespace) -> int:
    from imgclf.local_cluster import prometheus_config, start_head, start_worker

    state = cluster_state_file()
    if state.exists():
        raise ConfigError(f"a cluster is already up ({state}): `imgclf cluster down` first")
    head = start_head(num_cpus=args.num_cpus, host=args.host, dashboard_port=args.dashboard_port,
                      metrics_port=args.metrics_port)
    workers = [str(start_worker(head, num_cpus=args.num_cpus)) for _ in range(args.workers)]
    scrape = head.temp_dir / "prometheus.yml"
    scrape.write_text(prometheus_config(head))
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"head": json.loads(head.to_json()), "workers": workers}, indent=2) + "\n")
    print(cluster_summary(head, len(workers), scrape))
    return 0


def cluster_summary(head: Any, workers: int, scrape: Path) -> str:
    return "\n".join([
        f"Ray cluster up: head + {workers} worker node(s)",
        f"  address    {head.address}        (ray.init / imgclf classify --address / ray start --address)",
        f"  dashboard  {head.dashboard_url}   (Jobs API: imgclf jobs submit --address, serve deploy --address)",
        f"  metrics    http://{head.address.rsplit(':', 1)[0]}:{head.metrics_port}/metrics",
        f"  prometheus prometheus --config.file={scrape}",
        "  stop       imgclf cluster down",
    ])


def read_cluster_state() -> tuple[Any, list[str]]:
    from imgclf.local_cluster import HeadNode

    state = cluster_state_file()
    if not state.exists():
        raise ConfigError(f"no cluster is up (no {state}): `imgclf cluster up` starts one")
    values = json.loads(state.read_text())
    return HeadNode.from_json(json.dumps(values["head"])), values["workers"]


def cmd_cluster_down(args: argparse.Namespace) -> int:
    import shutil

    from imgclf.local_cluster import stop_head

    head, workers = read_cluster_state()
    stopped = stop_head(head)
    for folder in workers:
        shutil.rmtree(folder, ignore_errors=True)
    cluster_state_file().unlink()
    print(f"stopped {stopped} processes of the cluster at {head.address}")
    return 0


def cmd_cluster_status(args: argparse.Namespace) -> int:
    import subprocess

    from imgclf.local_cluster import head_processes, ray_executable

    head, workers = read_cluster_state()
    print(cluster_summary(head, len(workers), head.temp_dir / "prometheus.yml"))
    if not head_processes(head):
        print("  state      DOWN: no process of it runs (`imgclf cluster down` clears the record)")
        return 1
    done = subprocess.run([ray_executable(), "status", "--address", head.address], capture_output=True, text=True)
    print(done.stdout.strip() or done.stderr.strip())
    return 0 if done.returncode == 0 else 1


def cmd_jobs_submit(args: argparse.Namespace) -> int:
    from imgclf.submit import submit

    entrypoint = JOB_ENTRYPOINTS[args.work]
    if not Path(entrypoint).is_file():
        raise ConfigError(
            f"{Path.cwd()} has no {entrypoint}: run `imgclf jobs submit` from the imgclf source folder, which is "
            "uploaded as the job's working folder"
        )
    address, arguments = split_submit_arguments(args.arguments, args.address)
    env = {"IMGCLF_REGISTRY": os.environ["IMGCLF_REGISTRY"]} if "IMGCLF_REGISTRY" in os.environ else {}
    job_id = submit(address, ["python", entrypoint, *arguments], working_dir=Path.cwd(), env=env)
    print(job_id)
    print(f"imgclf jobs status --address {address} {job_id}; imgclf jobs logs --address {address} "
          f"--follow {job_id}", file=sys.stderr)
    return 0


def split_submit_arguments(arguments: Sequence[str], address: str) -> tuple[str, list[str]]:
    """`jobs submit WORK [--address URL] [--] ARGS...`: the dashboard address given after WORK (before any `--`)
    wins over the default; the rest, without the `--`, goes to the job."""
    separator = arguments.index("--") if "--" in arguments else len(arguments)
    before, after = list(arguments[:separator]), list(arguments[separator + 1 :])
    for index, token in enumerate(before):
        name, has_value, value = token.partition("=")
        if len(name) > 2 and "--address".startswith(name) and name.startswith("--"):
            if not has_value:
                if index + 1 >= len(before):
                    raise ConfigError("--address needs a value: the Ray dashboard, http://HOST:8265")
                value = before[index + 1]
            return value, without_option(before, "--address") + after
    return address, before + after


def cmd_jobs_status(args: argparse.Namespace) -> int:
    from imgclf.submit import job_status

    print(job_status(args.address, args.job_id))
    return 0


def cmd_jobs_logs(args: argparse.Namespace) -> int:
    from imgclf.submit import follow, job_logs

    if not args.follow:
        print(job_logs(args.address, args.job_id), end="")
        return 0
    status = follow(args.address, args.job_id)
    return 0 if status == "SUCCEEDED" else 1


def cmd_data_digits(args: argparse.Namespace) -> int:
    from imgclf.data.digits import write_digits

    count = write_digits(args.folder, size=args.size)
    print(f"wrote {count} digit images to {args.folder}")
    return 0


def train_settings(args: argparse.Namespace) -> TrainSettings:
    """The YAML file (if any) overlaid with every option given on the command line."""
    options = {
        "data_dir": args.data,
        "registry": args.registry,
        "name": args.name,
        "models": args.models,
        "output_dir": args.output,
        "seed": args.seed,
        "vgg": {
            "weights": args.weights,
            "image_size": args.image_size,
            "epochs": args.epochs,
            "fine_tune_epochs": args.fine_tune_epochs,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
            "precision": args.precision,
        },
        "baselines": {"feature_sets": args.features},
        "optimize": {
            "precisions": args.optimize,
            "max_accuracy_drop": args.max_accuracy_drop,
            "calibration_images": args.calibration_images,
        },
        "cluster": {
            "address": args.address,
            "workers": args.workers,
            "cpus_per_worker": args.cpus_per_worker,
            "gpus_per_worker": args.gpus_per_worker,
            "storage_path": args.storage_path,
            "max_failures": args.max_failures,
        },
    }
    given = drop_unset(options)
    if args.seed is not None:
        given["split"] = {"seed": args.seed}
    if args.config:
        return TrainSettings.from_yaml(args.config, **given)
    return TrainSettings.from_mapping(given)


def drop_unset(values: dict[str, Any]) -> dict[str, Any]:
    cleaned = {}
    for key, value in values.items():
        if isinstance(value, dict):
            value = drop_unset(value)
        if value is not None and value != {}:
            cleaned[key] = value
    return cleaned


def cmd_train(args: argparse.Namespace) -> int:
    settings = train_settings(args)
    from imgclf.submit import is_dashboard_address

    if is_dashboard_address(args.address):
        return submit_train_job(args)
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


def submit_train_job(args: argparse.Namespace) -> int:
    """`imgclf train --address http://...`: run `python jobs/train.py <the same options>` as a Ray job and follow it."""
    from imgclf.submit import follow, submit

    if not Path("jobs/train.py").is_file():
        raise ConfigError(
            f"--address {args.address} submits a Ray job with this folder as its working folder, but "
            f"{Path.cwd()} has no jobs/train.py: run from the imgclf source folder, or use ray job submit yourself"
        )
    options = without_option(args.argv[args.argv.index("train") + 1 :], "--address")
    env = {"IMGCLF_REGISTRY": os.environ["IMGCLF_REGISTRY"]} if "IMGCLF_REGISTRY" in os.environ else {}
    job_id = submit(args.address, ["python", "jobs/train.py", *options], working_dir=Path.cwd(), env=env)
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


def without_option(argv: Sequence[str], option: str) -> list[str]:
    """`argv` minus `option VALUE`, `option=VALUE` and argparse's unambiguous abbreviations of `option`."""
    kept, skip = [], False
    for token in argv:
        name = token.split("=", 1)[0]
        if skip:
            skip = False
        elif len(name) > 2 and option.startswith(name) and name.startswith("--"):
            skip = "=" not in token
        else:
            kept.append(token)
    return kept


def open_model(args: argparse.Namespace) -> tuple[str, Path, Any]:
    """Resolve `args.model` in `args.registry`; return its `name:version`, local folder and Classifier."""
    from imgclf.models.artifact import load_classifier
    from imgclf.registry import Registry

    registry = Registry(args.registry)
    name, version = registry.resolve(args.model)
    reference = f"{name}:{version}"
    folder = registry.local_path(reference)
    return reference, folder, load_classifier(folder, backend=args.backend, precision=args.precision)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from imgclf.evaluation.evaluate import evaluate_classifier, labelled_images, score_of, write_evaluation
    from imgclf.evaluation.report import write_report

    reference, folder, classifier = open_model(args)
    loaded, labels = labelled_images(folder, classifier, args.data, args.split, progress=sys.stderr.isatty())
    for item in loaded.skipped:
        LOG.warning("skipping unreadable image %s: %s", item.path, item.cause)
    evaluation = evaluate_classifier(classifier, loaded.images, labels)
    out = args.output / f"evaluate-{reference.replace(':', '-')}-{datetime.now():%Y%m%d-%H%M%S}"
    write_evaluation(out, reference, evaluation)
    title = f"Evaluation of {reference} on {args.data} ({args.split})"
    report = write_report(out / "report.md", title=title, scores=[score_of(reference, evaluation)])
    print(report.read_text())
    print(f"report: {report}")
    return 0


def cmd_optimize(args: argparse.Namespace) -> int:
    from imgclf.optimization.optimize import optimize_model
    from imgclf.registry import Registry

    settings = drop_unset({"precisions": args.precisions or ["int8"], "max_accuracy_drop": args.max_accuracy_drop,
                           "calibration_images": args.calibration_images, "data_dir": args.data})
    outcomes = optimize_model(Registry(args.registry), args.model, OptimizeSettings(**settings))
    for outcome in outcomes:
        print(outcome.line())
    return 0 if all(outcome.kept for outcome in outcomes) else 1


def cmd_predict(args: argparse.Namespace) -> int:
    from imgclf.data.decode import decode_file
    from imgclf.models.classifier import top_k

    reference, _, classifier = open_model(args)
    name, version = reference.split(":")
    failures = 0
    for path in args.images:
        try:
            image = decode_file(path)
        except ImageDecodeError as exc:
            failures += 1
            print(json.dumps({"path": str(path), "error": str(exc)}) if args.json else f"{path}\terror: {exc.cause}")
            continue
        ranked = top_k(classifier.predict_proba([image])[0], classifier.labels, args.top_k)
        if args.json:
            print(json.dumps({"path": str(path), "label": ranked[0][0], "score": ranked[0][1],
                              "top_k": [{"label": label, "score": score} for label, score in ranked],
                              "model": {"name": name, "version": version}}))
        else:
            print(f"{path}\t{ranked[0][0]}\t" + "  ".join(f"{label}={score:.4f}" for label, score in ranked))
    return 1 if failures else 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from imgclf.registry import Registry

    registry = Registry(args.registry)
    names = registry.list_models()
    if not names:
        print(f"no models in {registry.root}")
    for name in names:
        aliases = ", ".join(f"{alias}→{version}" for alias, version in sorted(registry.aliases(name).items()))
        print(f"{name}\tversions: {', '.join(registry.list_versions(name))}\taliases: {aliases or '-'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ImgclfError as exc:
        print(f"imgclf: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("imgclf: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
