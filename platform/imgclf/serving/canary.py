"""A canary: a second version of the default model answering a share of its requests, and the reconfiguration
that moves the share (`imgclf serve promote` / `rollback`).

Which version answers is drawn per request in the Classifier replica, so the share holds across replicas and
batches; a request may also pin a version (`name:version`), which no weight overrides.
"""

from __future__ import annotations

import copy
import random
from typing import Any, Callable, TypeVar

from imgclf.errors import ConfigError
from imgclf.serving.launcher import deployment
from imgclf.serving.settings import CanaryConfig

STABLE, CANARY = "stable", "canary"  # a served version's role
PROMOTED, ROLLED_BACK = 100.0, 0.0  # the canary's weight after `promote` and after `rollback`
Version = TypeVar("Version")


def answering(stable: Version, canary: Version | None, weight: float,
              draw: Callable[[], float] = random.random) -> Version:
    """The version that answers one request: the canary with probability weight/100, else the stable one."""
    return canary if canary is not None and draw() * 100 < weight else stable


def traffic_percent(role: str, weight: float | None) -> float:
    """The share of its model's requests a version with `role` gets under a canary of `weight` (None: no canary)."""
    if weight is None:
        return 100.0
    return weight if role == CANARY else 100.0 - weight


def canary_of(config: dict[str, Any], application: str | None = None) -> dict[str, Any] | None:
    """The canary ({version, weight}) of an application's Classifier in a Serve config (None: the first
    application); None when it serves none."""
    return (deployment(config, "Classifier", application).get("user_config") or {}).get("canary")


def with_canary_weight(config: dict[str, Any], weight: float, application: str | None = None) -> dict[str, Any]:
    """A copy of a Serve config (serve_config.yaml's shape) whose application's Classifier canary has `weight`;
    ConfigError when that Classifier has no canary to move."""
    changed = copy.deepcopy(config)
    canary = canary_of(changed, application)
    if not canary:
        where = f"application {application!r}" if application else "the first application"
        raise ConfigError(f"{where} serves no canary: set `canary: {{version: V, weight: W}}` in the Classifier's "
                          "user_config first")
    canary["weight"] = CanaryConfig(version=canary.get("version"), weight=weight).weight
    return changed
