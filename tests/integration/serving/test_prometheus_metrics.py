"""The serving metrics as an operator sees them: a real Prometheus, configured the documented way (file-based
service discovery over the file Ray writes in its session folder), scraping a real Serve deployment, and the
PromQL of the README answering through Prometheus' HTTP API."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from utils.digits_run import VGG_MODEL, TrainedRun
from utils.prometheus import (
    is_finite_number,
    prometheus,
    query,
    ray_scrape_config,
    targets,
    values,
    wait_for_query,
)
from utils.serve_app import ServeApp

pytestmark = pytest.mark.slow

GOOD_REQUESTS = 30
RECENT_REQUESTS = 3  # good ones, with one of each bad request, just before a query over a short window
BAD_REQUESTS = {  # request -> the status the API answers
    "not an image": ({"content": b"hello", "headers": {"content-type": "image/png"}}, 415),
    "empty body": ({"content": b"", "headers": {"content-type": "image/png"}}, 400),
}
METRICS_TIMEOUT_S = 120.0  # Ray exports every 10 s, Prometheus scrapes every second; a slow CPU adds more
CLASSIFY = 'route="/v1/classify"'
MODEL_INFO_SCRAPES = 40  # successful scrapes of the head the model info gauge must last through
HISTORY = "1h"  # a range over everything this module's Prometheus holds (its retention)

# The PromQL of the README, verified here.
LATENCY_QUANTILE = ('histogram_quantile({q}, sum by (le) '
                    '(rate(ray_imgclf_classify_latency_seconds_bucket{{route="/v1/classify"}}[{window}])))')
ERROR_RATIO = ('sum(rate(ray_imgclf_requests_total{{route="/v1/classify",status=~"4..|5.."}}[{window}])) '
               '/ sum(rate(ray_imgclf_requests_total{{route="/v1/classify"}}[{window}]))')
SERVER_ERROR_RATIO = ('(sum(rate(ray_imgclf_requests_total{{route="/v1/classify",status=~"5.."}}[{window}])) '
                      'or vector(0)) / sum(rate(ray_imgclf_requests_total{{route="/v1/classify"}}[{window}]))')


@dataclass(frozen=True)
class Traffic:
    good: int
    bad: dict[int, int]  # status -> requests answered with it


@pytest.fixture(scope="module")
def digit(trained_run: TrainedRun) -> Path:
    return sorted((trained_run.data_dir / "7").glob("*.png"))[0]


@pytest.fixture(scope="module")
def prom(served: ServeApp) -> Iterator[str]:
    """A Prometheus scraping every second whatever Ray's service-discovery file names for this head."""
    with prometheus(ray_scrape_config(served.head.temp_dir), scrape_interval="1s") as url:
        yield url


def classify(app: ServeApp, **request) -> httpx.Response:
    return httpx.post(f"{app.url}/v1/classify", timeout=60, **request)


def send(app: ServeApp, digit: Path, good: int) -> Traffic:
    """`good` classifications of a digit and one of each bad request; checks every answer's status."""
    for _ in range(good):
        answer = classify(app, content=digit.read_bytes(), headers={"content-type": "image/png"})
        assert answer.status_code == 200, answer.text
    bad: dict[int, int] = {}
    for request, status in BAD_REQUESTS.values():
        answer = classify(app, **request)
        assert answer.status_code == status, answer.text
        bad[status] = bad.get(status, 0) + 1
    return Traffic(good, bad)


@pytest.fixture(scope="module")
def traffic(served: ServeApp, prom: str, digit: Path) -> Traffic:
    """Requests the metrics must show, sent in two rounds: `rate()` needs a series' samples from before an
    increase, so the first round makes every series exist in Prometheus before the second is counted."""
    first = send(served, digit, 1)
    for status in (200, *first.bad):
        wait_for_query(prom, f'ray_imgclf_requests_total{{{CLASSIFY},status="{status}"}}', bool,
                       timeout_s=METRICS_TIMEOUT_S)
    second = send(served, digit, GOOD_REQUESTS)
    return Traffic(first.good + second.good, {s: first.bad[s] + second.bad[s] for s in first.bad})


def send_recent(app: ServeApp, digit: Path) -> None:
    """A few more requests just before a query over a `rate()` window (1m, 5m): the window then holds traffic
    however long the tests before took. Counts only grow, so every `>= traffic` check still holds."""
    send(app, digit, RECENT_REQUESTS)


def raw_samples(head_metrics_port: int) -> list:
    text = httpx.get(f"http://127.0.0.1:{head_metrics_port}/metrics", timeout=30).text
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def test_ray_writes_the_service_discovery_file_its_prometheus_config_names(served: ServeApp, prom: str) -> None:
    session = (served.head.temp_dir / "session_latest").resolve()
    sd_file = session / "prom_metrics_service_discovery.json"
    assert sd_file.is_file()
    assert str(sd_file) in (session / "metrics" / "prometheus" / "prometheus.yml").read_text()
    deadline = time.monotonic() + METRICS_TIMEOUT_S
    while time.monotonic() < deadline:
        found = {t["scrapeUrl"]: t for t in targets(prom)}
        ours = [t for url, t in found.items() if url.endswith(f":{served.head.metrics_port}/metrics")]
        if ours and ours[0]["health"] == "up":
            return
        time.sleep(1)
    pytest.fail(f"Prometheus never scraped the head's metrics port {served.head.metrics_port}: {found}")


def test_raw_endpoint_exports_the_names_and_tags_we_chose(served: ServeApp, traffic: Traffic) -> None:
    """Ray prefixes our metric names with `ray_` and adds `_total` to counters; our tags come through as is."""
    wanted = {
        "ray_imgclf_classify_latency_seconds_bucket": {"route": "/v1/classify"},
        "ray_imgclf_requests_total": {"route": "/v1/classify", "status": "200"},
        "ray_imgclf_prediction_confidence_count": {"model": f"{VGG_MODEL}:1"},
        "ray_serve_batch_execution_time_ms_count": {"deployment": "Classifier", "function_name": "classify_batch"},
    }
    deadline, missing = time.monotonic() + METRICS_TIMEOUT_S, wanted
    while missing and time.monotonic() < deadline:
        samples = raw_samples(served.head.metrics_port)
        missing = {name: tags for name, tags in wanted.items()
                   if not any(s.name == name and tags.items() <= s.labels.items() for s in samples)}
        time.sleep(1)
    assert not missing, f"not on http://127.0.0.1:{served.head.metrics_port}/metrics: {missing}"


def test_p99_latency_is_a_number_through_prometheus(served: ServeApp, prom: str, traffic: Traffic,
                                                     digit: Path) -> None:
    send_recent(served, digit)
    promql = "histogram_quantile(0.99, sum(rate(ray_imgclf_classify_latency_seconds_bucket[1m])) by (le))"
    [sample] = wait_for_query(prom, promql, is_finite_number, timeout_s=METRICS_TIMEOUT_S)
    assert 0 < float(sample["value"][1]) <= 60


@pytest.mark.parametrize("window", ["1m", "5m"])
def test_latency_quantiles_of_classify(served: ServeApp, prom: str, traffic: Traffic, digit: Path,
                                       window: str) -> None:
    send_recent(served, digit)
    p50, p95, p99 = (
        values(wait_for_query(prom, LATENCY_QUANTILE.format(q=q, window=window), is_finite_number,
                              timeout_s=METRICS_TIMEOUT_S))[0]
        for q in (0.5, 0.95, 0.99)
    )
    assert 0 < p50 <= p95 <= p99 <= 60


def test_requests_are_counted_by_route_and_status(prom: str, traffic: Traffic) -> None:
    wait_for_query(prom, f'sum(ray_imgclf_requests_total{{{CLASSIFY},status="200"}}) >= {traffic.good}', bool,
                   timeout_s=METRICS_TIMEOUT_S)
    for status, sent in traffic.bad.items():  # sent after the good ones: maybe in a later export of Ray's
        wait_for_query(prom, f'sum(ray_imgclf_requests_total{{{CLASSIFY},status="{status}"}}) >= {sent}', bool,
                       timeout_s=METRICS_TIMEOUT_S)
    by_status = query(prom, f'sum by (status) (ray_imgclf_requests_total{{{CLASSIFY}}})')
    statuses = {sample["metric"]["status"] for sample in by_status}
    assert {"200", *map(str, traffic.bad)} <= statuses
    assert any(status.startswith("4") for status in statuses)


def test_error_ratios(served: ServeApp, prom: str, traffic: Traffic, digit: Path) -> None:
    send_recent(served, digit)
    window = "5m"
    [errors] = wait_for_query(prom, ERROR_RATIO.format(window=window),
                              lambda r: is_finite_number(r) and values(r)[0] > 0, timeout_s=METRICS_TIMEOUT_S)
    assert 0 < float(errors["value"][1]) < 1
    [server_errors] = query(prom, SERVER_ERROR_RATIO.format(window=window))
    assert float(server_errors["value"][1]) == 0  # no 5xx series at all: `or vector(0)` keeps the ratio a number


def test_prediction_confidence_is_recorded(prom: str, traffic: Traffic) -> None:
    counted = f'sum(ray_imgclf_prediction_confidence_count{{model="{VGG_MODEL}:1"}}) >= {traffic.good}'
    wait_for_query(prom, counted, bool, timeout_s=METRICS_TIMEOUT_S)
    [median] = query(prom, 'histogram_quantile(0.5, sum by (le) (ray_imgclf_prediction_confidence_bucket))')
    assert 0 < float(median["value"][1]) <= 1


def test_rays_batching_metrics_are_there(prom: str, traffic: Traffic) -> None:
    for name in ("ray_serve_batch_execution_time_ms_count", "ray_serve_batch_wait_time_ms_count",
                 "ray_serve_actual_batch_size_count"):
        result = wait_for_query(prom, f'sum({name}{{deployment="Classifier"}})', bool, timeout_s=METRICS_TIMEOUT_S)
        assert values(result)[0] >= 1, name
    # No batch above max_batch_size (16 in serve_config.yaml). Not from `_sum`: Ray 2.60 exports a histogram's
    # sum as the sum of its observations' bucket midpoints, an approximation.
    batches = 'sum(ray_serve_actual_batch_size_count{deployment="Classifier"})'
    at_most_16 = f'sum(ray_serve_actual_batch_size_bucket{{deployment="Classifier",le="16.0"}}) == {batches}'
    assert query(prom, at_most_16), f"a batch above 16: {query(prom, 'ray_serve_actual_batch_size_bucket')}"


def test_model_info_gauge_stays_exported(served: ServeApp, prom: str, traffic: Traffic) -> None:
    """`ray_imgclf_model_info{name, version} == 1` as long as the model is served, not only just after loading it:
    once Prometheus (started after the app was ready) has scraped the head MODEL_INFO_SCRAPES times, the gauge is
    in a scrape of the last 30 s and in at least half of all successful scrapes (Ray's own gauges miss one now and then).
    Counted in scrapes that happened, not per wall-clock window: a busy CPU makes scrapes late or fail."""
    head = f'up{{job="ray",instance=~".*:{served.head.metrics_port}"}}'
    info = f'ray_imgclf_model_info{{name="{VGG_MODEL}",version="1"}}'
    wait_for_query(prom, f"sum_over_time({head}[{HISTORY}]) >= {MODEL_INFO_SCRAPES}", bool,
                   timeout_s=MODEL_INFO_SCRAPES * 5)
    wait_for_query(prom, f"max(max_over_time({info}[30s])) == 1", bool, timeout_s=METRICS_TIMEOUT_S)
    [seen] = values(query(prom, f"max(count_over_time({info}[{HISTORY}]))"))
    [scrapes] = values(query(prom, f"max(sum_over_time({head}[{HISTORY}]))"))
    assert seen >= scrapes / 2, f"{info} was in {seen:.0f} of {scrapes:.0f} successful scrapes of the head"
