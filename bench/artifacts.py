"""Random-weight VGG16 artifacts for the speed benchmarks (batch, serve): built once per input size, registered
in a registry under the bench folder with a compiled int8 variant (`imgclf optimize`), then reused. Speed does not
depend on the weight values, so no pretrained weights are downloaded (weights=none, recorded in the card). The
artifact's manifest splits the hymenoptera photos, which calibrate its int8 variant; with random weights its
accuracy means nothing, so the benchmark's guard lets every variant through."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from imgclf.config import OptimizeSettings, SplitSettings
from imgclf.data.scan import scan_folder
from imgclf.data.split import stratified_split
from imgclf.evaluation.evaluate import MANIFEST_FILE
from imgclf.models.artifact import save_keras_artifact, stored_variants
from imgclf.models.card import ModelCard
from imgclf.models.vgg import VGGArchitecture, build_vgg16
from imgclf.optimization.optimize import optimize_model
from imgclf.registry import Registry

LABELS = ("ants", "bees")
BACKEND = "auto"  # every speed benchmark runs what `auto` picks on this machine, bare and in its pipeline
VARIANTS = ("int8",)
CALIBRATION_IMAGES = 32
WEIGHTS_NOTE = "none: random initialisation, no network here; speed does not depend on the weight values"


@dataclass(frozen=True)
class BenchModel:
    """A registered VGG16 artifact: the registry root, its reference, and its local folder."""

    registry: str
    reference: str
    folder: Path


def bench_model(registry_root: Path, image_size: int, photos: Path, variants: tuple[str, ...] = VARIANTS) -> BenchModel:
    """A VGG16 artifact at `image_size` px with random weights and its compiled `variants`, built and registered
    once, then reused (a variant asked for later is added to it). Its manifest splits `photos`/train."""
    name = f"bench-vgg16-{image_size}"
    registry = Registry(registry_root)
    if name not in registry.list_models():
        architecture = VGGArchitecture(num_classes=len(LABELS), image_size=image_size)
        photos = photos / "train"
        classes, files = scan_folder(photos)
        card = ModelCard(
            name=name, kind="vgg16", labels=list(LABELS), input_size=image_size, architecture=architecture.to_dict(),
            weights_source="none", pretrained=False, precision="fp32", data={"root": str(photos)},
        )
        staging = registry_root.parent / f"staging-{name}"
        shutil.rmtree(staging, ignore_errors=True)
        save_keras_artifact(staging, build_vgg16(architecture, weights="none"), card)
        stratified_split(files, classes, SplitSettings()).save(staging / MANIFEST_FILE)
        registry.register(name, staging)
        shutil.rmtree(staging)
    name, version = registry.resolve(name)
    reference = f"{name}:{version}"
    missing = tuple(p for p in variants if p not in stored_variants(registry.local_path(reference)))
    if missing:
        optimize_model(registry, reference, OptimizeSettings(precisions=missing, max_accuracy_drop=100,
                                                              calibration_images=CALIBRATION_IMAGES))
    return BenchModel(str(registry_root), reference, registry.local_path(reference))
