"""The API's own Prometheus metrics (Ray exports them prefixed `ray_` on its metrics port; Ray's Serve metrics,
batching included, are not repeated here). Routes are labelled by their template (`/v2/models/{name}/infer`)."""

from __future__ import annotations

from functools import cache

from ray.serve import metrics

# Seconds; fine below 100 ms where a small model answers, coarse up to a minute for big batches on CPUs.
LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60]


class ApiMetrics:
    """Latency and answers by route, and by the model and version that answered (empty when none did)."""

    def __init__(self) -> None:
        self.latency = metrics.Histogram(
            "imgclf_classify_latency_seconds", description="End-to-end request latency in the API ingress.",
            boundaries=LATENCY_BUCKETS, tag_keys=("route", "name", "version"),
        )
        self.requests = metrics.Counter(
            "imgclf_requests", description="Requests answered, by route, HTTP status and the version that answered.",
            tag_keys=("route", "status", "name", "version"),
        )

    def record(self, route: str, status: int, seconds: float, name: str = "", version: str = "") -> None:
        answered_by = {"name": name, "version": version}
        self.latency.observe(seconds, tags={"route": route, **answered_by})
        self.requests.inc(tags={"route": route, "status": str(status), **answered_by})


@cache
def api_metrics() -> ApiMetrics:
    """One set of metric objects per replica process, made on first use inside the replica."""
    return ApiMetrics()
