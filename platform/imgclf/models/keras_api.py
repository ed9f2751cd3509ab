"""The one Keras flavour of the project: tf_keras (Keras 2), which trains under Ray Train's strategy."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from imgclf.config import PRECISIONS, check_choice
from imgclf.runtime import use_legacy_keras

use_legacy_keras()

import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

KERAS_POLICY = {"fp32": "float32", "bf16": "mixed_bfloat16"}

__all__ = ["keras", "precision_policy", "tf"]


@contextmanager
def precision_policy(precision: str) -> Iterator[None]:
    """Build models under `fp32` or `bf16` (Keras mixed_bfloat16), restoring the previous global policy."""
    check_choice("precision", precision, PRECISIONS)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(KERAS_POLICY[precision])
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
