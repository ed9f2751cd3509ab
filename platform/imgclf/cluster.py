"""Joining a Ray cluster: one connect function for training, batch jobs and serving."""

from __future__ import annotations

import logging
import os
import time

import ray
from ray.util.debug import log_once

from imgclf.console import (
    ACTOR_ARGUMENTS_NOTICE,
    drop_stderr_lines,
    install_quiet_tensorflow_import,
    shorten_ray_train_request_warnings,
)

# Every Ray worker process of imgclf runs tf_keras (one Keras flavour) and keeps TensorFlow's C++ logs quiet
# (k8s/ sets these on every pod as well).
WORKER_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
# ... and, in the workers of imgclf's own Ray jobs, Ray's deprecation notices about its internals and the Ray Data
# bookkeeping of Ray Train's data feeders too.
QUIET_WORKER_ENV = {"PYTHONWARNINGS": "ignore::DeprecationWarning", "RAY_DATA_LOG_LEVEL": "ERROR"}
WORKER_SETUP_HOOK = "imgclf.cluster.setup_worker"
RUNTIME_ENV = {"env_vars": WORKER_ENV | QUIET_WORKER_ENV, "worker_process_setup_hook": WORKER_SETUP_HOOK}
RAY_DATA_PROGRESS_DISABLED = "ray_data_progress_manager_disabled"  # Ray Data's once-only key for that notice
# A local instance reports its CPUs a moment after ray.init returns (seconds on a busy machine); a Dataset run before
# that warns of a cluster without CPUs that "will hang", which it will not.
LOCAL_RESOURCES_WAIT_S = 10.0


def setup_worker() -> None:
    """Ray's worker_process_setup_hook for imgclf's jobs, run first in every worker process: TensorFlow loads
    quietly whoever imports it first (Ray Train's TensorFlow support does, before any imgclf module), and Ray's
    state API calls in the worker (Ray Train's placement group cleaner makes some) address this worker's own
    cluster, which they cannot guess on a machine running several Ray instances."""
    install_quiet_tensorflow_import()
    shorten_ray_train_request_warnings()  # Ray Train's controller runs in one of these workers
    os.environ.setdefault("RAY_ADDRESS", ray.get_runtime_context().gcs_address)


def connect(address: str | None, *, progress: bool = True) -> None:
    """Join the cluster at `address` (`auto`, `HOST:PORT`, `ray://...`), or start a local one; no-op when
    already connected. `progress` turns Ray Data's progress bars on or off (off without a notice)."""
    if not ray.is_initialized():
        ray.init(address=address, runtime_env=RUNTIME_ENV, log_to_driver=True)
        drop_stderr_lines(ACTOR_ARGUMENTS_NOTICE)  # after Ray's own processes started, with the real stderr
        if address is None:
            wait_for_local_cpus()
    context = ray.data.DataContext.get_current()  # Ray Data, once imported, has set its loggers up
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # execution plans and timings stay in Ray Data's logs
    if not progress:
        log_once(RAY_DATA_PROGRESS_DISABLED)
    context.enable_progress_bars = progress


def wait_for_local_cpus(timeout_s: float = LOCAL_RESOURCES_WAIT_S) -> None:
    """Return once the local instance just started reports CPUs available (or after `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while not ray.available_resources().get("CPU") and time.monotonic() < deadline:
        time.sleep(0.05)
