"""What the integration `trained_run` fixture trains on and produces, shared by the fixture and its tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from utils.cli import CliResult
from utils.images import truncated

DIGITS_PER_CLASS = 25
DIGIT_CLASSES = [str(digit) for digit in range(10)]
RUN_NAME = "digits"
VGG_MODEL = "digits-vgg16"
BASELINE_MODELS = ("digits-knn-pixels", "digits-dt-pixels", "digits-knn-embeddings", "digits-dt-embeddings")
MODEL_NAMES = (VGG_MODEL, *BASELINE_MODELS)
# The serving tests' app serves these beside the VGG16 (its default): a baseline on pixels and one on the VGG16
# embeddings, for the routes and the page that choose or compare models.
SERVED_BASELINES = ("digits-knn-pixels", "digits-dt-embeddings")
SERVED_MODELS = (VGG_MODEL, *SERVED_BASELINES)
BAD_CLASS = "3"
TRUNCATED_PNG = f"{BAD_CLASS}/digit_truncated.png"
TEXT_AS_JPG = f"{BAD_CLASS}/notes.jpg"
# Files the scan finds but cannot decode: relative path -> a phrase of the expected cause.
BAD_FILES = {TRUNCATED_PNG: "truncated", TEXT_AS_JPG: "not an image"}


LEARNED_EPOCHS = 4  # on all 1,797 digits: ~97% test accuracy, answers confident enough that int8 or bf16 noise
# flips (almost) no label


@dataclass(frozen=True)
class LearnedRun:
    """`imgclf train --optimize int8,fp32` of VGG16 on all the digits, LEARNED_EPOCHS epochs: a model that learned."""

    registry: Path  # holds VGG_MODEL:1 with its openvino-int8 and openvino-fp32 variants
    data_dir: Path
    stdout: str  # what the train command printed


@dataclass(frozen=True)
class TrainedRun:
    """One `imgclf train` over the digits subset (plus BAD_FILES), with what it printed and where it wrote."""

    data_dir: Path
    registry: Path
    output: Path
    cache_dir: Path
    config: Path
    run_dir: Path
    cli: CliResult


def add_bad_files(data_dir: Path) -> None:
    """A PNG cut in half and a text file named .jpg, both where the scanner picks them up."""
    sample = sorted((data_dir / BAD_CLASS).glob("*.png"))[0]
    (data_dir / TRUNCATED_PNG).write_bytes(truncated(sample.read_bytes()))
    (data_dir / TEXT_AS_JPG).write_text("meeting notes, not a photo\n")
