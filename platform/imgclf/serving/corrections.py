"""Corrections from the page: an image a model got wrong, stored under the label a person picked, in a folder-per-class
dataset that `imgclf train --data` reads as it is.

    <folder>/<label>/<sha256[:16]>.<ext>     the upload (one class folder per image: the last correction wins)
    <folder>/corrections.csv                 one row per correction: time, who, model, model_version, predicted,
                                             label, path (relative to <folder>), sha256 of the upload
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import math
import os
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from imgclf.errors import ConfigError
from imgclf.serving.errors import BadRequest, TooManyRequests
from imgclf.storage import absolute, is_uri

MANIFEST = "corrections.csv"
MANIFEST_COLUMNS = ("time", "who", "model", "model_version", "predicted", "label", "path", "sha256")
NAME_HEX_DIGITS = 16
WINDOW_S = 60.0
# Pillow's format of an upload -> the suffix it is stored under (one `imgclf.data.scan` reads); any other format
# that decodes (TIFF, ICO ...) is stored as the decoded image in PNG.
STORED_SUFFIXES = {"PNG": ".png", "JPEG": ".jpg", "MPO": ".jpg", "GIF": ".gif", "BMP": ".bmp", "WEBP": ".webp"}
FALLBACK_SUFFIX = ".png"
FORBIDDEN_IN_LABEL = ("/", "\\", "\x00")

Decode = Callable[[bytes, str], np.ndarray]  # the classify service's decode: ServiceError for what is no image


@dataclass(frozen=True)
class Correction:
    """Who said which label an image has, against which model's answer."""

    label: str
    who: str
    model: str
    model_version: str
    predicted: str


class RateLimit:
    """At most `per_window` events in any `window_s` seconds (a sliding window); thread-safe."""

    def __init__(self, per_window: int, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic):
        self.per_window, self.window_s, self.clock = per_window, window_s, clock
        self.times: deque[float] = deque()
        self.lock = threading.Lock()

    def wait_s(self) -> float:
        """0 when one more event is allowed now (it is counted), else the seconds until one is."""
        with self.lock:
            now = self.clock()
            while self.times and self.times[0] <= now - self.window_s:
                self.times.popleft()
            if len(self.times) >= self.per_window:
                return self.times[0] + self.window_s - now
            self.times.append(now)
            return 0.0


class CorrectionStore:
    """The folder corrections go to, with the rate at which one replica accepts them."""

    def __init__(self, folder: str, per_minute: int, *, decode: Decode,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if is_uri(folder):
            raise ConfigError(f"feedback_dir must be a local folder (a mounted volume on a cluster); got {folder!r}")
        self.folder = Path(absolute(folder))
        self.per_minute = per_minute
        self.decode = decode
        self.rate = RateLimit(per_minute, clock=clock)

    def save(self, data: bytes, *, label: str, labels: Sequence[str], who: str, model: str, model_version: str,
             predicted: str) -> Path:
        """Store `data` under `label` (one of the model's `labels`) and add its manifest row; the stored file's path.
        Refused, with nothing written: beyond the rate (TooManyRequests), a label the model does not have or that
        is no plain folder name (BadRequest), bytes that do not decode (the decode's error)."""
        wait_s = self.rate.wait_s()
        if wait_s:
            raise TooManyRequests(f"more than {self.per_minute} corrections a minute; try again in "
                                  f"{math.ceil(wait_s)} s", code="too_many_corrections",
                                  headers={"Retry-After": str(math.ceil(wait_s))})
        check_label(label, labels)
        content, suffix = stored_form(data, self.decode(data, "the image"))
        digest = hashlib.sha256(data).hexdigest()
        target = self.inside(label, digest[:NAME_HEX_DIGITS] + suffix)
        self.write(target, content, digest, Correction(label, who, model, model_version, predicted))
        return target

    def inside(self, label: str, name: str) -> Path:
        """`<folder>/<label>/<name>`, refused if the class folder resolves anywhere else (a link out of the folder)."""
        target = self.folder / label / name
        if target.parent.resolve().parent != self.folder.resolve():
            raise BadRequest(f"label {label!r} is not a class folder of the corrections", code="unknown_label")
        return target

    def write(self, target: Path, content: bytes, digest: str, correction: Correction) -> None:
        """Under the manifest's lock (threads and processes alike): place the file, remove the image's copies in
        other class folders (and a class folder left empty, which training would refuse), append the row."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / MANIFEST, "a+", newline="", encoding="utf-8") as manifest:
            fcntl.flock(manifest, fcntl.LOCK_EX)
            target.parent.mkdir(exist_ok=True)
            write_atomically(target, content)
            for other in self.folder.glob(f"*/{target.stem}.*"):
                if other != target and not other.parent.is_symlink():
                    other.unlink()
                    if not any(other.parent.iterdir()):
                        other.parent.rmdir()
            new = manifest.seek(0, os.SEEK_END) == 0  # another writer may have appended since this one opened it
            manifest.write(manifest_text(new, correction, target.relative_to(self.folder), digest))
            manifest.flush()
            os.fsync(manifest.fileno())


def check_label(label: str, labels: Sequence[str]) -> None:
    """A label of the model that is a plain folder name (no separator, NUL, `.`/`..` or hidden name)."""
    if label not in labels:
        raise BadRequest(f"label must be one of the model's labels ({', '.join(labels)}); got {label!r}",
                         code="unknown_label")
    if not label or label.startswith(".") or any(part in label for part in FORBIDDEN_IN_LABEL):
        raise BadRequest(f"label {label!r} cannot name a class folder", code="unknown_label")


def stored_form(data: bytes, image: np.ndarray) -> tuple[bytes, str]:
    """The upload as it came, with its format's suffix; a format training does not read, as the decoded PNG."""
    suffix = STORED_SUFFIXES.get(Image.open(io.BytesIO(data)).format or "")
    if suffix:
        return data, suffix
    encoded = io.BytesIO()
    Image.fromarray(image).save(encoded, format="PNG")
    return encoded.getvalue(), FALLBACK_SUFFIX


def write_atomically(target: Path, content: bytes) -> None:
    """A hidden temporary file beside `target` (scans skip it), synced, then renamed over it."""
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as staged:
            staged.write(content)
            staged.flush()
            os.fsync(staged.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def manifest_text(with_header: bool, correction: Correction, path: Path, digest: str) -> str:
    """The CSV row of one correction (after the header, for a new manifest)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if with_header:
        writer.writerow(MANIFEST_COLUMNS)
    writer.writerow([datetime.now(timezone.utc).isoformat(timespec="milliseconds"), correction.who, correction.model,
                     correction.model_version, correction.predicted, correction.label, path.as_posix(), digest])
    return out.getvalue()
