"""The Prometheus rules and the Grafana dashboard that ship with imgclf, and where to find them.

    from imgclf.observability import RULES_FILE, load_rules
    prometheus.yml:  rule_files: ['<RULES_FILE>']        # what `imgclf cluster up` writes
    Grafana:         Dashboards > New > Import > upload DASHBOARD_FILE

Where the files live, and why: here, beside this module, and nowhere else. They are package data
(pyproject.toml, [tool.setuptools.package-data]), so `pip install .`, the wheel and the k8s image (which installs
only platform/) ship them, and `imgclf cluster up` finds them wherever imgclf is installed. The repository's
top-level observability/ folder only points here, so no second copy can drift from this one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

FOLDER = Path(__file__).resolve().parent
RULES_FILE = FOLDER / "rules.yml"  # Prometheus recording and alerting rules (`promtool check rules`)
DASHBOARD_FILE = FOLDER / "grafana-dashboard.json"  # a Grafana dashboard, datasource chosen at import
# The recording rule that holds the classify latency SLO (seconds): the one place the SLO is set.
SLO_RECORD = "imgclf:classify_latency_slo_seconds"

__all__ = ["DASHBOARD_FILE", "RULES_FILE", "SLO_RECORD", "load_dashboard", "load_rules"]


def load_rules() -> dict[str, Any]:
    """The rules file as data: {"groups": [{"name", "rules": [{"record" | "alert", "expr", ...}]}]}."""
    return yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))


def load_dashboard() -> dict[str, Any]:
    """The Grafana dashboard as data (its JSON model)."""
    return json.loads(DASHBOARD_FILE.read_text(encoding="utf-8"))
