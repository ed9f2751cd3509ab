"""The model kinds, one ModelKind entry each: what configuration allows, training trains, artifacts save and load,
and serving orders.

imgclf's own kinds are vgg16 (models/vgg_kind.py), knn and dt (models/baselines.py). A distribution adds a kind
with an entry in the entry point group `imgclf.model_kinds` (models/plugins.py) naming its ModelKind:

    [project.entry-points."imgclf.model_kinds"]
    toy = "toy_package.kind:TOY_KIND"
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from imgclf.models.plugins import PluginTable

if TYPE_CHECKING:
    from imgclf.config import TrainSettings
    from imgclf.explanations.explanation import Explainer
    from imgclf.models.backends import BackendChoice
    from imgclf.models.baselines import BaselineSearch
    from imgclf.models.card import ModelCard
    from imgclf.models.classifier import Classifier

MODEL_KINDS_GROUP = "imgclf.model_kinds"


def never(settings: TrainSettings) -> bool:
    del settings
    return False


@dataclass(frozen=True)
class ModelKind:
    """One kind of model, from training to serving.

    `trainer` is imported only by a training run (a server never imports training code): a function
    `(TrainingJob, kinds) -> list[TrainedModel]` (imgclf.training.job) that trains the run's models of every
    requested kind naming the same trainer, together. `save` writes a trained model's files and card into a
    folder; `load` reads them back, running the `network` a runtime compiled when given one (imgclf.models.runtimes).
    `explainer` says why a model answered (imgclf.explanations.explanation.Explainer).
    """

    name: str
    trainer: str  # "module:function"
    save: Callable[[Path, Classifier, ModelCard], None]
    load: Callable[[Path, ModelCard, BackendChoice, Any], Classifier]
    network_file: Callable[[ModelCard], str | None]  # the Keras network a variant compiles; None: no network
    runtime: str  # the runtime of a model that has no network
    precisions: tuple[str, ...] = ("fp32",)  # what its saved model runs at; the first when its card names none
    serve_rank: int = 1  # a pattern's served models are ordered by it, lowest first (the first is the default)
    loads_base_weights: Callable[[TrainSettings], bool] = never  # training reads VGG16 base weights
    baseline: BaselineSearch | None = None  # a scikit-learn baseline: its estimator and hyperparameter search
    explainer: Explainer | None = None  # why a model of the kind answered (imgclf.explanations); None: no reason given


def model_kind(name: str) -> ModelKind:
    """The kind called `name`; ConfigError naming the known kinds."""
    return MODEL_KIND_TABLE.get(name)


def model_kind_names() -> tuple[str, ...]:
    """Every kind's name, imgclf's own first, without importing any kind's module."""
    return MODEL_KIND_TABLE.names()


def resolve_trainer(kind: ModelKind) -> Callable[..., Any]:
    """The kind's training function, imported now."""
    return EntryPoint(kind.name, kind.trainer, MODEL_KINDS_GROUP).load()


MODEL_KIND_TABLE: PluginTable[ModelKind] = PluginTable(
    MODEL_KINDS_GROUP, "model kind", ModelKind,
    {"vgg16": "imgclf.models.vgg_kind:VGG16", "knn": "imgclf.models.baselines:KNN",
     "dt": "imgclf.models.baselines:DECISION_TREE"},
)
