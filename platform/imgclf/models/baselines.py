"""KNN and decision-tree baselines as scikit-learn pipelines, and what the hyperparameter search varies in each."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any, Callable

from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from imgclf.config import BaselineSettings
from imgclf.errors import ConfigError


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
class BaselineKind:
    """How one baseline kind is built from settings, which settings its search tries (in grid order; KNN's k
    at most `max_neighbors`), and those settings in scikit-learn's names."""

    build: Callable[[BaselineSettings, int], Pipeline]
    candidates: Callable[[BaselineSettings, int | None], list[BaselineSettings]]
    params: Callable[[BaselineSettings], dict[str, Any]]


BASELINE_KINDS: dict[str, BaselineKind] = {
    "knn": BaselineKind(build_knn, knn_candidates, lambda c: {"n_neighbors": c.knn_neighbors}),
    "dt": BaselineKind(build_decision_tree, tree_candidates,
                       lambda c: {"max_depth": c.tree_max_depth, "criterion": c.tree_criterion}),
}
