"""What a test needs to know of a Grafana dashboard and of Prometheus rules: their PromQL, made runnable as is.

    for title, expr in panel_queries(load_dashboard()):
        query(prometheus_url, runnable(expr))          # $__rate_interval -> 1m, $model -> .*

    rules_copy(load_rules(), for_="0s", windows={"5m": "1m"})   # the rules with alerts that fire at once
"""

from __future__ import annotations

import copy
import re
from typing import Any, Iterator

RATE_INTERVAL = "1m"  # what Grafana's $__rate_interval and friends stand for in a test
# Grafana's interval and range variables; every other variable ($route, ${model}, [[batch_job]]) matches anything.
INTERVAL_VARIABLES = ("__rate_interval", "__interval", "__range")
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that shows data: rows left out, panels inside collapsed rows included."""
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def panel_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, PromQL) for every target of every panel that has an expression."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            if (target.get("expr") or "").strip():
                yield panel.get("title", ""), target["expr"]


def runnable(expr: str, rate_interval: str = RATE_INTERVAL) -> str:
    """The PromQL with Grafana's variables substituted: interval ones by `rate_interval`, template ones by `.*`
    (they are only used in regex matchers, =~"$model")."""
    def value(match: re.Match) -> str:
        name = next(group for group in match.groups() if group)
        return rate_interval if name in INTERVAL_VARIABLES else ".*"
    return VARIABLE.sub(value, expr)


def all_rules(rules: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every recording and alerting rule of a rules file's data."""
    for group in rules["groups"]:
        yield from group["rules"]


def rules_copy(rules: dict[str, Any], *, for_: str | None = None, windows: dict[str, str] | None = None,
              annotations: bool = True, records: dict[str, str] | None = None) -> dict[str, Any]:
    """A copy of the rules for a test: every alert's `for:` set to `for_`, range windows `[5m]` replaced as
    `windows` says ({"5m": "1m"}), group intervals dropped (every group evaluated at the global interval),
    annotations dropped unless `annotations`, and the expressions of the recording rules named in `records`
    replaced."""
    copied = copy.deepcopy(rules)
    for group in copied["groups"]:
        group.pop("interval", None)
        for rule in group["rules"]:
            if for_ is not None and "alert" in rule:
                rule["for"] = for_
            if not annotations:
                rule.pop("annotations", None)
            if rule.get("record") in (records or {}):
                rule["expr"] = records[rule["record"]]
            for old, new in (windows or {}).items():
                rule["expr"] = re.sub(rf"\[{re.escape(old)}\]", f"[{new}]", rule["expr"])
    return copied

