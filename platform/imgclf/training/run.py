"""One training run: prepare the data once, train the requested models, evaluate, register, report."""

from __future__ import annotations

import json
import logging
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from imgclf.cluster import connect
from imgclf.config import TrainSettings
from imgclf.data.dataset import PreparedDataset, prepare_dataset
from imgclf.evaluation.calibration import calibration_note, fit_temperature
from imgclf.evaluation.evaluate import METRICS_FILE, evaluate_classifier, score_of, write_evaluation
from imgclf.evaluation.report import ModelScore, comparison_table, write_report
from imgclf.evaluation.significance import mcnemar
from imgclf.models.artifact import network_file, save_estimator_artifact, save_keras_artifact
from imgclf.models.baselines import BASELINE_KINDS
from imgclf.models.card import ModelCard, read_card
from imgclf.models.classifier import KerasClassifier, SklearnClassifier
from imgclf.models.features import EmbeddingFeatures, PixelFeatures
from imgclf.models.keras_api import keras
from imgclf.models.vgg import VGGArchitecture, build_vgg16, embedding_model, imagenet_weights_path, weights_file_sha256
from imgclf.optimization.optimize import VariantOutcome, optimize_model
from imgclf.registry import Registry
from imgclf.training.baseline_search import SearchJob, search
from imgclf.training.embedding_cache import cached_embeddings
from imgclf.training.distributed import train_vgg16_on_ray
from imgclf.training.vgg_loop import class_weights

LOG = logging.getLogger("imgclf.training")


@dataclass
class RegisteredModel:
    name: str
    version: str
    score: ModelScore
    folder: Path


@dataclass
class RunResult:
    run_dir: Path
    report_path: Path
    models: list[RegisteredModel] = field(default_factory=list)
    variants: list[VariantOutcome] = field(default_factory=list)

    def table(self) -> str:
        lines = [comparison_table([model.score for model in self.models])]
        if self.variants:
            lines += ["", "Compiled variants:", *(f"- {outcome.line()}" for outcome in self.variants)]
        return "\n".join(lines)


def registry_name(base: str, *parts: str) -> str:
    """A registry-safe model name such as `digits-knn-pixels`."""
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", base.lower()).strip("-._") or "model"
    return "-".join((cleaned, *parts))


def uses_vgg16(settings: TrainSettings) -> bool:
    """True when the run builds VGG16: the CNN itself, or baselines on its embeddings."""
    return "vgg16" in settings.models or (
        any(kind in settings.models for kind in BASELINE_KINDS) and "embeddings" in settings.baselines.feature_sets)


def run_training(settings: TrainSettings, *, progress: bool = True) -> RunResult:
    """Train, evaluate and register every model in `settings.models`; write the run's report."""
    if settings.vgg.weights == "imagenet" and uses_vgg16(settings):
        imagenet_weights_path()  # missing ImageNet weights fail here, in one line, before any work starts
    data = prepare_dataset(
        settings.data_dir, image_size=settings.vgg.image_size, split=settings.split, limits=settings.limits,
        progress=progress,
    )
    run_dir = settings.output_dir / datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    run_dir.mkdir(parents=True)
    (run_dir / "data_report.json").write_text(json.dumps(data.report(), indent=2) + "\n")
    data.manifest.save(run_dir / "manifest.csv")
    registry = Registry(settings.registry)
    result = RunResult(run_dir=run_dir, report_path=run_dir / "report.md")
    connect(settings.cluster.address, progress=progress)
    with ThreadPoolExecutor(max_workers=1) as background:
        baselines = None
        if any(kind in settings.models for kind in BASELINE_KINDS):
            baselines = background.submit(train_baselines, settings, data, registry, run_dir, progress)
        if "vgg16" in settings.models:
            result.models.append(train_cnn(settings, data, registry, run_dir, progress))
        if baselines is not None:
            result.models.extend(baselines.result())
    compare_with_first(result.models, data.labels_of("test"))
    write_run_report(result, settings, data)
    if settings.optimize.precisions:
        for model in result.models:
            if network_file(read_card(model.folder)) is not None:
                result.variants += optimize_model(registry, f"{model.name}:{model.version}", settings.optimize)
    return result


def compare_with_first(models: list[RegisteredModel], test_labels: np.ndarray) -> None:
    """McNemar's test of every model after the first (VGG16 when it trained) against the first, on the same test
    files, recorded in each score (and so in the run's table and metrics.json)."""

    def correct(model: RegisteredModel) -> np.ndarray:
        predictions = json.loads((model.folder / METRICS_FILE).read_text())["predictions"]
        return np.asarray(predictions) == test_labels

    for model in models[1:]:
        model.score = model.score.compared_with(models[0].name, mcnemar(correct(model), correct(models[0])))


def common_card(settings: TrainSettings, data: PreparedDataset, name: str, kind: str) -> ModelCard:
    return ModelCard(
        name=name,
        kind=kind,
        labels=list(data.classes),
        input_size=settings.vgg.image_size,
        weights_source=settings.vgg.weights,
        weights_sha256=weights_file_sha256(settings.vgg.weights),
        pretrained=settings.vgg.pretrained,
        precision=settings.vgg.precision,
        training=settings.to_dict(),
        data={"root": str(Path(data.root).resolve()), "manifest_digest": data.manifest.digest(),
              "images": len(data.manifest.rows)},
    )


def train_cnn(
    settings: TrainSettings, data: PreparedDataset, registry: Registry, run_dir: Path, progress: bool
) -> RegisteredModel:
    vgg = settings.vgg
    if not vgg.pretrained:
        LOG.warning("VGG16 starts from RANDOM weights (weights=none): no ImageNet transfer; all layers train")
    architecture = VGGArchitecture(num_classes=len(data.classes), image_size=vgg.image_size)
    name = registry_name(settings.name, "vgg16")
    weights = class_weights(vgg, data.labels_of("train"), len(data.classes))
    trained = train_vgg16_on_ray(settings, architecture, data, f"{name}-{run_dir.name}", class_weight=weights,
                                 progress=progress)
    val_images, val_labels = data.split("val")
    uncalibrated = KerasClassifier(trained.model, labels=data.classes, input_size=vgg.image_size, card={})
    temperature = fit_temperature(uncalibrated.uncalibrated_probabilities(val_images), val_labels)
    LOG.info("%s: calibration temperature %.4f (fitted on the validation split)", name, temperature)
    card = common_card(settings, data, name, "vgg16").replace(
        architecture=architecture.to_dict(), best_epoch=trained.best_epoch, temperature=temperature,
        class_weight={data.classes[index]: weight for index, weight in weights.items()} if weights else None)
    classifier = KerasClassifier(trained.model, labels=data.classes, input_size=vgg.image_size, card=card.to_dict(),
                                 temperature=temperature)
    evaluation = evaluate_classifier(classifier, *data.split("test"), history=trained.history, seed=settings.seed)
    folder = run_dir / "models" / name
    save_keras_artifact(folder, trained.model, card)
    return register(registry, name, folder, evaluation, data)


def baseline_features(
    settings: TrainSettings, data: PreparedDataset, feature_set: str, progress: bool
) -> PixelFeatures | EmbeddingFeatures:
    if feature_set == "pixels":
        return PixelFeatures(settings.baselines.pixel_size)
    keras.utils.set_random_seed(settings.seed)
    architecture = VGGArchitecture(num_classes=len(data.classes), image_size=settings.vgg.image_size)
    return EmbeddingFeatures(embedding_model(build_vgg16(architecture, weights=settings.vgg.weights)), progress=progress)


def features_of(features: PixelFeatures | EmbeddingFeatures, data: PreparedDataset, settings: TrainSettings) -> np.ndarray:
    if isinstance(features, EmbeddingFeatures):
        return cached_embeddings(features, data.images, data.manifest.digest(), settings.cache_dir)
    return features.transform(data.images)


def train_baselines(
    settings: TrainSettings, data: PreparedDataset, registry: Registry, run_dir: Path, progress: bool
) -> list[RegisteredModel]:
    """Every baseline × feature set: hyperparameter search with cross-validation as parallel Ray tasks on
    train+val, the best setting refitted there, scored on test, registered."""
    kinds = [kind for kind in BASELINE_KINDS if kind in settings.models]
    fit_index = data.indices("train", "val")
    extractors = {fs: baseline_features(settings, data, fs, progress) for fs in settings.baselines.feature_sets}
    jobs: dict[SearchJob, str] = {}  # each search and its feature set
    for feature_set, extractor in extractors.items():
        matrix = features_of(extractor, data, settings)[fit_index]
        jobs |= {SearchJob(f"{kind}-{feature_set}", kind, matrix, data.labels[fit_index]): feature_set
                 for kind in kinds}
    outcomes = search(list(jobs), settings.baselines, settings.seed, parallel=True)
    registered = []
    for job, feature_set in jobs.items():
        outcome = outcomes[job.name]
        features = extractors[feature_set]
        name = registry_name(settings.name, job.name)
        card = common_card(settings, data, name, job.kind).replace(
            estimator=repr(outcome.estimator), best_params=outcome.best_params, temperature=outcome.temperature)
        classifier = SklearnClassifier(
            outcome.estimator, features, labels=data.classes, input_size=settings.vgg.image_size, card=card.to_dict(),
            temperature=outcome.temperature,
        )
        evaluation = evaluate_classifier(classifier, *data.split("test"), cv=outcome.cv, seed=settings.seed)
        evaluation["search"] = outcome.to_dict()
        folder = run_dir / "models" / name
        save_estimator_artifact(folder, outcome.estimator, features, card)
        registered.append(register(registry, name, folder, evaluation, data))
    return registered


def register(
    registry: Registry, name: str, folder: Path, evaluation: dict[str, Any], data: PreparedDataset
) -> RegisteredModel:
    write_evaluation(folder, name, evaluation)
    data.manifest.save(folder / "manifest.csv")
    version = registry.register(name, folder)
    LOG.info("registered %s:%s in %s", name, version, registry.root)
    return RegisteredModel(name=name, version=version, score=score_of(name, evaluation), folder=folder)


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


def write_run_report(result: RunResult, settings: TrainSettings, data: PreparedDataset) -> None:
    """report.md with the comparison table, metrics.json for every model, and the plots beside them."""
    plots = result.run_dir / "plots"
    plots.mkdir(exist_ok=True)
    metrics: dict[str, Any] = {}
    for model in result.models:
        metrics[model.name] = json.loads((model.folder / METRICS_FILE).read_text()) | {"version": model.version}
        if model.score.versus:
            metrics[model.name]["mcnemar"] = model.score.versus
        for png in model.folder.glob("*.png"):
            shutil.copy(png, plots / f"{model.name}-{png.name}")
    (result.run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    report = data.report()
    skipped = "\n".join(f"- `{item['path']}`: {item['cause']}" for item in report["skipped"]) or "None."
    sections = {
        "Calibration": calibration_note({name: m["calibration"] for name, m in metrics.items()},
                                        len(data.indices("test"))),
        "Hyperparameter search (cross-validated on train+val)": search_table(metrics),
        "Models": "\n".join(f"- `{m.name}:{m.version}` in `{settings.registry}`" for m in result.models),
        "Data": f"`{data.root}`: {report['images']} images, {len(data.classes)} classes, "
        f"manifest `{report['manifest_digest']}`.",
        "Skipped files": skipped,
        "Plots": "\n".join(f"![{png.stem}](plots/{png.name})" for png in sorted(plots.glob("*.png"))),
    }
    write_report(
        result.report_path, title=f"Training run {result.run_dir.name}", scores=[m.score for m in result.models],
        sections=sections, cv_folds=settings.baselines.cv_folds,
    )
