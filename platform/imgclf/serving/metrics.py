"""The API's own Prometheus metrics (Ray exports them prefixed `ray_` on its metrics port; Ray's Serve metrics,
batching included, are not repeated here)."""

from __future__ import annotations

import re
from functools import cache

from ray.serve import metrics

# Seconds; fine below 100 ms where a small model answers, coarse up to a minute for big batches on CPUs.
LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60]
API_ROUTES = ("/v1/classify", "/v1/models", "/healthz", "/readyz", "/docs", "/openapi.json", "/v2",
              "/v2/health/live", "/v2/health/ready")
# The inference protocol's model routes, versions folded in: /v2/models/{name}[/versions/{v}][/ready|/infer].
MODEL_ROUTE = re.compile(r"^/v2/models/[^/]+(?:/versions/[^/]+)?(/ready|/infer)?$")


def route_of(path: str) -> str:
    """A bounded label for a request path: the API route (model names and versions as placeholders), `/ui` for
    the page, else `other`."""
    if path in API_ROUTES:
        return path
    if model_route := MODEL_ROUTE.match(path):
        return "/v2/models/{name}" + (model_route.group(1) or "")
    return "/ui" if path == "/ui" or path.startswith("/ui/") else "other"


class ApiMetrics:
    def __init__(self) -> None:
        self.latency = metrics.Histogram(
            "imgclf_classify_latency_seconds", description="End-to-end request latency in the API ingress.",
            boundaries=LATENCY_BUCKETS, tag_keys=("route",),
        )
        self.requests = metrics.Counter(
            "imgclf_requests", description="Requests answered, by route and HTTP status.", tag_keys=("route", "status"),
        )

    def record(self, route: str, status: int, seconds: float) -> None:
        self.latency.observe(seconds, tags={"route": route})
        self.requests.inc(tags={"route": route, "status": str(status)})


@cache
def api_metrics() -> ApiMetrics:
    """One set of metric objects per replica process, made on first use inside the replica."""
    return ApiMetrics()
