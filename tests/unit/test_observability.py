"""The Prometheus rules and Grafana dashboard that ship with imgclf: promtool accepts the rules, each alert fires
on the series it is about (promtool's rule unit tests) and not on others, the SLO is set in one place, every
dashboard panel has a query, and the wheel ships both files."""

from __future__ import annotations

import re
import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import yaml
from utils.monitoring import all_rules, panel_queries, panels, rules_copy
from utils.system_binaries import require_binary

from imgclf.observability import DASHBOARD_FILE, RULES_FILE, SLO_RECORD, load_dashboard, load_rules

REPO = Path(__file__).resolve().parents[2]
SEVERITIES = {"critical", "warning", "info"}
SLO = re.compile(r"^vector\((\d+(?:\.\d+)?)\)$")
PROMTOOL_TIMEOUT_S = 120  # a bound on a hang; promtool takes about a second


def promtool(*args: object) -> subprocess.CompletedProcess[str]:
    binary = require_binary("promtool", "prometheus")
    return subprocess.run([binary, *map(str, args)], capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT_S)


def test_promtool_accepts_the_rules() -> None:
    done = promtool("check", "rules", RULES_FILE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_for_severity_summary_and_description() -> None:
    alerts = [rule for rule in all_rules(load_rules()) if "alert" in rule]
    assert alerts
    for alert in alerts:
        assert re.fullmatch(r"\d+[smh]", str(alert.get("for", ""))), alert["alert"]
        assert alert.get("labels", {}).get("severity") in SEVERITIES, alert["alert"]
        annotations = alert.get("annotations", {})
        assert annotations.get("summary", "").strip() and annotations.get("description", "").strip(), alert["alert"]
    names = [alert["alert"] for alert in alerts]
    assert len(names) == len(set(names)), names


def test_the_slo_is_set_in_one_place() -> None:
    """One recording rule holds the SLO as a constant; the latency alert compares with that series, and no
    expression of the rules or the dashboard repeats its number."""
    rules = list(all_rules(load_rules()))
    [slo] = [rule for rule in rules if rule.get("record") == SLO_RECORD]
    value = SLO.match(slo["expr"].strip())
    assert value, f"{SLO_RECORD} must be a constant vector(SECONDS); got {slo['expr']!r}"
    literal = re.compile(rf"(?<![\w.]){re.escape(value.group(1))}(?![\w.])")
    exprs = [rule["expr"] for rule in rules if rule is not slo] + [expr for _, expr in panel_queries(load_dashboard())]
    assert not [expr for expr in exprs if literal.search(expr)], f"the SLO {value.group(1)} is repeated"
    [latency_alert] = [rule for rule in rules if "alert" in rule and "classify_latency" in rule["expr"]]
    assert SLO_RECORD in latency_alert["expr"]
    assert any(expr.strip() == SLO_RECORD for _, expr in panel_queries(load_dashboard()))


def test_every_dashboard_panel_has_a_query() -> None:
    dashboard = load_dashboard()
    shown = list(panels(dashboard))
    assert len(shown) >= 8
    for panel in shown:
        exprs = [target.get("expr", "").strip() for target in panel.get("targets", [])]
        assert any(exprs), f"panel {panel.get('title')!r} has no target with a PromQL expression"
        assert all(exprs), f"panel {panel.get('title')!r} has a target without an expression"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), ids


def test_the_dashboard_asks_for_its_datasource() -> None:
    """Importable anywhere: the datasource is an import input and a template variable, never a fixed uid."""
    dashboard = load_dashboard()
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert [(i["name"], i["pluginId"]) for i in dashboard["__inputs"]] == [("DS_PROMETHEUS", "prometheus")]
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels(dashboard):
        for used in [panel, *panel["targets"]]:
            assert used["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == "${datasource}", variable["name"]


def test_the_wheel_ships_both_files() -> None:
    """pyproject.toml's package data covers the rules and the dashboard (the wheel itself: test_packaging)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["imgclf.observability"]
    for path in (RULES_FILE, DASHBOARD_FILE):
        assert path.parent == REPO / "platform" / "imgclf" / "observability"
        assert any(fnmatch(path.name, pattern) for pattern in patterns), path.name


# --- promtool's rule unit tests: each alert on series made up for it --------------------------------------------

ROUTE = {"/v1/classify": 'route="/v1/classify"', "/v2": 'route="/v2/models/{name}/infer"', "probe": 'route="/readyz"'}


def series(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"{name}{{{labels}}}", "values": values}


def alert(name: str, at: str, *firing: dict[str, str]) -> dict[str, Any]:
    """An alert_rule_test: at `at`, alert `name` fires exactly once per labels dict of `firing` (none: silent)."""
    severity = next(rule["labels"]["severity"] for rule in all_rules(load_rules()) if rule.get("alert") == name)
    return {"alertname": name, "eval_time": at,
            "exp_alerts": [{"exp_labels": {"severity": severity, **labels}} for labels in firing]}


def latency_buckets(route: str, le_slow: str, per_minute: int) -> list[dict[str, str]]:
    """Classify latency buckets where all requests of `route` took more than `le_slow` seconds (up to 5 s)."""
    bucket = "ray_imgclf_classify_latency_seconds_bucket"
    return [series(bucket, f'{ROUTE[route]},le="{le_slow}"', "0x30"),
            series(bucket, f'{ROUTE[route]},le="5"', f"0+{per_minute}x30"),
            series(bucket, f'{ROUTE[route]},le="+Inf"', f"0+{per_minute}x30")]


def requests(route: str, status: int, per_minute: int) -> dict[str, str]:
    return series("ray_imgclf_requests_total", f'{ROUTE[route]},status="{status}"', f"0+{per_minute}x30")


def confidence(model: str, high_steps: int, low_steps: int, per_step: int) -> list[dict[str, str]]:
    """The confidence histogram of `model`: `high_steps` steps of predictions in (0.99, 1], then `low_steps` in
    (0.5, 0.9]; `per_step` predictions per step."""
    high_total = high_steps * per_step
    low = f"0x{high_steps} {per_step}+{per_step}x{low_steps}"
    everything = f"0+{per_step}x{high_steps} {high_total + per_step}+{per_step}x{low_steps}"
    name, model_label = "ray_imgclf_prediction_confidence", f'model="{model}"'
    return [series(f"{name}_bucket", f'{model_label},le="0.5"', f"0x{high_steps + low_steps + 1}"),
            *(series(f"{name}_bucket", f'{model_label},le="{le}"', low) for le in ("0.9", "0.99")),
            *(series(f"{name}_bucket", f'{model_label},le="{le}"', everything) for le in ("1.0", "+Inf")),
            series(f"{name}_count", model_label, everything)]


def predictions(version: str, role: str, ok: int, errors: int, name: str = "m") -> list[dict[str, str]]:
    """A model version's predictions counter: `ok` and `errors` per minute."""
    labels = f'name="{name}",version="{version}",role="{role}"'
    return [series("ray_imgclf_predictions_total", f'{labels},outcome="ok"', f"0+{ok}x30"),
            series("ray_imgclf_predictions_total", f'{labels},outcome="error"', f"0+{errors}x30")]


def version_confidence(version: str, role: str, le_all: str, per_minute: int, name: str = "m") -> list[dict[str, str]]:
    """A model version's confidence histogram with every prediction in the bucket ending at `le_all`."""
    labels, bucket = f'name="{name}",version="{version}",role="{role}"', "ray_imgclf_prediction_confidence"
    return [*(series(f"{bucket}_bucket", f'{labels},le="{le}"', "0x30" if float(le) < float(le_all) else
                     f"0+{per_minute}x30") for le in ("0.2", "0.5", "0.9", "1.0", "+Inf")),
            series(f"{bucket}_count", labels, f"0+{per_minute}x30")]


SHORT_TESTS = {  # evaluated every minute
    "evaluation_interval": "1m",
    "tests": [
        {"name": "latency above the SLO, on inference routes only",
         "input_series": [*latency_buckets("/v1/classify", "2.5", 60), *latency_buckets("probe", "2.5", 60)],
         "alert_rule_test": [alert("ImgclfClassifyLatencyAboveSLO", "5m"),
                             alert("ImgclfClassifyLatencyAboveSLO", "15m", {"route": "/v1/classify"})]},
        {"name": "5xx and 503 shares",
         "input_series": [requests("/v1/classify", 200, 60), requests("/v1/classify", 500, 6),
                          requests("/v2", 200, 60), requests("/v2", 503, 30),
                          requests("probe", 503, 600)],  # a probe's 503 is readiness, not an error of a request
         "alert_rule_test": [alert("ImgclfServerErrors", "3m"),
                             alert("ImgclfServerErrors", "10m", {"route": "/v1/classify"}),
                             alert("ImgclfOverloaded", "15m", {"route": "/v2/models/{name}/infer"}),
                             alert("ImgclfClientErrorRatioHigh", "20m")]},
        {"name": "mostly 4xx",
         "input_series": [requests("/v1/classify", 200, 30), requests("/v1/classify", 415, 60)],
         "alert_rule_test": [alert("ImgclfClientErrorRatioHigh", "10m"),
                             alert("ImgclfClientErrorRatioHigh", "20m", {"route": "/v1/classify"}),
                             alert("ImgclfServerErrors", "20m"), alert("ImgclfOverloaded", "20m")]},
        {"name": "the last Classifier replica turns unhealthy",
         "input_series": [
             series("ray_serve_deployment_replica_healthy", 'application="imgclf",deployment="Classifier",replica="a"',
                    "1x5 0x10"),
             series("ray_serve_deployment_replica_healthy", 'application="imgclf",deployment="Api",replica="b"',
                    "1x15")],
         "alert_rule_test": [alert("ImgclfNoReadyClassifier", "5m"),
                             alert("ImgclfNoReadyClassifier", "10m", {"application": "imgclf"})]},
        {"name": "a canary fails more predictions than its stable version",
         "input_series": [*predictions("1", "stable", 600, 6), *predictions("2", "canary", 60, 6),
                          *predictions("1", "stable", 600, 0, "calm"), *predictions("2", "canary", 60, 1, "calm"),
                          *predictions("1", "stable", 600, 60, "alone")],  # no canary: nothing to compare
         "alert_rule_test": [alert("ImgclfCanaryErrorRatio", "3m"),
                             alert("ImgclfCanaryErrorRatio", "10m", {"name": "m"})]},
        {"name": "a canary answers with another median confidence",
         "input_series": [*version_confidence("1", "stable", "1.0", 300), *version_confidence("2", "canary", "0.2", 30),
                          *version_confidence("1", "stable", "1.0", 300, "same"),
                          *version_confidence("2", "canary", "1.0", 30, "same"),
                          *version_confidence("1", "stable", "1.0", 300, "quiet"),
                          *version_confidence("2", "canary", "0.2", 2, "quiet")],  # too few canary answers
         "alert_rule_test": [alert("ImgclfCanaryConfidence", "8m"),
                             alert("ImgclfCanaryConfidence", "20m", {"name": "m"})]},
        {"name": "no Ray metrics at all",
         "input_series": [series("up", 'job="ray"', "0x10")],
         "alert_rule_test": [alert("ImgclfNoReadyClassifier", "5m", {})]},
        {"name": "failed files and a batch job that died",
         "input_series": [
             series("imgclf_batch_files_failed", 'job="nightly",model="m:1",instance=""', "0 0 1 2 2 2"),
             series("imgclf_batch_files_failed", 'job="clean",model="m:1",instance=""', "0x5"),
             series("imgclf_batch_finished", 'job="crashed",instance=""', "0x30"),
             series("push_time_seconds", 'job="crashed",instance=""', "60x30"),  # last push at 1m
             series("imgclf_batch_finished", 'job="running",instance=""', "0x30"),
             series("push_time_seconds", 'job="running",instance=""', "0+60x30"),  # pushes every minute
             series("imgclf_batch_finished", 'job="done",instance=""', "1x30"),
             series("push_time_seconds", 'job="done",instance=""', "60x30")],
         "alert_rule_test": [alert("ImgclfBatchFilesFailed", "1m"),
                             alert("ImgclfBatchFilesFailed", "5m", {"job": "nightly", "model": "m:1"}),
                             alert("ImgclfBatchJobStalled", "10m"),
                             alert("ImgclfBatchJobStalled", "20m", {"job": "crashed"})]},
    ],
}
STEP_S = 600
LONG_TESTS = {  # days of series, evaluated every 10 minutes
    "evaluation_interval": f"{STEP_S}s",
    # 30 h confident, then 2 h of predictions in (0.5, 0.9]; 600 per step. v2 stays confident throughout.
    "tests": [
        {"name": "the median confidence of one model version drops",
         "input_series": [*confidence("m:1", 180, 12, 600), *confidence("m:2", 192, 0, 600)],
         "alert_rule_test": [alert("ImgclfConfidenceDrift", "30h"),
                             alert("ImgclfConfidenceDrift", "32h", {"model": "m:1"})]},
        {"name": "a recurring job stops completing; a one-off job is never stale",
         "input_series": [
             # completed at 1 h, then at 25 h, then never again: stale once 26 h have passed since 25 h
             series("imgclf_batch_last_success_timestamp_seconds", 'job="nightly",instance=""', "3600x149 90000x300"),
             series("imgclf_batch_last_success_timestamp_seconds", 'job="oneoff",instance=""', "3600x450")],
         "alert_rule_test": [alert("ImgclfBatchJobStale", "50h"),
                             alert("ImgclfBatchJobStale", "60h", {"job": "nightly"})]},
    ],
}


def test_each_alert_fires_on_its_series_and_only_there(tmp_path: Path) -> None:
    """promtool test rules over a copy of the rules without annotations (their templates are checked by
    promtool check rules, and rendered by the integration test's firing alerts): the timing of `for:` is kept."""
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(rules_copy(load_rules(), annotations=False), sort_keys=False))
    tested = {case["alertname"] for suite in (SHORT_TESTS, LONG_TESTS) for test in suite["tests"]
              for case in test["alert_rule_test"]}
    assert tested == {rule["alert"] for rule in all_rules(load_rules()) if "alert" in rule}
    files = []
    for name, suite in {"short": SHORT_TESTS, "long": LONG_TESTS}.items():
        # A sample per evaluation: without `interval`, promtool 2.42 puts every input sample at time 0.
        tests = [{"interval": suite["evaluation_interval"], **test} for test in suite["tests"]]
        files.append(tmp_path / f"{name}_test.yml")
        files[-1].write_text(yaml.safe_dump({"rule_files": [str(rules)], **suite, "tests": tests}, sort_keys=False))
    done = promtool("test", "rules", *files)
    assert done.returncode == 0, done.stdout + done.stderr
