"""`imgclf classify`: every image below a folder or URI into Parquet files (Ray Data, streaming)."""

from __future__ import annotations

import argparse
import sys

from imgclf.cli.options import add_backend, add_registry, positive_int, settings_from
from imgclf.batch.settings import BatchSettings


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "classify", help="classify every image below a folder or URI into Parquet files (Ray Data, streaming)",
        allow_abbrev=False,
    )
    parser.add_argument("input", help="folder (searched recursively) or pyarrow URI of the images")
    parser.add_argument("--model", required=True, help="NAME, NAME:VERSION or NAME:ALIAS")
    parser.add_argument("--output", required=True, help="folder or URI for the Parquet files")
    parser.add_argument("--top-k", type=positive_int, default=3, help="labels kept per image (default: %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="images per model call (default: %(default)s)")
    parser.add_argument("--concurrency", type=positive_int,
                        help="model actors (default: one per node, or per GPU; with --cpus-per-actor, as many as fit)")
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
    parser.set_defaults(handler=classify_images)


def classify_images(args: argparse.Namespace) -> int:
    from imgclf.batch.job import run_batch

    settings = settings_from(BatchSettings, {
        "input": args.input, "output": args.output, "model": args.model, "registry": args.registry,
        "top_k": args.top_k, "batch_size": args.batch_size, "concurrency": args.concurrency,
        "cpus_per_actor": args.cpus_per_actor, "gpus_per_actor": args.gpus_per_worker, "embeddings": args.embeddings,
        "resume": args.resume, "rows_per_file": args.rows_per_file, "backend": args.backend,
        "precision": args.precision, "pushgateway": args.pushgateway, "push_interval_s": args.push_interval,
        "job_name": args.job_name, "address": args.address, "progress": sys.stderr.isatty(),
    })
    summary = run_batch(settings)
    if args.show > 0:
        from imgclf.batch.output import head

        print(head(settings.output, args.show))
    print(summary.line())
    return 0
