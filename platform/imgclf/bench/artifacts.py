"""Random-weight VGG16 artifacts for the speed benchmarks (batch, serve): built once per input size, registered
in a registry under the bench folder, then reused. Speed does not depend on the weight values, so no pretrained
weights are downloaded (weights=none, recorded in the card)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from imgclf.models.artifact import new_card, save_keras_artifact
from imgclf.models.vgg import VGGArchitecture, build_vgg16
from imgclf.registry import Registry

LABELS = ("ants", "bees")
PRECISION = "fp32"
WEIGHTS_NOTE = "none: random initialisation, no network here; speed does not depend on the weight values"


@dataclass(frozen=True)
class BenchModel:
    """A registered VGG16 artifact: the registry root, its reference, and its local folder."""

    registry: str
    reference: str
    folder: Path


def bench_model(registry_root: Path, image_size: int) -> BenchModel:
    """A VGG16 artifact at `image_size` px with random weights, built and registered once, then reused."""
    name = f"bench-vgg16-{image_size}"
    registry = Registry(registry_root)
    if name not in registry.list_models():
        architecture = VGGArchitecture(num_classes=len(LABELS), image_size=image_size)
        card = new_card(
            name=name, kind="vgg16", labels=list(LABELS), input_size=image_size, architecture=architecture.to_dict(),
            weights_source="none", pretrained=False, precision=PRECISION,
        )
        staging = registry_root.parent / f"staging-{name}"
        shutil.rmtree(staging, ignore_errors=True)
        save_keras_artifact(staging, build_vgg16(architecture, weights="none"), card)
        registry.register(name, staging)
        shutil.rmtree(staging)
    name, version = registry.resolve(name)
    return BenchModel(str(registry_root), f"{name}:{version}", registry.local_path(f"{name}:{version}"))
