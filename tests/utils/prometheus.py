"""A real Prometheus server on a free loopback port, scraping what a test names; stopped by its own pid.

`ray_scrape_config(head.temp_dir)` is the documented way to scrape a Ray cluster: Prometheus' file-based
service discovery over the `prom_metrics_service_discovery.json` that Ray writes in its session folder.
`prometheus(..., rule_files=[path])` loads recording and alerting rules; `rules()`, `alerting_rule()` and `alerts()`
read them back.
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import yaml

from utils.system_binaries import running_server

POLL_S = 1.0
RAY_SD_FILE = "prom_metrics_service_discovery.json"


def ray_scrape_config(head_temp_dir: str | Path, *, job_name: str = "ray") -> dict[str, Any]:
    """A scrape config for every node of a Ray cluster, through the service-discovery file Ray keeps current.

    The file is named through the real session folder (not the `session_latest` link), as Ray's own
    `session_latest/metrics/prometheus/prometheus.yml` does, so Prometheus watches the file Ray rewrites.
    """
    sd_file = (Path(head_temp_dir) / "session_latest").resolve() / RAY_SD_FILE
    return {"job_name": job_name, "file_sd_configs": [{"files": [str(sd_file)], "refresh_interval": "5s"}]}


def static_scrape_config(targets: list[str], *, job_name: str = "static") -> dict[str, Any]:
    """A scrape config for fixed `host:port` targets."""
    return {"job_name": job_name, "static_configs": [{"targets": list(targets)}]}


@contextlib.contextmanager
def prometheus(*scrape_configs: dict[str, Any], scrape_interval: str = "1s",
               rule_files: Sequence[str | Path] = ()) -> Iterator[str]:
    """Start `prometheus` with these scrape configs, `rule_files` (evaluated every `scrape_interval`) and its own
    storage folder, wait until it is ready, yield its URL (http://127.0.0.1:PORT), and stop it after."""
    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval,
                   "scrape_timeout": scrape_interval},
        **({"rule_files": [str(Path(path).resolve()) for path in rule_files]} if rule_files else {}),
        "scrape_configs": list(scrape_configs),
    }
    with tempfile.TemporaryDirectory(prefix="imgclf-prometheus-") as folder:
        config_file = Path(folder) / "prometheus.yml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))

        def options(address: str) -> list[str]:
            return [f"--config.file={config_file}", f"--storage.tsdb.path={Path(folder) / 'data'}",
                    f"--web.listen-address={address}", "--storage.tsdb.retention.time=1h", "--log.level=warn"]

        with running_server("prometheus", "prometheus", options) as url:
            yield url


def api_get(url: str, endpoint: str, **params: str) -> Any:
    """The `data` of a Prometheus HTTP API answer (GET {url}/api/v1/{endpoint}); raises on an error answer."""
    query_string = urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(f"{url}/api/v1/{endpoint}?{query_string}", timeout=10.0) as answer:
            body = json.load(answer)
    except urllib.error.HTTPError as exc:  # 400/422 for a bad query: the body says why
        body = json.loads(exc.read() or b"{}")
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus {endpoint} {params} failed: {body.get('errorType')}: {body.get('error')}")
    return body["data"]


def query(url: str, promql: str) -> list[dict[str, Any]]:
    """The result vector of an instant PromQL query: [{"metric": {label: value}, "value": [time, "number"]}]."""
    data = api_get(url, "query", query=promql)
    if data["resultType"] != "vector":
        raise RuntimeError(f"{promql!r} gave a {data['resultType']}, not an instant vector")
    return data["result"]


def values(result: list[dict[str, Any]]) -> list[float]:
    """The numbers of a query result vector."""
    return [float(sample["value"][1]) for sample in result]


def is_finite_number(result: list[dict[str, Any]]) -> bool:
    """True when the result holds exactly one sample and its value is a finite number (not NaN, not ±Inf)."""
    return len(result) == 1 and math.isfinite(values(result)[0])


def wait_for_query(url: str, promql: str, until: Callable[[list[dict[str, Any]]], bool], *,
                   timeout_s: float = 90.0) -> list[dict[str, Any]]:
    """Poll an instant query until `until(result)` holds; its result, or TimeoutError naming the last one."""
    deadline, last = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        last = query(url, promql)
        if until(last):
            return last
        time.sleep(POLL_S)
    raise TimeoutError(f"{promql!r} did not reach the expected result in {timeout_s:.0f} s; last: {last}")


def targets(url: str) -> list[dict[str, Any]]:
    """The active scrape targets with their health and last error."""
    return api_get(url, "targets", state="active")["activeTargets"]


def rules(url: str) -> list[dict[str, Any]]:
    """Every rule Prometheus loaded, groups flattened: {"name", "type" (recording | alerting), "query", "health"
    (ok | err | unknown before its first evaluation), "lastError", "state" and "alerts" for alerting rules}."""
    return [rule for group in api_get(url, "rules")["groups"] for rule in group["rules"]]


def alerting_rule(url: str, name: str) -> tuple[dict[str, Any], float]:
    """The alerting rule `name` as Prometheus loaded it from its rules file ({"duration": its `for:` in seconds,
    "state", "health", "lastEvaluation", ...}) and its group's evaluation interval in seconds."""
    for group in api_get(url, "rules", type="alert")["groups"]:
        for rule in group["rules"]:
            if rule["name"] == name:
                return rule, float(group["interval"])
    raise KeyError(f"Prometheus has loaded no alerting rule {name}")


def wait_for_evaluation(url: str, name: str, *, after: float, timeout_s: float = 90.0) -> float:
    """Poll until the alerting rule `name` has been evaluated at a time (unix seconds) at or after `after`; that
    time, or TimeoutError."""
    deadline, last = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        rule, _ = alerting_rule(url, name)
        last = rule.get("lastEvaluation")
        evaluated_at = datetime.fromisoformat(last).timestamp() if last else 0.0
        if evaluated_at >= after:
            return evaluated_at
        time.sleep(POLL_S)
    raise TimeoutError(f"rule {name} not evaluated at or after {after:.3f} within {timeout_s:.0f} s; last: {last}")


def alerts(url: str) -> list[dict[str, Any]]:
    """The active alerts: {"labels": {"alertname", ...}, "state" (pending | firing), "value", "annotations"}."""
    return api_get(url, "alerts")["alerts"]


def wait_for_alert(url: str, name: str, *, state: str = "firing", timeout_s: float = 90.0,
                   between: Callable[[], object] = lambda: None) -> dict[str, Any]:
    """Poll until an alert `name` is in `state`; it, or TimeoutError naming the active alerts last seen.
    `between()` runs before each poll (e.g. to keep sending the traffic that provokes the alert)."""
    deadline, last = time.monotonic() + timeout_s, []
    while time.monotonic() < deadline:
        between()
        last = alerts(url)
        found = [alert for alert in last if alert["labels"].get("alertname") == name and alert["state"] == state]
        if found:
            return found[0]
        time.sleep(POLL_S)
    active = [(alert["labels"].get("alertname"), alert["state"]) for alert in last]
    raise TimeoutError(f"alert {name} was not {state} within {timeout_s:.0f} s; active alerts: {active}")
