"""Joining a Ray cluster: one connect function for training, batch jobs and serving."""

from __future__ import annotations

import ray

# Every Ray worker process of imgclf runs tf_keras (one Keras flavour) and keeps TensorFlow's C++ logs quiet.
WORKER_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


def connect(address: str | None, *, progress: bool = True) -> None:
    """Join the cluster at `address` (`auto`, `HOST:PORT`, `ray://...`), or start a local one; no-op when
    already connected. `progress` turns Ray Data's progress bars on or off."""
    if not ray.is_initialized():
        ray.init(address=address, runtime_env={"env_vars": WORKER_ENV}, log_to_driver=True)
    ray.data.DataContext.get_current().enable_progress_bars = progress
