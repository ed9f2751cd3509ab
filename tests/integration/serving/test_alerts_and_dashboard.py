"""imgclf's Prometheus rules and Grafana dashboard against the running app: a real Prometheus loads a test copy of
the rules (every `for:` 0s, 5-minute windows 1 minute, the SLO 1 ms), scrapes the session's Serve app, and
the alerts fire on the traffic that should fire them; every rule and every dashboard query runs without error."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import httpx
import pytest
import yaml

from imgclf.observability import SLO_RECORD, load_dashboard, load_rules
from utils.digits_run import TrainedRun
from utils.monitoring import panel_queries, rules_copy, runnable
from utils.prometheus import (
    alerting_rule,
    prometheus,
    query,
    ray_scrape_config,
    rules,
    wait_for_alert,
    wait_for_evaluation,
    wait_for_query,
)
from utils.serve_app import ServeApp

pytestmark = pytest.mark.slow

ALERT_TIMEOUT_S = 180.0  # Ray exports every 10 s, a new series needs a scrape before its increase counts; busy CPUs
TEST_SLO = "vector(0.001)"  # 1 ms, below the lowest latency bucket (5 ms): any classification is slower
NOT_AN_IMAGE = {"content": b"hello", "headers": {"content-type": "image/png"}}  # answered 415
BURST = 5  # requests sent before each poll for an alert
NO_READY = "ImgclfNoReadyClassifier"


@pytest.fixture(scope="module")
def digit(trained_run: TrainedRun) -> Path:
    return sorted((trained_run.data_dir / "7").glob("*.png"))[0]


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped rules, made to fire at once: only `for:`, windows and the SLO's one recording rule changed."""
    copy = rules_copy(load_rules(), for_="0s", windows={"5m": "1m"}, records={SLO_RECORD: TEST_SLO})
    path = tmp_path_factory.mktemp("rules") / "rules.yml"
    path.write_text(yaml.safe_dump(copy, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def prom(served: ServeApp, rules_file: Path) -> Iterator[str]:
    """A Prometheus scraping the session's app every second and evaluating the test rules as often."""
    with prometheus(ray_scrape_config(served.head.temp_dir), scrape_interval="1s", rule_files=[rules_file]) as url:
        yield url


def classify(app: ServeApp, status: int, **request) -> None:
    answer = httpx.post(f"{app.url}/v1/classify", timeout=60, **request)
    assert answer.status_code == status, answer.text


def good(app: ServeApp, digit: Path) -> None:
    classify(app, 200, content=digit.read_bytes(), headers={"content-type": "image/png"})


def assert_rendered(alert: dict, *fragments: str) -> None:
    """The alert's annotations are filled in: no template error, no missing value, the given text present."""
    text = alert["annotations"]["summary"] + " " + alert["annotations"]["description"]
    assert "<error expanding template" not in text and "<no value>" not in text, text
    for fragment in fragments:
        assert fragment in text, text


def test_a_burst_of_non_images_fires_the_client_error_alert(served: ServeApp, prom: str) -> None:
    def burst() -> None:
        for _ in range(BURST):
            classify(served, 415, **NOT_AN_IMAGE)

    alert = wait_for_alert(prom, "ImgclfClientErrorRatioHigh", timeout_s=ALERT_TIMEOUT_S, between=burst)
    assert alert["labels"]["route"] == "/v1/classify" and alert["labels"]["severity"] == "warning"
    assert float(alert["value"]) > 0.5
    assert_rendered(alert, "/v1/classify", "4xx")


def test_latency_above_the_slo_fires_and_names_it(served: ServeApp, prom: str, digit: Path) -> None:
    """With the SLO's one recording rule at 1 ms, real classifications are above it: the alert compares with that
    series and its description reads the SLO from it."""
    alert = wait_for_alert(prom, "ImgclfClassifyLatencyAboveSLO", timeout_s=ALERT_TIMEOUT_S,
                           between=lambda: [good(served, digit) for _ in range(BURST)])
    assert alert["labels"]["route"] == "/v1/classify"
    assert_rendered(alert, "/v1/classify", "above the SLO of 1ms")


def test_a_healthy_classifier_replica_is_seen_and_the_no_replica_alert_stays_silent(prom: str) -> None:
    """Never pending nor firing at any evaluation from the moment the healthy replica is seen until a whole window
    later: the rule's `for:` plus its group's evaluation interval, as Prometheus loaded them from the rules file.
    Had the rule's condition held, the alert would be firing by the window's end."""
    [healthy] = wait_for_query(prom, 'sum(ray_serve_deployment_replica_healthy{deployment="Classifier"}) >= 1',
                               bool, timeout_s=ALERT_TIMEOUT_S)
    seen_at = float(healthy["value"][0])
    rule, interval_s = alerting_rule(prom, NO_READY)
    window_s = rule["duration"] + interval_s
    evaluated_at = wait_for_evaluation(prom, NO_READY, after=seen_at + window_s, timeout_s=ALERT_TIMEOUT_S + window_s)
    since_seen = f"{int((evaluated_at - seen_at) * 1000)}ms"
    active = query(prom, f'count_over_time(ALERTS{{alertname="{NO_READY}"}}[{since_seen}] @ {evaluated_at:.3f})')
    assert not active, f"{NO_READY} was pending or firing after the healthy replica was seen: {active}"


def test_every_rule_evaluates_without_error(served: ServeApp, prom: str, digit: Path) -> None:
    """Evaluated over real series (e.g. no many-to-many matching between the recorded ratios)."""
    good(served, digit)
    wait_for_query(prom, "imgclf:requests:ratio_rate5m", bool, timeout_s=ALERT_TIMEOUT_S)
    loaded = rules(prom)
    assert len(loaded) == sum(len(group["rules"]) for group in load_rules()["groups"])
    failing = {rule["name"]: rule.get("lastError") for rule in loaded if rule["health"] != "ok"}
    assert not failing, failing


def test_every_dashboard_query_runs_and_the_serve_panels_have_data(served: ServeApp, prom: str,
                                                                    digit: Path) -> None:
    queries = list(panel_queries(load_dashboard()))
    for title, expr in queries:
        query(prom, runnable(expr))  # raises with Prometheus' error for a query it refuses
    # Every Ray metric a panel reads exists: the names are Ray's, not guessed (batch jobs' come from a Pushgateway).
    names = sorted({name for _, expr in queries for name in re.findall(r"\b(ray_[a-z_]+)", expr)})
    assert len(names) >= 10, names
    for name in names:
        good(served, digit)
        wait_for_query(prom, f"count({name})", bool, timeout_s=ALERT_TIMEOUT_S)
