"""`imgclf evaluate` and `imgclf predict`: a registered model on a dataset or on image files."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from imgclf.cli.options import add_backend, add_registry, positive_int
from imgclf.errors import ConfigError, ImageDecodeError

LOG = logging.getLogger("imgclf")


def register(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser("evaluate", help="score a registered model on a folder-per-class dataset",
                                   allow_abbrev=False)
    evaluate.add_argument("model", help="NAME, NAME:VERSION or NAME:ALIAS")
    evaluate.add_argument("--data", type=Path, required=True, help="the dataset folder")
    evaluate.add_argument(
        "--split", choices=("test", "all"), default="test",
        help="test: the test files of the model's own manifest; all: every image in --data (default: %(default)s)",
    )
    add_backend(evaluate)
    evaluate.add_argument("--output", type=Path, default=Path("runs"), help="report folder parent (default: %(default)s)")
    add_registry(evaluate)
    evaluate.set_defaults(handler=evaluate_model)

    predict = commands.add_parser("predict", help="classify image files with a registered model", allow_abbrev=False)
    predict.add_argument("model", help="NAME, NAME:VERSION or NAME:ALIAS")
    predict.add_argument("images", nargs="+", type=Path)
    predict.add_argument("--top-k", type=positive_int, default=3, help="labels to show per image (default: %(default)s)")
    add_backend(predict)
    predict.add_argument("--json", action="store_true", help="one JSON object per line instead of text")
    predict.add_argument("--explain", type=Path, metavar="DIR",
                         help="also write each image's explanation into DIR: its JSON and a picture (a tree's path "
                              "as text)")
    predict.add_argument("--explain-class", metavar="LABEL",
                         help="explain why the image is (or is not) LABEL instead of the predicted class")
    add_registry(predict)
    predict.set_defaults(handler=predict_files)


def open_model(args: argparse.Namespace) -> tuple[str, Path, Any]:
    """Resolve `args.model` in `args.registry`; return its `name:version`, local folder and Classifier."""
    from imgclf.models.artifact import load_classifier
    from imgclf.registry import Registry

    registry = Registry(args.registry)
    name, version = registry.resolve(args.model)
    reference = f"{name}:{version}"
    folder = registry.local_path(reference)
    return reference, folder, load_classifier(folder, backend=args.backend, precision=args.precision)


def evaluate_model(args: argparse.Namespace) -> int:
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


def check_explainable(classifier: Any, label: str | None) -> None:
    """Fail before any image is read when the model's kind explains nothing or `label` is not one of its classes."""
    import numpy as np

    from imgclf.explanations.explain import class_index_of, explainer_of

    explainer_of(classifier)
    if label is not None:
        class_index_of(classifier, label, np.zeros(len(classifier.labels)))


def predict_files(args: argparse.Namespace) -> int:
    from imgclf.data.decode import decode_file
    from imgclf.explanations.explain import explain
    from imgclf.explanations.pictures import pixel_grid, write_explanation
    from imgclf.models.prediction import Prediction

    if args.explain_class is not None and args.explain is None:
        raise ConfigError("--explain-class needs --explain DIR")
    reference, _, classifier = open_model(args)
    name, version = reference.split(":")
    if args.explain is not None:
        check_explainable(classifier, args.explain_class)
    failures = 0
    for path in args.images:
        try:
            image = decode_file(path)
        except ImageDecodeError as exc:
            failures += 1
            print(json.dumps({"path": str(path), "error": str(exc)}) if args.json else f"{path}\terror: {exc.cause}")
            continue
        prediction = Prediction.from_probabilities(classifier.predict_proba([image])[0], classifier.labels,
                                                   args.top_k, model_name=name, model_version=version)
        if args.json:
            print(json.dumps({"path": str(path), **prediction.to_dict()}))
        else:
            ranked = "  ".join(f"{label}={score:.4f}" for label, score in prediction.top_k)
            print(f"{path}\t{prediction.label}\t{ranked}")
        if args.explain is not None:
            explanation = explain(classifier, image, args.explain_class, model_name=name, model_version=version)
            for written in write_explanation(args.explain, path.stem, explanation, image, pixel_grid(classifier)):
                print(f"explanation: {written}", file=sys.stderr if args.json else sys.stdout)
    return 1 if failures else 0
