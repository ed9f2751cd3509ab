"""Find a system binary that a test runs for real; skip the test without it, but fail in CI (CI=true)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

SYSTEM_BIN = Path("/usr/bin")


def require_binary(name: str, package: str) -> str:
    """The path of binary `name` (on PATH or in /usr/bin); skip the test when missing, fail when CI=true."""
    found = shutil.which(name) or shutil.which(name, path=str(SYSTEM_BIN))
    if found:
        return found
    reason = f"{name} is not installed (Debian package {package}; `sudo make system-packages` installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run this test")
    pytest.skip(reason)
