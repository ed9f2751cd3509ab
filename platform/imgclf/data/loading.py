"""Decode a list of labelled files into one fixed-size array, skipping and reporting unreadable ones."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from imgclf.config import DecodeLimits
from imgclf.data.decode import read_and_decode
from imgclf.data.scan import LabelledFile
from imgclf.data.transforms import resize_image
from imgclf.errors import ImageDecodeError
from imgclf.runtime import cpu_count


@dataclass(frozen=True)
class SkippedFile:
    path: str
    cause: str


@dataclass
class LoadedImages:
    """Decoded, resized images with the files they came from and the sha256 of each file's bytes (`digests[i]` is
    `files[i]`'s); unreadable files are in `skipped`."""

    images: np.ndarray
    files: list[LabelledFile]
    skipped: list[SkippedFile] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)


def load_images(
    root: str | Path,
    files: Sequence[LabelledFile],
    size: int,
    *,
    limits: DecodeLimits = DecodeLimits(),
    progress: bool = True,
) -> LoadedImages:
    """Decode and resize every file under `root` (an absolute path stays itself) to size×size, hashing the bytes as
    they are read; keep file order, skip what cannot be read."""
    root = Path(root)

    def load_one(item: LabelledFile) -> tuple[np.ndarray, str] | SkippedFile:
        path = str(root / item.path)
        try:
            data, image = read_and_decode(path, limits=limits)
            return resize_image(image, size), hashlib.sha256(data).hexdigest()
        except ImageDecodeError as exc:
            return SkippedFile(item.path, exc.cause)

    with ThreadPoolExecutor(max_workers=cpu_count()) as pool:
        results = list(
            tqdm(pool.map(load_one, files), total=len(files), desc="decode", unit="img", disable=not progress)
        )
    kept = [(item, result) for item, result in zip(files, results) if not isinstance(result, SkippedFile)]
    images = np.stack([image for _, (image, _) in kept]) if kept else np.empty((0, size, size, 3), np.uint8)
    skipped = [result for result in results if isinstance(result, SkippedFile)]
    return LoadedImages(images=images, files=[item for item, _ in kept], skipped=skipped,
                        digests=[digest for _, (_, digest) in kept])
