"""A training run's comparison and report: McNemar's test of each model against the first, the run's metrics.json,
report.md and plots."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from imgclf.data.dataset import PreparedDataset
from imgclf.evaluation.calibration import calibration_note
from imgclf.evaluation.evaluate import METRICS_FILE
from imgclf.evaluation.report import ModelScore, write_report
from imgclf.evaluation.significance import mcnemar
from imgclf.evaluation.versions import VersionComparison


@dataclass
class RegisteredModel:
    """A model of the run as registered: its name and version, its test scores, the folder it was saved in, and the
    version it follows (`name:version`, None for the first) with the comparison against it."""

    name: str
    version: str
    score: ModelScore
    folder: Path
    previous: str | None = None
    comparison: VersionComparison | None = None


def compare_with_first(models: Sequence[RegisteredModel], test_labels: np.ndarray) -> None:
    """McNemar's test of every model after the first (VGG16 when it trained) against the first, on the same test
    files, recorded in each score (and so in the run's table and metrics.json)."""

    def correct(model: RegisteredModel) -> np.ndarray:
        predictions = json.loads((model.folder / METRICS_FILE).read_text())["predictions"]
        return np.asarray(predictions) == test_labels

    for model in models[1:]:
        model.score = model.score.compared_with(models[0].name, mcnemar(correct(model), correct(models[0])))


def search_table(metrics: dict[str, Any]) -> str:
    """One row per baseline and candidate setting: its cross-validated accuracy; the chosen one in bold."""
    lines = ["| Model | Setting | CV accuracy |", "| --- | --- | --- |"]
    for name, values in metrics.items():
        search_results = values.get("search")
        if not search_results:
            continue
        for candidate in search_results["results"]:
            setting = ", ".join(f"{key}={value}" for key, value in candidate["params"].items())
            chosen = candidate["params"] == search_results["best_params"]
            mean, std = candidate["accuracy_mean"], candidate["accuracy_std"]
            score = "—" if mean is None else f"{mean:.4f} ± {std:.4f}"
            lines.append(f"| {name} | {'**' + setting + '**' if chosen else setting} | {score} |")
    return "\n".join(lines) if len(lines) > 2 else "No baselines in this run."


def write_run_report(run_dir: Path, report_path: Path, models: Sequence[RegisteredModel], data: PreparedDataset, *,
                     registry: str, cv_folds: int) -> None:
    """report.md with the comparison table, metrics.json for every model, and the plots beside them."""
    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    metrics: dict[str, Any] = {}
    for model in models:
        metrics[model.name] = json.loads((model.folder / METRICS_FILE).read_text()) | {"version": model.version}
        if model.score.versus:
            metrics[model.name]["mcnemar"] = model.score.versus
        if model.comparison:
            metrics[model.name]["against_previous"] = model.comparison.to_dict()
        for png in model.folder.glob("*.png"):
            shutil.copy(png, plots / f"{model.name}-{png.name}")
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    report = data.report()
    skipped = "\n".join(f"- `{item['path']}`: {item['cause']}" for item in report["skipped"]) or "None."
    against = {f"{m.comparison.heading} (`{m.previous}`)": m.comparison.markdown() for m in models if m.comparison}
    sections = {
        **against,
        "Calibration": calibration_note({name: m["calibration"] for name, m in metrics.items()},
                                        len(data.indices("test"))),
        "Hyperparameter search (cross-validated on train+val)": search_table(metrics),
        "Models": "\n".join(f"- `{m.name}:{m.version}` in `{registry}`" for m in models),
        "Data": data_section(report, data),
        "Skipped files": skipped,
        "Plots": "\n".join(f"![{png.stem}](plots/{png.name})" for png in sorted(plots.glob("*.png"))),
    }
    write_report(report_path, title=f"Training run {run_dir.name}", scores=[m.score for m in models],
                 sections=sections, cv_folds=cv_folds)


def data_section(report: dict[str, Any], data: PreparedDataset) -> str:
    """The data's roots and size, then (when there are) the classes only later roots hold, the duplicates counted
    once, and how much of the previous version's test split this run found and kept."""
    size = f"{report['images']} images, {len(data.classes)} classes, manifest `{report['manifest_digest']}`"
    if len(report["roots"]) == 1:
        lines = [f"`{data.root}`: {size}."]
    else:
        lines = [f"{size}, from:", *(f"- `{root['path']}`: {root['images']} images" for root in report["roots"])]
    for label, roots in report["classes_only_in_later_roots"].items():
        lines.append(f"- class `{label}` is in no folder but the later {', '.join(f'`{root}`' for root in roots)}")
    duplicates = report["duplicates"]
    if duplicates["count"]:
        lines.append(f"- {duplicates['count']} files with the same bytes as another counted once "
                     f"({duplicates['label_conflicts']} with another label: the label of the later folder, or within "
                     "one folder of the newer file, kept); listed in data_report.json")
    previous = report["previous_split"]
    if previous:
        lines.append(f"- the split of `{previous['version']}` kept: {previous['test_files_found']} of its "
                     f"{previous['test_files']} test files found, and kept in the test split")
    return "\n".join(lines)
