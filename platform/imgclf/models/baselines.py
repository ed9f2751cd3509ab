"""KNN and decision-tree baselines as scikit-learn pipelines."""

from __future__ import annotations

from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from imgclf.config import BaselineSettings


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


BASELINE_BUILDERS = {"knn": build_knn, "dt": build_decision_tree}
