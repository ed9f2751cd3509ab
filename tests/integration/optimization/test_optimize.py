"""Compiled variants end to end: `imgclf train --optimize` and `imgclf optimize` on a real digits model, the guard,
and the same answers from predict, the batch job and the served model on the same variant."""

from __future__ import annotations

import csv
import json
import logging
import shutil
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import pyarrow.dataset as pads
import pytest

from imgclf.config import DecodeLimits
from imgclf.data.loading import load_images
from imgclf.data.scan import LabelledFile
from imgclf.evaluation.evaluate import labelled_images
from imgclf.models.artifact import VARIANTS_DIR, load_classifier, stored_variants
from imgclf.models.backends import choose_backend, cpu_flags
from imgclf.registry import Registry
from utils.cli import run_cli
from utils.digits_run import VGG_MODEL, LearnedRun, TrainedRun
from utils.ray_head import HeadNode, ray_head
from utils.serve_app import deploy_app

pytestmark = pytest.mark.slow
INT8 = ("--backend", "openvino", "--precision", "int8")


@pytest.fixture(scope="module")
def optimized(learned_run: LearnedRun) -> tuple[Path, Path, str]:
    """The session's digits VGG16 trained with `--optimize int8,fp32`: (registry, data folder, what train printed)."""
    return learned_run.registry, learned_run.data_dir, learned_run.stdout


@pytest.fixture(scope="module")
def model_folder(optimized) -> Path:
    return Registry(optimized[0]).local_path(VGG_MODEL)


def test_train_optimize_stores_variants_with_their_guard_and_speed(optimized, model_folder: Path) -> None:
    assert "Compiled variants:" in optimized[2]
    assert sorted(stored_variants(model_folder)) == ["fp32", "int8"]
    for precision in ("int8", "fp32"):
        folder = model_folder / VARIANTS_DIR / f"openvino-{precision}"
        assert {"model.xml", "model.bin", "model.json", "metrics.json"} <= {p.name for p in folder.iterdir()}
        card = json.loads((folder / "model.json").read_text())
        assert card["guard"]["accuracy_drop_points"] <= card["guard"]["max_accuracy_drop_points"] == 0.5
        assert card["speed"]["images_per_s"] > 0 and card["speed"]["tensorflow_fp32_images_per_s"] > 0
        assert json.loads((folder / "metrics.json").read_text())["test"]["accuracy"] == card["guard"]["test_accuracy"]
    int8_card = json.loads((model_folder / VARIANTS_DIR / "openvino-int8" / "model.json").read_text())
    assert 0 < int8_card["calibration"]["images"] <= 300


def test_variants_agree_with_tensorflow_fp32_on_the_test_split(optimized, model_folder: Path) -> None:
    """Measured here, not read from the card: int8 labels ≥ 99% equal to fp32's, OpenVINO fp32 identical."""
    fp32 = load_classifier(model_folder, backend="tensorflow", precision="fp32")
    test, labels = labelled_images(model_folder, fp32, optimized[1], "test")
    expected = fp32.predict_batch(test.images)
    assert (expected.argmax(axis=1) == labels).mean() > 0.8, "the model should have learned the digits"
    int8 = load_classifier(model_folder, backend="openvino", precision="int8").predict_batch(test.images)
    ov_fp32 = load_classifier(model_folder, backend="openvino", precision="fp32").predict_batch(test.images)
    assert (int8.argmax(axis=1) == expected.argmax(axis=1)).mean() >= 0.99
    assert (ov_fp32.argmax(axis=1) == expected.argmax(axis=1)).all()
    np.testing.assert_allclose(ov_fp32, expected, atol=1e-4)


def manifest_test_files(model_folder: Path) -> list[LabelledFile]:
    """The test split as the artifact's manifest.csv records it, read here row by row."""
    with (model_folder / "manifest.csv").open(newline="") as handle:
        return [LabelledFile(row["path"], row["label"]) for row in csv.DictReader(handle) if row["split"] == "test"]


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_the_stored_drop_is_the_drop_of_the_variants_own_test_predictions(optimized, model_folder: Path,
                                                                          precision: str) -> None:
    """The variant loaded on its own predicts the manifest's test files here; its accuracy against the accuracy the
    model stored when it was trained gives the drop the variant's card must hold."""
    guard = json.loads((model_folder / VARIANTS_DIR / f"openvino-{precision}" / "model.json").read_text())["guard"]
    variant = load_classifier(model_folder, backend="openvino", precision=precision)
    assert variant.card["inference"]["variant"] == f"openvino-{precision}"
    files = manifest_test_files(model_folder)
    loaded = load_images(optimized[1], files, variant.input_size, limits=DecodeLimits(), progress=False)
    assert loaded.files == files, "every test file of the manifest decodes"
    labels = np.array([variant.labels.index(item.label) for item in files])
    accuracy = float((variant.predict_batch(loaded.images).argmax(axis=1) == labels).mean())
    reference = json.loads((model_folder / "metrics.json").read_text())["test"]["accuracy"]
    print(f"\nopenvino-{precision}: {accuracy:.4f} vs {reference:.4f} on {len(files)} test images")
    assert (guard["tensorflow_fp32_test_accuracy"], guard["test_accuracy"]) == (reference, accuracy)
    assert guard["accuracy_drop_points"] == pytest.approx((reference - accuracy) * 100, abs=1e-9)


def test_an_impossible_guard_refuses_the_variant_and_keeps_nothing(optimized, model_folder: Path) -> None:
    before = sorted(p.name for p in (model_folder / VARIANTS_DIR).iterdir())
    result = run_cli(["optimize", VGG_MODEL, "--precision", "bf16", "--max-accuracy-drop", "-100",
                      "--registry", optimized[0]])
    assert result.exit_code == 1, result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith(f"{VGG_MODEL}:1 openvino-bf16: test accuracy ")
    assert "REFUSED: accuracy drop above the -100-point guard" in line and "TensorFlow fp32" in line
    assert sorted(p.name for p in (model_folder / VARIANTS_DIR).iterdir()) == before  # no bf16, no staging left


def test_one_call_stores_a_variant_for_each_precision_asked_for(trained_run: TrainedRun, tmp_path: Path) -> None:
    """`imgclf optimize --precision int8 --precision bf16` on a copy of the session's digits VGG16 (the guard opened
    wide: that model learned for one epoch only, and what is checked here is what one call stores)."""
    registry = tmp_path / "registry"
    shutil.copytree(trained_run.registry / VGG_MODEL, registry / VGG_MODEL)
    result = run_cli(["optimize", VGG_MODEL, "--precision", "int8", "--precision", "bf16", "--registry", registry,
                      "--calibration-images", "64", "--max-accuracy-drop", "100"])
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith(f"{VGG_MODEL}:")]  # not NNCF's progress
    assert [line.split(": test accuracy ")[0] for line in lines] == [f"{VGG_MODEL}:1 openvino-{precision}"
                                                                     for precision in ("int8", "bf16")]
    assert all(line.endswith(": kept") for line in lines), lines
    folder = Registry(registry).local_path(VGG_MODEL)
    assert sorted(stored_variants(folder)) == ["bf16", "int8"]
    for precision in ("int8", "bf16"):
        stored = {path.name for path in (folder / VARIANTS_DIR / f"openvino-{precision}").iterdir()}
        assert {"model.xml", "model.bin", "model.json", "metrics.json"} <= stored, stored


def test_optimize_names_a_missing_model(optimized) -> None:
    result = run_cli(["optimize", "no-such-model", "--registry", optimized[0]])
    assert result.exit_code == 2 and "no model 'no-such-model'" in result.stderr


def test_auto_picks_what_this_cpu_runs_natively(optimized, model_folder: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="imgclf")
    expected = choose_backend(backend="auto", precision=None, model_precision="fp32",
                              variants=stored_variants(model_folder), flags=cpu_flags(), has_gpu=False)
    image = next((optimized[1] / "7").glob("*.png"))
    result = run_cli(["predict", VGG_MODEL, image, "--registry", optimized[0]])
    assert result.exit_code == 0, result.stderr
    [chosen] = [m for m in caplog.messages if m.startswith("digits-vgg16 runs on ")]
    assert chosen == f"digits-vgg16 runs on {expected}"
    if {"avx512_vnni", "avx_vnni", "amx_int8"} & cpu_flags():
        assert expected.variant == "openvino-int8"


def test_a_tensorflow_request_never_loads_a_variant(optimized, caplog) -> None:
    caplog.set_level(logging.INFO, logger="imgclf")
    result = run_cli(["predict", VGG_MODEL, next((optimized[1] / "1").glob("*.png")), "--backend", "tensorflow",
                      "--registry", optimized[0]])
    assert result.exit_code == 0, result.stderr
    assert "digits-vgg16 runs on tensorflow fp32 (backend tensorflow was asked for)" in caplog.messages


@pytest.fixture(scope="module")
def head() -> Iterator[HeadNode]:
    with ray_head("/tmp", num_cpus=2) as node:
        yield node


def test_predict_classify_and_serving_give_the_same_int8_answer(optimized, head: HeadNode, tmp_path: Path) -> None:
    registry, data, _ = optimized
    images = sorted(data.glob("*/*.png"))[::180]
    predicted = run_cli(["predict", VGG_MODEL, *images, "--json", "--top-k", "10", "--registry", registry, *INT8])
    assert predicted.exit_code == 0, predicted.stderr
    expected = {(row := json.loads(line))["path"]: row for line in predicted.stdout.splitlines()}

    folder = tmp_path / "input"
    folder.mkdir()
    for image in images:
        (folder / f"{image.parent.name}-{image.name}").symlink_to(image)
    classified = run_cli(["classify", folder, "--model", VGG_MODEL, "--output", tmp_path / "out",
                          "--registry", registry, "--top-k", "10", *INT8])
    assert classified.exit_code == 0, classified.stderr
    rows = {Path(r["path"]).name: r for r in pads.dataset(tmp_path / "out", format="parquet").to_table().to_pylist()}

    app = deploy_app(head, tmp_path, registry=registry, model=VGG_MODEL,
                     classifier_user_config={"backend": "openvino", "precision": "int8"})
    [described] = httpx.get(f"{app.url}/v1/models", timeout=30).json()["models"]
    assert (described["inference"]["backend"], described["inference"]["precision"]) == ("openvino", "int8")
    for image in images:
        want = expected[str(image)]["top_k"]
        row = rows[f"{image.parent.name}-{image.name}"]
        served = httpx.post(f"{app.url}/v1/classify?top_k=10", content=image.read_bytes(),
                            headers={"content-type": "image/png"}, timeout=60)
        assert served.status_code == 200, served.text
        for answer in (row["top_k"], served.json()["top_k"]):
            assert [a["label"] for a in answer] == [w["label"] for w in want]
            assert [a["score"] for a in answer] == pytest.approx([w["score"] for w in want], abs=1e-5)


def test_a_baseline_on_embeddings_runs_on_its_compiled_extractor(trained_run: TrainedRun, tmp_path: Path) -> None:
    """The KNN on VGG16 embeddings gets an OpenVINO fp32 variant of its extractor; its answers stay the same."""
    registry = tmp_path / "registry"
    name = "digits-knn-embeddings"
    shutil.copytree(trained_run.registry / name, registry / name)
    result = run_cli(["optimize", name, "--precision", "fp32", "--registry", registry])
    assert result.exit_code == 0, result.stderr
    assert "openvino-fp32: test accuracy" in result.stdout and "label agreement 100.00%" in result.stdout
    folder = Registry(registry).local_path(name)
    card = json.loads((folder / VARIANTS_DIR / "openvino-fp32" / "model.json").read_text())
    assert card["source"]["network"] == "extractor.keras"
    compiled = load_classifier(folder, backend="openvino", precision="fp32")
    assert compiled.card["inference"]["variant"] == "openvino-fp32"
    tensorflow = load_classifier(folder, backend="tensorflow")
    test, _ = labelled_images(folder, tensorflow, trained_run.data_dir, "test")
    assert (compiled.predict_batch(test.images).argmax(1) == tensorflow.predict_batch(test.images).argmax(1)).all()
    pixels = run_cli(["optimize", "digits-knn-pixels", "--registry", trained_run.registry])
    assert pixels.exit_code == 2 and "on pixel features: it has no network to compile" in pixels.stderr
