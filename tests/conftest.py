"""Shared test setup: put tests/ on sys.path so test modules can `from utils.images import ...`."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

SEED_ENV = "IMGCLF_TEST_SEED"


@pytest.fixture(scope="session")
def seed() -> int:
    """The seed for test randomness: 42, or $IMGCLF_TEST_SEED to reproduce a flaky run."""
    return int(os.environ.get(SEED_ENV, "42"))


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster for the whole session, in its own temp folder, shut down at the end."""
    import shutil
    import tempfile

    import ray

    from imgclf.cluster import WORKER_ENV

    if ray.is_initialized():
        yield ray
        return
    temp_dir = tempfile.mkdtemp(prefix="imgclf-ray-", dir="/tmp")  # short: Ray's socket paths have a length limit
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp_dir, runtime_env={"env_vars": WORKER_ENV})
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)
