"""The knn and dt model kinds: scikit-learn pipelines on pixels or VGG16 embeddings, saved with joblib, and what
the hyperparameter search varies in each."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import joblib
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from imgclf.config import BaselineSettings, TrainSettings
from imgclf.errors import ConfigError
from imgclf.explanations.decision_path import DECISION_PATH_EXPLAINER
from imgclf.explanations.explanation import Explainer
from imgclf.explanations.neighbours import NEIGHBOURS_EXPLAINER, NeighbourGallery
from imgclf.models.artifact import ESTIMATOR_FILE, classifier_arguments, load_keras_file, save_estimator_artifact
from imgclf.models.backends import BackendChoice
from imgclf.models.card import ModelCard
from imgclf.models.classifier import SklearnClassifier
from imgclf.models.features import EmbeddingFeatures, PixelFeatures
from imgclf.models.kinds import MODEL_KIND_TABLE, ModelKind


def build_knn(settings: BaselineSettings, seed: int) -> Pipeline:
    """Standardised features → k nearest neighbours (`seed` unused: KNN is deterministic)."""
    del seed
    return Pipeline([("scale", StandardScaler()), ("knn", KNeighborsClassifier(n_neighbors=settings.knn_neighbors))])


def build_decision_tree(settings: BaselineSettings, seed: int) -> Pipeline:
    """A decision tree on the raw features (trees need no scaling), seeded for reproducible splits."""
    tree = DecisionTreeClassifier(
        max_depth=settings.tree_max_depth, criterion=settings.tree_criterion, random_state=seed
    )
    return Pipeline([("tree", tree)])


def knn_candidates(settings: BaselineSettings, max_neighbors: int | None) -> list[BaselineSettings]:
    ks = [k for k in settings.knn_grid if max_neighbors is None or k <= max_neighbors]
    if not ks:
        raise ConfigError(
            f"knn_grid must hold a k of at most {max_neighbors} (the rows in the smallest training fold); "
            f"got {list(settings.knn_grid)}"
        )
    return [dataclasses.replace(settings, knn_neighbors=k) for k in ks]


def tree_candidates(settings: BaselineSettings, max_neighbors: int | None) -> list[BaselineSettings]:
    grid = itertools.product(settings.tree_depth_grid, settings.tree_criterion_grid)
    return [dataclasses.replace(settings, tree_max_depth=depth, tree_criterion=c) for depth, c in grid]


@dataclass(frozen=True)
class BaselineSearch:
    """How one baseline kind is built from settings, which settings its search tries (in grid order; KNN's k
    at most `max_neighbors`), and those settings in scikit-learn's names."""

    build: Callable[[BaselineSettings, int], Pipeline]
    candidates: Callable[[BaselineSettings, int | None], list[BaselineSettings]]
    params: Callable[[BaselineSettings], dict[str, Any]]


def save_baseline(folder: Path, classifier: SklearnClassifier, card: ModelCard) -> None:
    save_estimator_artifact(folder, classifier.estimator, classifier.features, card)
    if classifier.gallery is not None:
        classifier.gallery.save(folder)


def load_baseline(folder: Path, card: ModelCard, choice: BackendChoice, network=None) -> SklearnClassifier:
    """A knn or dt model folder's Classifier, its embedding extractor the compiled `network` when given."""
    estimator = joblib.load(folder / ESTIMATOR_FILE)
    if card.features["kind"] == "pixels":
        features = PixelFeatures(card.features["size"])
    else:
        features = EmbeddingFeatures(network or load_keras_file(folder / card.features["extractor"]))
    return SklearnClassifier(estimator, features, gallery=NeighbourGallery.load(folder),
                             **classifier_arguments(card, choice, folder))


def baseline_network(card: ModelCard) -> str | None:
    """The embedding extractor of a baseline on embeddings; None on pixels."""
    features = card.features or {}
    return features.get("extractor") if features.get("kind") == "embeddings" else None


def on_embeddings(settings: TrainSettings) -> bool:
    """Whether the run's baselines use VGG16 embeddings (and so build VGG16 with its base weights)."""
    return "embeddings" in settings.baselines.feature_sets


def baseline_kind(name: str, search: BaselineSearch, explainer: Explainer) -> ModelKind:
    """A scikit-learn baseline: trained by the baseline search, on every feature set of the run."""
    return ModelKind(name=name, trainer="imgclf.training.baseline_trainer:train_baselines", save=save_baseline,
                     load=load_baseline, network_file=baseline_network, runtime="scikit-learn",
                     loads_base_weights=on_embeddings, baseline=search, explainer=explainer)


KNN = baseline_kind("knn", BaselineSearch(build_knn, knn_candidates, lambda c: {"n_neighbors": c.knn_neighbors}),
                    NEIGHBOURS_EXPLAINER)
DECISION_TREE = baseline_kind("dt", BaselineSearch(
    build_decision_tree, tree_candidates, lambda c: {"max_depth": c.tree_max_depth, "criterion": c.tree_criterion}),
    DECISION_PATH_EXPLAINER)


def search_of(kind: str) -> BaselineSearch:
    """The search of baseline kind `kind`; ConfigError naming the baseline kinds."""
    found = MODEL_KIND_TABLE.get(kind).baseline if kind in MODEL_KIND_TABLE.names() else None
    if found is None:
        baselines = [entry.name for entry in MODEL_KIND_TABLE.entries() if entry.baseline is not None]
        raise ConfigError(f"kind must be one of {', '.join(baselines)}; got {kind!r}")
    return found
