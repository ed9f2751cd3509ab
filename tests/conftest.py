"""Shared test setup: put tests/ on sys.path so test modules can `from utils.images import ...`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
