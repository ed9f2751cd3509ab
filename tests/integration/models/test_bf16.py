"""bf16 end to end on a VGG16 that learned the digits: `imgclf predict`, the `imgclf classify` batch job and the
Serve Classifier, each asked for bf16, give fp32's labels on the model's whole test split. The batch job's scores
are `imgclf predict --precision bf16`'s, not fp32's, and its model actors say they ran TensorFlow bf16.

TensorFlow runs bf16 on every CPU (natively with avx512_bf16 or AMX, emulated without), so nothing here is skipped.
The model has int8 and fp32 variants but no bf16 one, so `--precision bf16` under the default backend `auto` runs
TensorFlow bf16 (imgclf.models.backends). The fp32 reference is `imgclf predict --backend tensorflow` at fp32: the
fp32 paths agree with each other to 1e-5 (tests/integration/serving/test_http_api.py,
tests/integration/optimization/test_optimize.py).
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import httpx
import numpy as np
import pyarrow.dataset as pads
import pytest

from imgclf.data.split import Manifest
from imgclf.registry import Registry
from utils.cli import CliResult, run_cli
from utils.digits_run import DIGIT_CLASSES, VGG_MODEL, LearnedRun
from utils.head_jobs import classify_on, worker_stderr_lines
from utils.ray_head import HeadNode, ray_head
from utils.serve_app import deploy_app

pytestmark = pytest.mark.slow
MIN_AGREEMENT = 0.99
# bf16 keeps 8 bits of mantissa: somewhere on the split its scores differ from fp32's by about 1e-3, far more
# than fp32 scores of different paths ever do (1e-5). A smaller largest difference means fp32 ran.
BF16_SHOWS_ABOVE = 1e-4
# `imgclf predict` classifies one image at a time, and bf16 scores depend on the batch's size (oneDNN sums in
# another order, and now and then an activation rounds to the next bf16 value: up to ~1e-3 apart): the batch job
# with batches of one computes exactly what predict does, however many threads it has.
SAME_BF16_WITHIN = 1e-6
TOP_K = str(len(DIGIT_CLASSES))  # every class's score

Scores = dict[str, dict[str, float]]  # file path -> label -> score


@dataclass(frozen=True)
class LearnedDigits:
    registry: Path  # holds VGG_MODEL:1
    folder: Path  # copies of the model's test files, in a folder per class
    files: list[Path]  # the files in that folder
    labels: dict[str, str]  # file path -> its true label


@pytest.fixture(scope="module")
def learned(learned_run: LearnedRun, tmp_path_factory: pytest.TempPathFactory) -> LearnedDigits:
    """The session's VGG16 that learned all the digits, and the test split of its manifest."""
    root = tmp_path_factory.mktemp("bf16")
    folder = Registry(learned_run.registry).local_path(VGG_MODEL)
    files = []
    for row in Manifest.load(folder / "manifest.csv", DIGIT_CLASSES).subset("test"):
        target = root / "test" / row.path
        target.parent.mkdir(parents=True, exist_ok=True)
        files.append(Path(shutil.copy(learned_run.data_dir / row.path, target)))
    return LearnedDigits(learned_run.registry, root / "test", files, {str(path): path.parent.name for path in files})


def predict(learned: LearnedDigits, precision: str, backend: str = "auto") -> CliResult:
    """`imgclf predict --json --backend BACKEND --precision PRECISION` of every test file."""
    result = run_cli(["predict", VGG_MODEL, *learned.files, "--json", "--top-k", TOP_K, "--precision", precision,
                      "--backend", backend, "--registry", learned.registry])
    assert result.exit_code == 0, result.stderr
    return result


def predicted_scores(result: CliResult) -> Scores:
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    return {answer["path"]: scores_of(answer["top_k"]) for answer in answers}


def scores_of(top_k: Iterable[dict]) -> dict[str, float]:
    return {entry["label"]: entry["score"] for entry in top_k}


@pytest.fixture(scope="module")
def fp32(learned: LearnedDigits) -> Scores:
    return predicted_scores(predict(learned, "fp32", backend="tensorflow"))


@pytest.fixture(scope="module")
def predicted_bf16(learned: LearnedDigits) -> CliResult:
    """`imgclf predict --precision bf16`, with imgclf's INFO records kept: the one saying how the model runs."""
    logger = logging.getLogger("imgclf")
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        return predict(learned, "bf16")
    finally:
        logger.setLevel(level)


def label_of(scores: dict[str, float]) -> str:
    return max(scores, key=scores.__getitem__)


def check_bf16_answers(scores: Scores, fp32: Scores) -> None:
    """An answer for every test file, fp32's label on at least MIN_AGREEMENT of them, and scores bf16 computed."""
    assert scores.keys() == fp32.keys()
    differing = sorted(path for path in fp32 if label_of(scores[path]) != label_of(fp32[path]))
    assert 1 - len(differing) / len(fp32) >= MIN_AGREEMENT, f"{len(differing)} of {len(fp32)} differ: {differing}"
    largest = largest_difference(scores, fp32)
    assert largest > BF16_SHOWS_ABOVE, f"scores within {largest:.1e} of fp32's: fp32 ran, not bf16"


def largest_difference(scores: Scores, reference: Scores) -> float:
    return max(abs(scores[path][label] - score) for path in reference for label, score in reference[path].items())


def test_the_model_learned_the_digits(learned: LearnedDigits, fp32: Scores) -> None:
    assert len(fp32) >= 250
    assert np.mean([label_of(fp32[path]) == label for path, label in learned.labels.items()]) > 0.8


def test_predict_bf16_gives_fp32_labels(predicted_bf16: CliResult, fp32: Scores) -> None:
    check_bf16_answers(predicted_scores(predicted_bf16), fp32)
    messages = predicted_bf16.messages(logging.INFO)
    [chosen] = [message for message in messages if message.startswith(f"{VGG_MODEL} runs on ")]
    assert chosen.startswith(f"{VGG_MODEL} runs on tensorflow bf16 ("), chosen


@pytest.fixture(scope="module")
def head() -> Iterator[HeadNode]:
    with ray_head("/tmp", num_cpus=2) as node:
        yield node


def test_classify_bf16_gives_predict_bf16_scores(learned: LearnedDigits, fp32: Scores, predicted_bf16: CliResult,
                                                  head: HeadNode, tmp_path: Path) -> None:
    """`imgclf classify --precision bf16 --batch-size 1` as a driver of its own on the module's head: its rows hold
    `imgclf predict --precision bf16`'s scores (so not fp32's), and its model actors' logs name TensorFlow bf16."""
    output = tmp_path / "parquet"
    done = classify_on(head, learned.folder, "--model", VGG_MODEL, "--output", output, "--registry", learned.registry,
                       "--top-k", TOP_K, "--precision", "bf16", "--batch-size", "1")
    assert done.returncode == 0, done.stderr[-4000:]
    rows = pads.dataset(output, format="parquet").to_table().to_pylist()
    assert not [row for row in rows if row["error"]]
    scores = {row["path"]: scores_of(row["top_k"]) for row in rows}
    check_bf16_answers(scores, fp32)
    largest = largest_difference(scores, predicted_scores(predicted_bf16))
    assert largest <= SAME_BF16_WITHIN, f"scores {largest:.1e} from `imgclf predict --precision bf16`'s"
    loaded = worker_stderr_lines(head, f"{VGG_MODEL}:1 runs on ")
    assert loaded and all(f"{VGG_MODEL}:1 runs on tensorflow bf16 (" in line for line in loaded), loaded


def test_serving_bf16_gives_fp32_labels(learned: LearnedDigits, fp32: Scores, head: HeadNode, tmp_path: Path) -> None:
    app = deploy_app(head, tmp_path, registry=learned.registry, model=VGG_MODEL,
                     classifier_user_config={"precision": "bf16"})
    [described] = httpx.get(f"{app.url}/v1/models", timeout=30).json()["models"]
    assert (described["inference"]["backend"], described["inference"]["precision"]) == ("tensorflow", "bf16")
    scores = {}
    with httpx.Client(base_url=app.url, timeout=60) as http:
        for path in learned.files:
            answer = http.post("/v1/classify", params={"top_k": TOP_K}, content=path.read_bytes(),
                               headers={"content-type": "image/png"})
            assert answer.status_code == 200, answer.text
            scores[str(path)] = scores_of(answer.json()["top_k"])
    check_bf16_answers(scores, fp32)
