"""`imgclf optimize`: compiled OpenVINO variants of a registered model behind an accuracy guard."""

from __future__ import annotations

import argparse

from imgclf.cli.options import add_guard_options, add_registry, settings_from
from imgclf.config import INFERENCE_PRECISIONS, OptimizeSettings


def register(commands: argparse._SubParsersAction) -> None:
    optimize = commands.add_parser(
        "optimize", help="compile OpenVINO variants (int8, bf16, fp32) of a registered model behind an accuracy guard",
        description="Convert the model with OpenVINO (int8: quantized with NNCF on its training split), score each "
        "variant on the model's test split next to TensorFlow fp32, and store the ones within the guard in the same "
        "registry version under variants/. Exits 1 when a variant is refused.",
        allow_abbrev=False,
    )
    optimize.add_argument("model", help="NAME, NAME:VERSION or NAME:ALIAS")
    optimize.add_argument("--precision", dest="precisions", action="append", choices=INFERENCE_PRECISIONS,
                          help="a variant to make; repeat for several (default: int8)")
    optimize.add_argument("--data", help="the dataset folder the model was trained on (default: the one recorded)")
    add_guard_options(optimize)
    add_registry(optimize)
    optimize.set_defaults(handler=optimize_model)


def optimize_model(args: argparse.Namespace) -> int:
    from imgclf.optimization.optimize import optimize_model as optimize
    from imgclf.registry import Registry

    settings = settings_from(OptimizeSettings, {
        "precisions": args.precisions or ["int8"], "max_accuracy_drop": args.max_accuracy_drop,
        "calibration_images": args.calibration_images, "data_dir": args.data,
    })
    outcomes = optimize(Registry(args.registry), args.model, settings)
    for outcome in outcomes:
        print(outcome.line())
    return 0 if all(outcome.kept for outcome in outcomes) else 1
