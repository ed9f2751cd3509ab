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
