"""What a test cannot run without (a system binary, a shared dataset, a Python package): a missing prerequisite
skips the test here, but fails it in CI (CI=true), which must run every test.

    photos = require_folder(DATASETS / "hymenoptera", "the shared datasets (see ../shared/datasets/README.md)")
    sync_api = require_module("playwright.sync_api", "playwright")
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

CI_ENV = "CI"


def in_ci() -> bool:
    """True when CI=true: there a missing prerequisite, or a fallback taken without need, is a failure."""
    return os.environ.get(CI_ENV) == "true"


def missing(reason: str) -> NoReturn:
    """Skip the test (at module level: the module) because of `reason`; fail it instead when CI=true."""
    __tracebackhide__ = True  # reports name the caller
    if in_ci():
        pytest.fail(f"{reason}; CI must run this test", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require(present: bool, reason: str) -> None:
    """Go on when `present`; otherwise `missing(reason)`."""
    __tracebackhide__ = True  # reports name the caller
    if not present:
        missing(reason)


def require_folder(folder: Path, what: str) -> Path:
    """`folder`, which holds `what`; skip without it, fail when CI=true."""
    __tracebackhide__ = True  # reports name the caller
    require(folder.is_dir(), f"{what} missing: {folder} is not a folder")
    return folder


def require_module(name: str, package: str) -> ModuleType:
    """Module `name` imported (pip package `package`, a dev dependency); skip without it, fail when CI=true."""
    __tracebackhide__ = True  # reports name the caller
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"cannot import {name} ({exc}); `pip install -e '.[dev]'` installs {package}")
