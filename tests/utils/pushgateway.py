"""A real Prometheus Pushgateway on a free loopback port, for tests of pushed metrics, and what it holds."""

from __future__ import annotations

import contextlib
import urllib.request
from typing import Iterator

from prometheus_client.parser import text_string_to_metric_families

from utils.system_binaries import running_server

READ_TIMEOUT_S = 30.0  # a loopback answer on a busy core: a bound on a hang, not a speed requirement


@contextlib.contextmanager
def pushgateway() -> Iterator[str]:
    """Start `prometheus-pushgateway` with its groups in memory only, wait until it is ready, yield its URL, and
    stop it after. Debian's build persists groups to /var/lib/prometheus/pushgateway.data by default and loads
    them at start: every gateway would begin with the groups the previous one held."""
    with running_server("prometheus-pushgateway", "prometheus-pushgateway",
                        lambda address: [f"--web.listen-address={address}", "--persistence.file="]) as url:
        yield url


def pushed(url: str, job: str) -> dict[str, tuple[float, dict[str, str]]]:
    """The imgclf batch samples the gateway exposes for `job`: name -> (value, labels)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=READ_TIMEOUT_S) as response:
        text = response.read().decode()
    return {
        sample.name: (sample.value, sample.labels)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("imgclf_batch_") and sample.labels.get("job") == job
    }
