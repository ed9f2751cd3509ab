"""The `imgclf` command: one module per command group, each turning arguments into typed settings and calling the
library (`imgclf.training`, `imgclf.batch`, `imgclf.serving`, ...)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Sequence

from imgclf import __version__
from imgclf.cli import classify, cluster, data, evaluate, jobs, models, optimize, serve, train
from imgclf.console import install_quiet_tensorflow_import
from imgclf.errors import ImgclfError

COMMAND_GROUPS = (data, train, evaluate, optimize, classify, serve, cluster, jobs, models)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imgclf", description="Image classification on Ray: VGG16, KNN, decision tree.",
                                     allow_abbrev=False)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    install_quiet_tensorflow_import()  # the command owns its process: TensorFlow, imported later, loads quietly
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
