"""One training run: prepare the data once (from one or several roots, keeping the split of the version the run
follows), train the requested kinds with their trainers, evaluate, register, compare each model with its previous
version, report.

Each model kind (models/kinds.py) names its trainer; the kinds naming the same one train together. The first
trainer (in the kinds' order: VGG16's when it trains) runs in this thread, the others meanwhile in one background
thread.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from imgclf.cluster import connect
from imgclf.config import TrainSettings
from imgclf.data.dataset import prepare_dataset
from imgclf.evaluation.evaluate import evaluate_classifier, score_of, write_evaluation
from imgclf.evaluation.report import comparison_table
from imgclf.evaluation.run_report import RegisteredModel, compare_with_first, write_run_report
from imgclf.models.artifact import network_file
from imgclf.models.card import read_card
from imgclf.models.kinds import ModelKind, model_kind, model_kind_names, resolve_trainer
from imgclf.registry import Registry
from imgclf.training.job import TrainedModel, TrainingJob
from imgclf.training.previous import compare_with_previous, latest_version, previous_split

if TYPE_CHECKING:
    from imgclf.optimization.optimize import VariantOutcome

LOG = logging.getLogger("imgclf.training")


@dataclass
class RunResult:
    run_dir: Path
    report_path: Path
    models: list[RegisteredModel] = field(default_factory=list)
    variants: list[VariantOutcome] = field(default_factory=list)

    def table(self) -> str:
        lines = [comparison_table([model.score for model in self.models])]
        compared = [line for model in self.models if model.comparison for line in model.comparison.lines()]
        if compared:
            lines += ["", "Against the previous versions:", *(f"- {line}" for line in compared)]
        if self.variants:
            lines += ["", "Compiled variants:", *(f"- {outcome.line()}" for outcome in self.variants)]
        return "\n".join(lines)


def requested_kinds(settings: TrainSettings) -> list[ModelKind]:
    """The kinds of `settings.models`, in the kinds' own order."""
    return [model_kind(name) for name in model_kind_names() if name in settings.models]


def trainer_groups(kinds: list[ModelKind]) -> list[tuple[str, ...]]:
    """The kinds' names grouped by the trainer they name, in order of first appearance."""
    groups: dict[str, tuple[str, ...]] = {}
    for kind in kinds:
        groups[kind.trainer] = (*groups.get(kind.trainer, ()), kind.name)
    return list(groups.values())


def run_training(settings: TrainSettings, *, progress: bool = True) -> RunResult:
    """Train, evaluate and register every model in `settings.models`; write the run's report."""
    kinds = requested_kinds(settings)
    if settings.vgg.weights == "imagenet" and any(kind.loads_base_weights(settings) for kind in kinds):
        from imgclf.models.vgg import imagenet_weights_path

        imagenet_weights_path()  # missing ImageNet weights fail here, in one line, before any work starts
    registry = Registry(settings.registry)
    data = prepare_dataset(
        settings.data_dirs, image_size=settings.vgg.image_size, split=settings.split, limits=settings.limits,
        previous=previous_split(registry, settings), progress=progress,
    )
    run_dir = settings.output_dir / datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    run_dir.mkdir(parents=True)
    (run_dir / "data_report.json").write_text(json.dumps(data.report(), indent=2) + "\n")
    data.manifest.save(run_dir / "manifest.csv")
    result = RunResult(run_dir=run_dir, report_path=run_dir / "report.md")
    connect(settings.cluster.address, progress=progress)
    job = TrainingJob(settings, data, run_dir, progress)
    first, *others = trainer_groups(kinds)
    with ThreadPoolExecutor(max_workers=1) as background:
        later = [background.submit(train_group, job, registry, names) for names in others]
        result.models += train_group(job, registry, first)
        for future in later:
            result.models += future.result()
    compare_with_first(result.models, data.labels_of("test"))
    compare_with_previous(registry, result.models, data)
    write_run_report(run_dir, result.report_path, result.models, data, registry=settings.registry,
                     cv_folds=settings.baselines.cv_folds)
    if settings.optimize.precisions:
        from imgclf.optimization.optimize import optimize_model  # TensorFlow loads only when variants are made

        for model in result.models:
            if network_file(read_card(model.folder)) is not None:
                result.variants += optimize_model(registry, f"{model.name}:{model.version}", settings.optimize)
    return result


def train_group(job: TrainingJob, registry: Registry, kinds: tuple[str, ...]) -> list[RegisteredModel]:
    """Train `kinds` with the trainer they share, then evaluate, save and register each model it gives back."""
    train = resolve_trainer(model_kind(kinds[0]))
    return [register(job, registry, trained) for trained in train(job, kinds)]


def register(job: TrainingJob, registry: Registry, trained: TrainedModel) -> RegisteredModel:
    """Score the model on the test split, save it with its kind's `save` and register it."""
    name, data = trained.card.name, job.data
    evaluation = evaluate_classifier(trained.classifier, *data.split("test"), history=trained.history, cv=trained.cv,
                                     seed=job.settings.seed)
    if trained.search is not None:
        evaluation["search"] = trained.search
    folder = job.run_dir / "models" / name
    model_kind(trained.card.kind).save(folder, trained.classifier, trained.card)
    write_evaluation(folder, name, evaluation)
    data.manifest.save(folder / "manifest.csv")
    previous = latest_version(registry, name)
    version = registry.register(name, folder)
    LOG.info("registered %s:%s in %s", name, version, registry.root)
    return RegisteredModel(name=name, version=version, score=score_of(name, evaluation), folder=folder,
                           previous=previous)
