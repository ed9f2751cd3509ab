"""VGG16 embeddings computed once per (data manifest, extractor weights) and kept on disk."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from imgclf.models.features import EmbeddingFeatures

LOG = logging.getLogger("imgclf.training")


def weights_fingerprint(model) -> str:
    digest = hashlib.sha256()
    for array in model.get_weights():
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def cached_embeddings(features: EmbeddingFeatures, images: np.ndarray, manifest_digest: str, cache_dir: Path) -> np.ndarray:
    """Embeddings of `images` (in manifest order), read from the cache when this exact pair was seen before."""
    key = f"{manifest_digest}-{images.shape[1]}px-{weights_fingerprint(features.model)}"
    path = Path(cache_dir) / f"embeddings-{key}.npy"
    if path.is_file():
        cached = np.load(path)
        if cached.shape[0] == len(images):
            LOG.info("embeddings from cache %s", path)
            return cached
    embeddings = features.transform(images)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp.npy")
    np.save(temporary, embeddings)
    temporary.replace(path)
    return embeddings
