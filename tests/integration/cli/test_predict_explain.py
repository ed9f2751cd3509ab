"""`imgclf predict --explain DIR`: each image's explanation as the API gives it, written as JSON beside a picture
of the reason (a tree's path also as text), on the session's trained digits models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgclf.data.decode import decode_file
from imgclf.explanations.explain import explain
from imgclf.explanations.pictures import display_scale, picture, pixel_grid
from imgclf.models.artifact import load_classifier
from imgclf.registry import Registry
from utils.cli import run_cli
from utils.digits_run import DIGIT_CLASSES, TEXT_AS_JPG, VGG_MODEL, TrainedRun

# model → the files its explanation writes beside the JSON
WRITTEN = {
    VGG_MODEL: ["grad-cam.png"],
    "digits-knn-pixels": ["neighbours.png"],
    "digits-dt-pixels": ["decision-path.txt", "decision-path.png"],
    "digits-dt-embeddings": ["decision-path.txt"],
}


def a_seven(run: TrainedRun) -> Path:
    return min((run.data_dir / "7").glob("*.png"))


def a_tall_copy(image: Path, folder: Path) -> Path:
    """The image at 40 × 48 (width × height): the explanation follows the image's own size, not the model's."""
    tall = folder / "tall.png"
    Image.open(image).convert("RGB").resize((40, 48)).save(tall)
    return tall


def expected_files(out: Path, image: Path, model: str) -> list[Path]:
    return [out / f"{image.stem}.{model}.{suffix}" for suffix in ["explanation.json", *WRITTEN[model]]]


@pytest.mark.slow
@pytest.mark.parametrize("model", WRITTEN)
def test_explain_writes_the_apis_explanation_and_its_picture_for_each_readable_image(
    trained_run: TrainedRun, tmp_path: Path, model: str
) -> None:
    seven, bad = a_seven(trained_run), trained_run.data_dir / TEXT_AS_JPG
    tall, out = a_tall_copy(seven, tmp_path), tmp_path / "explanations"

    result = run_cli(["predict", model, seven, bad, tall, "--explain", out, "--registry", trained_run.registry])

    assert result.exit_code == 1, result.stderr
    lines = result.stdout.splitlines()
    written = {image: expected_files(out, image, model) for image in (seven, tall)}
    assert [line.split("\t")[0] for line in lines] == [
        str(seven), *[f"explanation: {path}" for path in written[seven]],
        str(bad), str(tall), *[f"explanation: {path}" for path in written[tall]]]
    assert "not an image" in lines[len(written[seven]) + 1]
    assert sorted(out.iterdir()) == sorted(written[seven] + written[tall])
    classifier = load_classifier(Registry(trained_run.registry).local_path(f"{model}:1"))
    for image, paths in written.items():
        pixels = decode_file(image)
        explanation = explain(classifier, pixels, model_name=model, model_version="1")
        assert json.loads(paths[0].read_text()) == json.loads(json.dumps(explanation.to_dict(pixels.shape[:2])))
        for path in paths[1:]:
            if path.suffix == ".txt":
                assert path.read_text() == explanation.path_text() + "\n"
            else:
                drawn = picture(explanation, pixels, pixel_grid(classifier), display_scale(pixels))
                assert np.array_equal(np.asarray(Image.open(path)), drawn)


@pytest.mark.slow
def test_explain_class_explains_the_named_class_and_json_output_stays_json(
    trained_run: TrainedRun, tmp_path: Path
) -> None:
    seven, out = a_seven(trained_run), tmp_path / "explanations"

    result = run_cli(["predict", VGG_MODEL, seven, "--json", "--top-k", "10", "--explain", out,
                      "--explain-class", "3", "--registry", trained_run.registry])

    assert result.exit_code == 0, result.stderr
    (predicted,) = [json.loads(line) for line in result.stdout.splitlines()]
    written = expected_files(out, seven, VGG_MODEL)
    assert [line for line in result.stderr.splitlines() if line.startswith("explanation: ")] == [
        f"explanation: {path}" for path in written]
    explained = json.loads(written[0].read_text())
    assert explained["label"] == "3" and explained["predicted"] == predicted["label"]
    assert explained["score"] == pytest.approx({e["label"]: e["score"] for e in predicted["top_k"]}["3"],
                                               abs=1e-5)
    assert explained["method"] == "grad-cam" and "Grad-CAM for 3" in explained["summary"]


@pytest.mark.slow
def test_an_unknown_explain_class_exits_2_naming_the_classes(trained_run: TrainedRun, tmp_path: Path) -> None:
    out = tmp_path / "explanations"

    result = run_cli(["predict", "digits-knn-pixels", a_seven(trained_run), "--explain", out, "--explain-class",
                      "eleven", "--registry", trained_run.registry])

    assert result.exit_code == 2
    assert result.stderr.strip() == (f"imgclf: error: unknown class 'eleven'; this model's classes are "
                                     f"{', '.join(DIGIT_CLASSES)}")
    assert result.stdout == "" and not out.exists()


def test_explain_class_without_explain_exits_2(tmp_path: Path) -> None:
    result = run_cli(["predict", "any-model", tmp_path / "a.png", "--explain-class", "3", "--registry",
                      tmp_path / "registry"])

    assert result.exit_code == 2
    assert result.stderr.strip() == "imgclf: error: --explain-class needs --explain DIR"
