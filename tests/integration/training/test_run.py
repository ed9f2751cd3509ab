"""One real `imgclf train` on a small digits set (VGG16 + KNN + decision tree), then the CLI over its registry."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgclf.cli import main
from imgclf.registry import Registry
from utils.cli import run_cli
from utils.digits_run import (
    BAD_FILES,
    BASELINE_MODELS,
    DIGIT_CLASSES,
    DIGITS_PER_CLASS,
    MODEL_NAMES,
    RUN_NAME,
    TEXT_AS_JPG,
    VGG_MODEL,
    TrainedRun,
)

pytestmark = pytest.mark.slow

TABLE_HEADER = ("| Model | Accuracy [95% CI] | Precision | Recall | F1 | ROC AUC | ECE (raw → calibrated) | ms/image "
                "| 5-fold CV accuracy | McNemar p vs ")
HISTORY_KEYS = {"loss", "accuracy", "val_loss", "val_accuracy"}
NEAR_TIE = 1e-4  # top-1 vs top-2 probability gap below which batch-size rounding may flip the argmax


def run_metrics(run: TrainedRun) -> dict:
    return json.loads((run.run_dir / "metrics.json").read_text())


def manifest_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def manifest_test_rows(run: TrainedRun, model: str) -> list[dict[str, str]]:
    folder = Registry(run.registry).local_path(f"{model}:1")
    return [row for row in manifest_rows(folder / "manifest.csv") if row["split"] == "test"]


def table_rows(markdown: str) -> dict[str, list[str]]:
    """Model name -> its cells, from the comparison table in Markdown text."""
    lines = markdown.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(TABLE_HEADER))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_train_exits_0_and_prints_the_comparison_table(trained_run: TrainedRun) -> None:
    assert trained_run.cli.exit_code == 0, trained_run.cli.stderr
    printed = table_rows(trained_run.cli.stdout)
    assert sorted(printed) == sorted(MODEL_NAMES)
    assert f"report: {trained_run.run_dir / 'report.md'}" in trained_run.cli.stdout


def test_random_weights_warning_is_logged(trained_run: TrainedRun) -> None:
    assert any("RANDOM weights" in message for message in trained_run.cli.messages())


def test_report_accuracies_equal_metrics_to_4_decimals(trained_run: TrainedRun) -> None:
    metrics = run_metrics(trained_run)

    rows = table_rows((trained_run.run_dir / "report.md").read_text())

    assert sorted(rows) == sorted(MODEL_NAMES)
    assert f"| McNemar p vs {VGG_MODEL} |" in (trained_run.run_dir / "report.md").read_text()
    for name, cells in rows.items():
        test, calibration = metrics[name]["test"], metrics[name]["calibration"]
        low, high = test["accuracy_ci95"]
        assert cells[0] == f"{test['accuracy']:.4f} [{low:.3f}, {high:.3f}]", name
        assert cells[5] == f"{calibration['before']['ece']:.4f} → {calibration['after']['ece']:.4f}", name
        cv = metrics[name]["cv"]
        expected_cv = "—" if cv is None else f"{cv['accuracy_mean']:.4f} ± {cv['accuracy_std']:.4f}"
        assert cells[-2] == expected_cv, name
        versus = metrics[name].get("mcnemar")
        expected_versus = "—" if versus is None else f"{versus['p_value']:.3g}"
        if versus is not None and versus["significant"]:
            expected_versus = f"**{expected_versus}**"
        assert cells[-1] == expected_versus, name
    assert table_rows(trained_run.cli.stdout) == rows  # the printed table is the report's table


def test_every_model_is_calibrated_and_compared_with_vgg16(trained_run: TrainedRun) -> None:
    metrics = run_metrics(trained_run)
    n_test = len(manifest_test_rows(trained_run, VGG_MODEL))
    for name in MODEL_NAMES:
        card = json.loads((Registry(trained_run.registry).local_path(f"{name}:1") / "model.json").read_text())
        calibration = metrics[name]["calibration"]
        assert calibration["temperature"] == card["temperature"] > 0, name
        for when in ("before", "after"):
            assert 0.0 <= calibration[when]["ece"] <= 1.0
            assert sum(row["count"] for row in calibration[when]["bins"]) == n_test
            assert 0.0 <= calibration[when]["noise"]["mean"] <= calibration[when]["noise"]["p95"] < 1.0
        low, high = metrics[name]["test"]["accuracy_ci95"]
        assert low <= metrics[name]["test"]["accuracy"] <= high
    report = (trained_run.run_dir / "report.md").read_text()
    assert f"on these {n_test} test images" in report
    for name in MODEL_NAMES:
        after = metrics[name]["calibration"]["after"]
        verdict = "within" if after["ece"] <= after["noise"]["p95"] else "beyond"
        assert f"- `{name}`: {after['ece']:.4f} ({verdict} its noise, {after['noise']['p95']:.4f})" in report
    predictions = {name: np.array(metrics[name]["predictions"]) for name in MODEL_NAMES}
    labels = np.array([DIGIT_CLASSES.index(row["label"]) for row in manifest_test_rows(trained_run, VGG_MODEL)])
    assert "mcnemar" not in metrics[VGG_MODEL]
    for name in BASELINE_MODELS:
        versus = metrics[name]["mcnemar"]
        assert versus["reference"] == VGG_MODEL
        assert versus["only_first_correct"] == int(((predictions[name] == labels) & (predictions[VGG_MODEL] != labels)).sum())
        assert versus["only_second_correct"] == int(((predictions[name] != labels) & (predictions[VGG_MODEL] == labels)).sum())
    card = json.loads((Registry(trained_run.registry).local_path(f"{VGG_MODEL}:1") / "model.json").read_text())
    assert card["training"]["vgg"]["augmentation"] == {"flip": "none", "translation": 0.1, "zoom": 0.1,
                                                        "rotation": 0.03, "contrast": 0.1}
    assert set(card["class_weight"]) == set(DIGIT_CLASSES)


def test_run_metrics_hold_every_model(trained_run: TrainedRun) -> None:
    metrics = run_metrics(trained_run)
    n_test = len(manifest_test_rows(trained_run, VGG_MODEL))

    assert sorted(metrics) == sorted(MODEL_NAMES)
    for name, entry in metrics.items():
        assert entry["version"] == "1"
        assert 0.0 <= entry["test"]["accuracy"] <= 1.0
        assert entry["test"]["n_samples"] == n_test
        assert list(entry["test"]["per_class"]) == DIGIT_CLASSES
        assert entry["timing"]["single_ms"] > 0
        assert entry["timing"]["batch_ms_per_image"] > 0
        assert len(entry["predictions"]) == n_test
        assert set(entry["predictions"]) <= set(range(len(DIGIT_CLASSES)))
    for name in BASELINE_MODELS:
        cv = metrics[name]["cv"]
        assert cv["folds"] == 5
        assert len(cv["accuracy_per_fold"]) == 5
        assert 0.0 <= cv["accuracy_mean"] <= 1.0
        assert metrics[name]["history"] is None
    history = metrics[VGG_MODEL]["history"]
    assert HISTORY_KEYS <= set(history)
    assert all(len(history[key]) == 1 for key in HISTORY_KEYS)
    assert metrics[VGG_MODEL]["cv"] is None


def test_pixel_knn_learns_digits(trained_run: TrainedRun) -> None:
    """A sanity floor: nearest neighbours on 16×16 pixels separate handwritten digits well above chance (10%)."""
    assert run_metrics(trained_run)["digits-knn-pixels"]["test"]["accuracy"] >= 0.6


def open_png(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG", path
        image.load()
        return image.size


def test_plots_exist_and_open_as_images(trained_run: TrainedRun) -> None:
    plots = trained_run.run_dir / "plots"
    report = (trained_run.run_dir / "report.md").read_text()
    expected = [f"{name}-{plot}.png" for name in MODEL_NAMES for plot in ("confusion_matrix", "roc", "reliability")]
    expected.append(f"{VGG_MODEL}-training_curves.png")

    assert sorted(p.name for p in plots.glob("*.png")) == sorted(expected)
    for name in expected:
        width, height = open_png(plots / name)
        assert width > 100 and height > 100, name
        assert f"](plots/{name})" in report
    for name in MODEL_NAMES:
        assert (trained_run.run_dir / "models" / name / "confusion_matrix.png").is_file()


def test_data_report_lists_exactly_the_bad_files(trained_run: TrainedRun) -> None:
    data_report = json.loads((trained_run.run_dir / "data_report.json").read_text())
    report = (trained_run.run_dir / "report.md").read_text()

    skipped = {item["path"]: item["cause"] for item in data_report["skipped"]}

    assert sorted(skipped) == sorted(BAD_FILES)
    for path, phrase in BAD_FILES.items():
        assert phrase in skipped[path]
        assert f"`{path}`: {skipped[path]}" in report
    assert data_report["images"] == DIGITS_PER_CLASS * len(DIGIT_CLASSES)
    assert data_report["classes"] == DIGIT_CLASSES


def test_models_list_shows_the_five_models(trained_run: TrainedRun, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list", "--registry", str(trained_run.registry)]) == 0

    lines = capsys.readouterr().out.strip().splitlines()
    assert sorted(line.split("\t")[0] for line in lines) == sorted(MODEL_NAMES)
    assert all("versions: 1" in line and "latest→1" in line for line in lines)


def test_vgg16_card_records_random_weights_and_the_run(trained_run: TrainedRun) -> None:
    card = Registry(trained_run.registry).read_json(VGG_MODEL, "model.json")
    data_report = json.loads((trained_run.run_dir / "data_report.json").read_text())

    assert card["weights_source"] == "none"
    assert card["pretrained"] is False
    assert card["kind"] == "vgg16" and card["input_size"] == 32
    assert card["labels"] == DIGIT_CLASSES
    assert card["architecture"]["num_classes"] == len(DIGIT_CLASSES)
    assert card["data"]["manifest_digest"] == data_report["manifest_digest"]
    assert card["training"]["cache_dir"] == str(trained_run.cache_dir)  # from the --config file
    assert card["training"]["vgg"]["epochs"] == 1


def test_embeddings_are_cached_in_the_configured_folder(trained_run: TrainedRun) -> None:
    cached = list(trained_run.cache_dir.glob("embeddings-*.npy"))

    assert len(cached) == 1
    assert np.load(cached[0]).shape == (DIGITS_PER_CLASS * len(DIGIT_CLASSES), 512)


def test_every_artifact_holds_the_runs_manifest(trained_run: TrainedRun) -> None:
    run_manifest = (trained_run.run_dir / "manifest.csv").read_bytes()
    registry = Registry(trained_run.registry)

    for name in MODEL_NAMES:
        assert (registry.local_path(name) / "manifest.csv").read_bytes() == run_manifest, name
    assert not any(row["path"] in BAD_FILES for row in manifest_rows(trained_run.run_dir / "manifest.csv"))


def test_predict_json_agrees_with_the_stored_test_predictions(
    trained_run: TrainedRun, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = manifest_test_rows(trained_run, VGG_MODEL)
    files = [str(trained_run.data_dir / row["path"]) for row in rows]
    stored = run_metrics(trained_run)[VGG_MODEL]["predictions"]
    labels = Registry(trained_run.registry).read_json(VGG_MODEL, "model.json")["labels"]

    code = main(["predict", f"{VGG_MODEL}:1", *files, "--json", "--top-k", "3", "--registry", str(trained_run.registry)])

    assert code == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [result["path"] for result in results] == files
    mismatches = []
    for result, expected in zip(results, stored):
        scores = [entry["score"] for entry in result["top_k"]]
        assert len(scores) == 3 and scores == sorted(scores, reverse=True)
        assert result["label"] == result["top_k"][0]["label"] and result["score"] == scores[0]
        assert result["model"] == {"name": VGG_MODEL, "version": "1"}
        if labels.index(result["label"]) != expected and scores[0] - scores[1] >= NEAR_TIE:
            mismatches.append((result["path"], result["label"], labels[expected]))
    assert not mismatches


def test_predict_names_the_cause_of_an_unreadable_file(
    trained_run: TrainedRun, capsys: pytest.CaptureFixture[str]
) -> None:
    good = trained_run.data_dir / manifest_test_rows(trained_run, VGG_MODEL)[0]["path"]
    bad = trained_run.data_dir / TEXT_AS_JPG

    code = main(["predict", VGG_MODEL, str(good), str(bad), "--registry", str(trained_run.registry)])

    assert code == 1
    captured = capsys.readouterr()
    good_line, bad_line = captured.out.strip().splitlines()
    assert good_line.split("\t")[0] == str(good) and good_line.split("\t")[1] in DIGIT_CLASSES
    assert bad_line.startswith(f"{bad}\terror: ") and "not an image" in bad_line
    assert "Traceback" not in captured.err


def test_evaluate_reproduces_the_knn_accuracy(
    trained_run: TrainedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = "digits-knn-pixels"
    expected = run_metrics(trained_run)[model]

    code = main(["evaluate", f"{model}:1", "--data", str(trained_run.data_dir), "--registry", str(trained_run.registry),
                 "--output", str(tmp_path)])

    assert code == 0
    (out_dir,) = tmp_path.iterdir()
    evaluated = json.loads((out_dir / "metrics.json").read_text())
    assert evaluated["test"]["accuracy"] == expected["test"]["accuracy"]
    assert evaluated["predictions"] == expected["predictions"]
    assert table_rows(capsys.readouterr().out)[f"{model}:1"][0].startswith(f"{expected['test']['accuracy']:.4f} [")


def test_second_run_registers_version_2_and_moves_latest(trained_run: TrainedRun, tmp_path: Path) -> None:
    model = "digits-knn-pixels"
    registry_root = tmp_path / "registry"
    shutil.copytree(trained_run.registry / model, registry_root / model)  # leave the session registry alone

    result = run_cli(
        ["train", "--data", trained_run.data_dir, "--config", trained_run.config, "--models", "knn", "--features",
         "pixels", "--image-size", "32", "--registry", registry_root, "--output", tmp_path / "runs", "--name", RUN_NAME]
    )

    assert result.exit_code == 0, result.stderr
    registry = Registry(registry_root)
    assert registry.list_models() == [model]
    assert registry.list_versions(model) == ["1", "2"]
    assert registry.aliases(model) == {"latest": "2"}
    assert registry.resolve(model) == (model, "2")
    first, second = (registry.read_json(f"{model}:{v}", "metrics.json") for v in ("1", "2"))
    assert second["predictions"] == first["predictions"]  # same data, same seed: same model
    assert registry.read_text(f"{model}:2", "manifest.csv") == registry.read_text(f"{model}:1", "manifest.csv")
