"""Process-level setup shared by every entry point: CPU budget and the Keras flavour."""

from __future__ import annotations

import logging
import os

LOG = logging.getLogger("imgclf")


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's core count)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:
        return os.cpu_count() or 1


def use_legacy_keras() -> None:
    """Select tf_keras (Keras 2) for TensorFlow before it is imported: one Keras flavour everywhere."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def configure_tensorflow(num_cpus: float | None = None) -> None:
    """Size TensorFlow's thread pools to the CPUs this process reserved, so processes do not oversubscribe."""
    use_legacy_keras()
    import tensorflow as tf

    threads = max(int(num_cpus or cpu_count()), 1)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    except RuntimeError:
        LOG.debug("TensorFlow already initialised; keeping its thread pools")
