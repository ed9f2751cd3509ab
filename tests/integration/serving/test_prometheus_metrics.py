"""The serving metrics as an operator sees them: a real Prometheus, configured the documented way (file-based
service discovery over the file Ray writes in its session folder), scraping a real Serve deployment, and the
PromQL of docs/observability.md answering through Prometheus' HTTP API."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from utils.digits_run import VGG_MODEL, TrainedRun
from utils.prometheus import (
    api_get,
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
RAY_EXPORT_S = 10.0  # Ray's metrics_report_interval_ms
AT_REST_S = RAY_EXPORT_S + 5  # series unchanged this long: Ray has exported every request answered before
CLASSIFY = 'route="/v1/classify"'
LATENCY = "ray_imgclf_classify_latency_seconds"
CONFIDENCE = f'ray_imgclf_prediction_confidence_bucket{{model="{VGG_MODEL}:1"}}'
MODEL_INFO_SCRAPES = 40  # successful scrapes of the head the model info gauge must last through
HISTORY = "1h"  # a range over everything this module's Prometheus holds (its retention)

# The PromQL of docs/observability.md, verified here.
LATENCY_QUANTILE = ('histogram_quantile({q}, sum by (le) '
                    '(rate(ray_imgclf_classify_latency_seconds_bucket{{route="/v1/classify"}}[{window}])))')
ERROR_RATIO = ('sum(rate(ray_imgclf_requests_total{{route="/v1/classify",status=~"4..|5.."}}[{window}])) '
               '/ sum(rate(ray_imgclf_requests_total{{route="/v1/classify"}}[{window}]))')
SERVER_ERROR_RATIO = ('(sum(rate(ray_imgclf_requests_total{{route="/v1/classify",status=~"5.."}}[{window}])) '
                      'or vector(0)) / sum(rate(ray_imgclf_requests_total{{route="/v1/classify"}}[{window}]))')


@dataclass(frozen=True)
class Counts:
    """The cumulative counts Prometheus holds at one evaluation time: the classify route's latency histogram
    (cumulative count per bucket bound, +Inf: every request) and its sum, its requests by status, and the default
    model's confidence histogram."""

    at: float  # Prometheus' evaluation time, unix seconds
    latency: dict[float, float]
    latency_sum: float
    requests: dict[str, float]
    confidence: dict[float, float]

    def growth(self, later: Counts) -> Counts:
        """What was counted from this time to `later`'s."""
        def grown(before: dict, after: dict) -> dict:
            return {key: after[key] - before.get(key, 0.0) for key in after}

        return Counts(later.at, grown(self.latency, later.latency), later.latency_sum - self.latency_sum,
                      grown(self.requests, later.requests), grown(self.confidence, later.confidence))

    def same_counts(self, other: Counts) -> bool:
        return (self.latency, self.latency_sum, self.requests, self.confidence) == (
            other.latency, other.latency_sum, other.requests, other.confidence)


@dataclass(frozen=True)
class Traffic:
    good: int
    bad: dict[int, int]  # status -> requests answered with it
    round_trips_s: tuple[float, ...]  # each request's time from sending it to its whole answer, as the client saw
    confidences: tuple[float, ...]  # each good answer's top-1 score

    @property
    def requests(self) -> int:
        return self.good + sum(self.bad.values())


@dataclass(frozen=True)
class Counted:
    """The module's counted round of requests and what Prometheus counted from just before it to just after."""

    traffic: Counted
    before: Counts
    after: Counts

    @property
    def growth(self) -> Counts:
        return self.before.growth(self.after)


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


def timed_classify(app: ServeApp, round_trips_s: list[float], **request) -> httpx.Response:
    started = time.perf_counter()
    answer = classify(app, **request)
    round_trips_s.append(time.perf_counter() - started)
    return answer


def send(app: ServeApp, digit: Path, good: int) -> Traffic:
    """`good` classifications of a digit and one of each bad request, each timed; checks every answer's status."""
    round_trips_s: list[float] = []
    confidences = []
    for _ in range(good):
        answer = timed_classify(app, round_trips_s, content=digit.read_bytes(), headers={"content-type": "image/png"})
        assert answer.status_code == 200, answer.text
        confidences.append(answer.json()["score"])
    bad: dict[int, int] = {}
    for request, status in BAD_REQUESTS.values():
        answer = timed_classify(app, round_trips_s, **request)
        assert answer.status_code == status, answer.text
        bad[status] = bad.get(status, 0) + 1
    return Traffic(good, bad, tuple(round_trips_s), tuple(confidences))


def by_label(result: list[dict], label: str) -> dict[str, float]:
    return {sample["metric"].get(label, ""): float(sample["value"][1]) for sample in result}


def by_bound(result: list[dict]) -> dict[float, float]:
    return {float(bound): value for bound, value in by_label(result, "le").items()}


def counts(prom: str) -> Counts:
    """The Counts now, every query evaluated at the same time."""
    at = time.time()

    def instant(promql: str) -> list[dict]:
        return api_get(prom, "query", query=promql, time=f"{at:.3f}")["result"]

    return Counts(at, by_bound(instant(f"sum by (le) ({LATENCY}_bucket{{{CLASSIFY}}})")),
                  sum(values(instant(f"sum({LATENCY}_sum{{{CLASSIFY}}})"))),
                  by_label(instant(f"sum by (status) (ray_imgclf_requests_total{{{CLASSIFY}}})"), "status"),
                  by_bound(instant(f"sum by (le) ({CONFIDENCE})")))


def counts_at_rest(prom: str) -> Counts:
    """The Counts once they have not changed for AT_REST_S: everything answered before is in them."""
    deadline, last, since = time.monotonic() + METRICS_TIMEOUT_S, counts(prom), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(1)
        current = counts(prom)
        if not current.same_counts(last):
            last, since = current, time.monotonic()
        elif time.monotonic() - since >= AT_REST_S:
            return last
    raise TimeoutError(f"the classify route's counts kept changing for {METRICS_TIMEOUT_S:.0f} s: {last}")


def counts_with(prom: str, before: Counts, traffic: Counted) -> Counts:
    """The first Counts in which the latency histogram, the requests counter and the confidence histogram have each
    counted at least `traffic` since `before` (each replica exports on its own clock)."""
    deadline, current = time.monotonic() + METRICS_TIMEOUT_S, before
    while time.monotonic() < deadline:
        current = counts(prom)
        grown = before.growth(current)
        if (grown.latency.get(math.inf, 0) >= traffic.requests and sum(grown.requests.values()) >= traffic.requests
                and grown.confidence.get(math.inf, 0) >= traffic.good):
            return current
        time.sleep(1)
    raise TimeoutError(f"{traffic.requests} requests not counted in {METRICS_TIMEOUT_S:.0f} s: {before.growth(current)}")


@pytest.fixture(scope="module")
def traffic(served: ServeApp, prom: str, digit: Path) -> Counted:
    """Requests the metrics must show, sent in two rounds: `rate()` needs a series' samples from before an
    increase, so the first round makes every series exist in Prometheus; the second is counted from the counts at
    rest just before it to the first counts that hold it."""
    first = send(served, digit, 1)
    for status in (200, *first.bad):
        wait_for_query(prom, f'ray_imgclf_requests_total{{{CLASSIFY},status="{status}"}}', bool,
                       timeout_s=METRICS_TIMEOUT_S)
    before = counts_at_rest(prom)
    counted = send(served, digit, GOOD_REQUESTS)
    return Counted(counted, before, counts_with(prom, before, counted))


def send_recent(app: ServeApp, digit: Path) -> None:
    """A few more requests just before a query over a `rate()` window (1m, 5m): the window then holds traffic
    however long the tests before took."""
    send(app, digit, RECENT_REQUESTS)


def bucket_bound(bounds: list[float], seconds: float) -> float:
    """The upper bound of the histogram bucket `seconds` falls in."""
    return next(bound for bound in sorted(bounds) if seconds <= bound)


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


def test_raw_endpoint_exports_the_names_and_tags_we_chose(served: ServeApp, traffic: Counted) -> None:
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


def test_p99_latency_is_a_number_through_prometheus(served: ServeApp, prom: str, traffic: Counted,
                                                     digit: Path) -> None:
    send_recent(served, digit)
    promql = "histogram_quantile(0.99, sum(rate(ray_imgclf_classify_latency_seconds_bucket[1m])) by (le))"
    wait_for_query(prom, promql, is_finite_number, timeout_s=METRICS_TIMEOUT_S)


@pytest.mark.parametrize("window", ["1m", "5m"])
def test_the_documented_latency_quantiles_are_numbers(served: ServeApp, prom: str, traffic: Counted, digit: Path,
                                                      window: str) -> None:
    """The documented queries name series that exist (their values are checked on the counted round below)."""
    send_recent(served, digit)
    for q in (0.5, 0.95, 0.99):
        wait_for_query(prom, LATENCY_QUANTILE.format(q=q, window=window), is_finite_number,
                       timeout_s=METRICS_TIMEOUT_S)


def test_requests_are_counted_once_by_route_and_status(traffic: Counted) -> None:
    sent = {"200": traffic.traffic.good, **{str(status): count for status, count in traffic.traffic.bad.items()}}
    counted = {status: count for status, count in traffic.growth.requests.items() if count}
    assert counted == sent


def test_every_request_is_one_latency_observation(traffic: Counted) -> None:
    observed, sent = traffic.growth.latency[math.inf], traffic.traffic.requests
    assert observed == sent, f"{observed:.0f} latency observations of {sent} requests"


def test_no_request_is_slower_in_the_latency_histogram_than_the_client_saw(traffic: Counted) -> None:
    """The API measures each request inside the client's round trip: a bucket counts at least the requests whose
    round trip fit in it, and the sum is at most that of the round trips' bucket bounds (Ray exports a
    histogram's sum from its buckets, not from the observations)."""
    grown, round_trips = traffic.growth, traffic.traffic.round_trips_s
    for bound, count in grown.latency.items():
        within = sum(seconds <= bound for seconds in round_trips)
        assert count >= within, f"le={bound}: {count:.0f} observations, {within} round trips within it"
    most = sum(bucket_bound(list(grown.latency), seconds) for seconds in round_trips)
    assert grown.latency_sum <= most, f"sum {grown.latency_sum:.3f} s above {most:.3f} s"


@pytest.mark.parametrize("q", [0.5, 0.95, 0.99])
def test_latency_quantiles_are_at_most_the_bucket_of_the_clients(prom: str, traffic: Counted, q: float) -> None:
    """histogram_quantile over the counted round alone (the buckets at its end less those at its start) lies in
    or below the bucket of the client's own q-quantile round trip."""
    def buckets(at: float) -> str:
        return f"sum by (le) ({LATENCY}_bucket{{{CLASSIFY}}} @ {at:.3f})"

    [quantile] = values(query(prom, f"histogram_quantile({q}, {buckets(traffic.after.at)} - "
                                    f"{buckets(traffic.before.at)})"))
    round_trips = sorted(traffic.traffic.round_trips_s)
    clients = round_trips[math.ceil(q * len(round_trips)) - 1]
    bound = bucket_bound(list(traffic.growth.latency), clients)
    assert quantile <= bound, f"q{q}: {quantile:.3f} s, above {bound} s, the bucket of the client's {clients:.3f} s"


def test_error_ratios(served: ServeApp, prom: str, traffic: Counted, digit: Path) -> None:
    send_recent(served, digit)
    window = "5m"
    [errors] = wait_for_query(prom, ERROR_RATIO.format(window=window),
                              lambda r: is_finite_number(r) and values(r)[0] > 0, timeout_s=METRICS_TIMEOUT_S)
    assert 0 < float(errors["value"][1]) < 1
    [server_errors] = query(prom, SERVER_ERROR_RATIO.format(window=window))
    assert float(server_errors["value"][1]) == 0  # no 5xx series at all: `or vector(0)` keeps the ratio a number


def test_each_answers_confidence_is_counted_in_its_bucket(traffic: Counted) -> None:
    """The confidence histogram grew by exactly the top-1 scores of the round's answers, bucket by bucket."""
    confidences = traffic.traffic.confidences
    expected = {bound: sum(score <= bound for score in confidences) for bound in traffic.growth.confidence}
    assert traffic.growth.confidence == expected


def test_rays_batching_metrics_are_there(prom: str, traffic: Counted) -> None:
    for name in ("ray_serve_batch_execution_time_ms_count", "ray_serve_batch_wait_time_ms_count",
                 "ray_serve_actual_batch_size_count"):
        result = wait_for_query(prom, f'sum({name}{{deployment="Classifier"}})', bool, timeout_s=METRICS_TIMEOUT_S)
        assert values(result)[0] >= 1, name
    # No batch above max_batch_size (16 in serve_config.yaml). Not from `_sum`: Ray 2.60 exports a histogram's
    # sum as the sum of its observations' bucket midpoints, an approximation.
    batches = 'sum(ray_serve_actual_batch_size_count{deployment="Classifier"})'
    at_most_16 = f'sum(ray_serve_actual_batch_size_bucket{{deployment="Classifier",le="16.0"}}) == {batches}'
    assert query(prom, at_most_16), f"a batch above 16: {query(prom, 'ray_serve_actual_batch_size_bucket')}"


def test_model_info_gauge_stays_exported(served: ServeApp, prom: str, traffic: Counted) -> None:
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
