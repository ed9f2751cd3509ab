"""What a run follows in the registry: the latest version of each of its models, the split it keeps, and how each new
version compares with the one before it."""

from __future__ import annotations

import logging
from typing import Sequence

from imgclf.config import TrainSettings
from imgclf.data.dataset import PreparedDataset, PreviousSplit
from imgclf.data.split import Manifest
from imgclf.errors import ImgclfError
from imgclf.evaluation.evaluate import MANIFEST_FILE
from imgclf.evaluation.run_report import RegisteredModel
from imgclf.evaluation.versions import compare_versions, comparison_rows, unscored
from imgclf.models.artifact import load_classifier
from imgclf.models.card import CARD_FILE
from imgclf.registry import Registry
from imgclf.training.job import registry_name

LOG = logging.getLogger("imgclf.training")


def latest_version(registry: Registry, name: str) -> str | None:
    """`name:version` of the model's latest version, or None when the registry has none."""
    if not registry.list_versions(name):
        return None
    return ":".join(registry.resolve(name))


def previous_split(registry: Registry, settings: TrainSettings) -> PreviousSplit | None:
    """The split of the newest latest version among the models a run of this name and these kinds registered, or
    None when there is none: the run keeps it, so old and new versions share their test images."""
    prefix = registry_name(settings.name)
    found = []
    for name in registry.list_models():
        if name != prefix and not name.startswith(f"{prefix}-"):
            continue
        card = registry.read_json(name, CARD_FILE)
        if (card.get("training") or {}).get("name") == settings.name and card.get("kind") in settings.models:
            found.append((str(card.get("created", "")), name, card["labels"]))
    if not found:
        return None
    _, name, labels = max(found)
    reference = latest_version(registry, name)
    manifest = Manifest.from_csv(registry.read_text(reference, MANIFEST_FILE), labels)
    return PreviousSplit(reference, {row.path: row.split for row in manifest.rows})


def compare_with_previous(registry: Registry, models: Sequence[RegisteredModel], data: PreparedDataset) -> None:
    """Each model that had a previous version against it (`model.comparison`), both loaded from their folders with
    the registry's loader on TensorFlow (or the kind's own runtime), so both run the same way."""
    scored = len(comparison_rows(data)) > 0
    for model in models:
        if model.previous is None:
            continue
        reference = f"{model.name}:{model.version}"
        if not scored:
            model.comparison = unscored(reference, model.previous, data)
            continue
        try:
            previous = load_classifier(registry.local_path(model.previous), backend="tensorflow")
        except ImgclfError as exc:  # the run's models are registered: say why there is no comparison, not fail
            LOG.warning("cannot compare %s with %s: %s", reference, model.previous, exc)
            why = f"The previous version cannot be loaded: {exc}"
            model.comparison = unscored(reference, model.previous, data, why)
            continue
        new = load_classifier(model.folder, backend="tensorflow")
        model.comparison = compare_versions(reference, model.previous, previous, new, data)
