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
from imgclf.serving.canary import PROMOTED, ROLLED_BACK
from imgclf.serving.launcher import DEFAULT_DASHBOARD
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
    serve.add_argument("--canary", metavar="VERSION", help="serve this version of the default model too, as a canary "
                       "answering --canary-weight percent of its requests (default: the config's canary, if any)")
    serve.add_argument("--canary-weight", type=float, default=10.0, metavar="PERCENT",
                       help="the canary's share of its model's requests (default: %(default)g)")
    serve.add_argument("--feedback-dir", metavar="FOLDER",
                       help="keep the page's corrections here, a folder per class (default: the config's, else "
                       "$IMGCLF_FEEDBACK_DIR; none: the page offers no corrections)")
    serve.add_argument("--request-log", metavar="FOLDER",
                       help="log a sample of the classify requests here as Parquet with their images (default: the "
                       "config's request_log, off)")
    serve.add_argument("--request-log-sample", type=float, default=0.1, metavar="SHARE",
                       help="the share of classify requests --request-log keeps, 0-1 (default: %(default)g)")
    serve.add_argument("--address", help="deploy to this cluster's dashboard, http://HEAD:8265, and return")
    serve.set_defaults(handler=serve_model)
    canary = serve.add_subparsers(title="a running canary (the Classifier's `canary: {version, weight}`)",
                                  metavar="{promote,rollback}")
    for name, weight, text in (("promote", PROMOTED, "give the canary every request of its model (weight 100)"),
                               ("rollback", ROLLED_BACK, "send every request back to the stable version (weight 0)")):
        command = canary.add_parser(name, help=text, description=f"{text[0].upper()}{text[1:]}, by reconfiguring "
                                    "the running application: the replicas keep both versions loaded and switch "
                                    "between batches, so no request is dropped.", allow_abbrev=False)
        command.add_argument("--address", default=DEFAULT_DASHBOARD,
                             help="the cluster's dashboard (default: %(default)s, the head `imgclf serve` starts)")
        command.add_argument("--app", default="imgclf", help="the Serve application (default: %(default)s)")
        command.add_argument("--weight", type=float, default=weight,
                             help="the canary's share of its model's requests in percent (default: %(default)g)")
        command.set_defaults(handler=move_canary)


def serve_model(args: argparse.Namespace) -> int:
    from imgclf.local_cluster import start_head, stop_head
    from imgclf.serving.canary import canary_of
    from imgclf.serving.launcher import api_url, read_serve_config, serve_deploy, wait_until_ready, with_overrides

    registry = absolute(args.registry) if args.registry else None
    examples = str(Path(args.examples).resolve()) if args.examples else None
    models = [reference.strip() for reference in args.model.split(",")] if args.model else []
    config = with_overrides(read_serve_config(args.config), model=models[0] if len(models) == 1 else models or None,
                            registry=registry, host=args.host, port=args.port, examples_dir=examples,
                            canary={"version": args.canary, "weight": args.canary_weight} if args.canary else None,
                            api=api_overrides(args))
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
        print(serving_banner(url, model, head, example_file(config), canary_of(config)))
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping ...", file=sys.stderr)
        return 0
    finally:
        stop_head(head)


def move_canary(args: argparse.Namespace) -> int:
    """`imgclf serve promote|rollback`: the running application's canary weight changed by reconfiguration."""
    from imgclf.serving.canary import canary_of, with_canary_weight
    from imgclf.serving.launcher import deployment, redeploy_running, running_config

    config = with_canary_weight(running_config(args.address), args.weight, args.app)
    redeploy_running(args.address, config, args.app)
    canary, default = canary_of(config, args.app), deployment(config, "Classifier", args.app)["user_config"]["model"]
    name = (default if isinstance(default, str) else default[0]).split(":")[0]
    print(f"{name}: the canary, version {canary['version']}, answers {canary['weight']:g}% of its requests, the stable "
          f"version {100 - canary['weight']:g}%")
    return 0


def example_file(config: dict[str, Any]) -> str:
    """An image to show in the curl example: the page's first example, else a placeholder name."""
    from imgclf.serving.page import example_images

    found = example_images(config["applications"][0].get("args", {}).get("examples_dir"))
    return os.path.relpath(found[0]) if found else "image.jpg"


def api_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The Api user_config values the options set (folders made absolute: the replicas run elsewhere)."""
    overrides: dict[str, Any] = {}
    if args.feedback_dir:
        overrides["feedback_dir"] = str(Path(args.feedback_dir).resolve())
    if args.request_log:
        overrides["request_log"] = {"folder": str(Path(args.request_log).resolve()), "sample": args.request_log_sample}
    return overrides


def serving_banner(url: str, model: str, head: Any, example: str, canary: dict[str, Any] | None = None) -> str:
    moves = (f"  canary    version {canary['version']} answers {canary['weight']:g}%: imgclf serve promote "
             f"--address {head.dashboard_url}   (or rollback)") if canary else None
    return "\n".join(line for line in [
        f"serving {model}",
        moves,
        f"  API       {url}/v1/classify   (OpenAPI: {url}/docs)",
        f"  try it    curl -F file=@{example} '{url}/v1/classify?top_k=3'",
        f"  page      {url}/ui/   (Compare: every served model on one image)",
        f"  metrics   http://127.0.0.1:{head.metrics_port}/metrics   (Prometheus targets: {head.service_discovery_file})",
        f"  dashboard {head.dashboard_url}",
        "Ctrl-C stops everything started here.",
    ] if line)
