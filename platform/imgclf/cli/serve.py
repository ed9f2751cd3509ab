"""`imgclf serve`: deploy serve_config.yaml to a cluster, or to a Ray head started here until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from imgclf.cli.options import positive_int
from imgclf.storage import absolute


def register(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve", help="serve a model over HTTP and a Gradio page with Ray Serve (serve_config.yaml)",
        description="Deploy serve_config.yaml with `serve deploy`: to the cluster at --address, or to a Ray head "
        "started here (stopped again on Ctrl-C). Options override the config's values.",
        allow_abbrev=False,
    )
    serve.add_argument("--config", type=Path, default=Path("serve_config.yaml"), help="default: %(default)s")
    serve.add_argument("--model", help="NAME, NAME:VERSION or NAME:ALIAS, a comma list of them, or PREFIX* for every "
                                       "model whose name starts with PREFIX (a run's: digits-*); the first is the "
                                       "default (default: the config's)")
    serve.add_argument("--registry", help="registry root (default: the config's)")
    serve.add_argument("--host", help="HTTP bind address (default: the config's, 127.0.0.1)")
    serve.add_argument("--port", type=positive_int, help="HTTP port (default: the config's, 8000)")
    serve.add_argument("--examples", help="folder of example images for the page (default: the config's)")
    serve.add_argument("--address", help="deploy to this cluster's dashboard, http://HEAD:8265, and return")
    serve.set_defaults(handler=serve_model)


def serve_model(args: argparse.Namespace) -> int:
    from imgclf.local_cluster import start_head, stop_head
    from imgclf.serving.launcher import api_url, read_serve_config, serve_deploy, wait_until_ready, with_overrides

    registry = absolute(args.registry) if args.registry else None
    examples = str(Path(args.examples).resolve()) if args.examples else None
    models = [reference.strip() for reference in args.model.split(",")] if args.model else []
    config = with_overrides(read_serve_config(args.config), model=models[0] if len(models) == 1 else models or None,
                            registry=registry, host=args.host,
                            port=args.port, examples_dir=examples)
    url = api_url(config)
    if args.address:
        with tempfile.TemporaryDirectory() as folder:
            serve_deploy(config, Path(folder) / "serve_config.yaml", args.address)
        print(f"deployed to {args.address}: {url} (`serve status --address {args.address}`)")
        return 0
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
        f"  page      {url}/ui/   (Compare: every served model on one image)",
        f"  metrics   http://127.0.0.1:{head.metrics_port}/metrics   (Prometheus targets: {head.service_discovery_file})",
        f"  dashboard {head.dashboard_url}",
        "Ctrl-C stops everything started here.",
    ])
