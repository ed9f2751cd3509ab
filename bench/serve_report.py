"""The serve section's figures against its targets: the medians over rounds, the targets met, the hop comparison,
and one line of explanation per missed target."""

from __future__ import annotations

import statistics
from typing import Any

from bench.serve_deployment import BATCH_SIZE

TARGET_BATCHING_SPEEDUP = 2.0
TARGET_SERVE_OVER_BARE = 0.65
TARGET_MAX_LATENCY_OVERHEAD_MS = 10.0
# The hop comparison: the shipped layout (proxy → Api → Classifier) against the HTTP app on the model deployment
# itself (proxy → Classifier; bench.one_hop), both batched, measured in the same rounds; and Serve's direct ingress.
LAYOUTS = {"two_hops": "proxy → Api → Classifier (shipped)", "one_hop": "proxy → Classifier with the HTTP app",
           "direct_ingress": "Api (direct ingress, own port) → Classifier"}


def median_of(rounds: list[dict[str, Any]], key: str) -> float | None:
    values = [entry[key] for entry in rounds if entry[key] is not None]
    return statistics.median(values) if values else None


def meets_targets(batching_speedup: float | None, serve_over_bare: float | None, overhead_ms: float | None,
                  runs: dict[str, dict[str, Any]]) -> dict[str, bool]:
    """Each target met or not (a figure that could not be taken misses its target), and no run saw a non-200."""
    return {
        "batching_speedup": batching_speedup is not None and batching_speedup >= TARGET_BATCHING_SPEEDUP,
        "serve_over_bare": serve_over_bare is not None and serve_over_bare >= TARGET_SERVE_OVER_BARE,
        "latency_overhead_ms": overhead_ms is not None and overhead_ms <= TARGET_MAX_LATENCY_OVERHEAD_MS,
        "no_non_200": all(run["non_200"] == 0 for run in runs.values()),
    }


def hop_comparison(measured: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each layout's median-round latency overhead and serve ÷ bare, with its CPU per c32 request by process
    (direct ingress: its one window against the median bare figures)."""
    rounds, runs = measured["rounds"], measured["runs"]
    bare, direct = measured["bare_model"], measured["direct_ingress"]
    direct_c1 = direct["c1"]["p50_ms"]
    return {
        layout: {
            "layout": LAYOUTS[layout],
            "latency_overhead_c1_ms": median_of(rounds, f"{prefix}latency_overhead_ms"),
            "serve_over_bare_c32": median_of(rounds, f"{prefix}serve_over_bare"),
            "c1_p50_ms": runs[f"c1{suffix}"]["p50_ms"],
            "c32_rps": runs[f"c32{suffix}"]["throughput_rps"],
            "cpu_ms_per_c32_request": runs[f"c32{suffix}"].get("cpu_ms_per_request"),
        }
        for layout, prefix, suffix in (("two_hops", "", ""), ("one_hop", "one_hop_", "_one_hop"))
    } | {
        "direct_ingress": {
            "layout": LAYOUTS["direct_ingress"],
            "latency_overhead_c1_ms": None if direct_c1 is None else direct_c1 - bare["single_latency_ms"],
            "serve_over_bare_c32": direct["c32"]["throughput_rps"] / bare[f"batch{BATCH_SIZE}_images_per_s"],
            "c1_p50_ms": direct_c1,
            "c32_rps": direct["c32"]["throughput_rps"],
            "cpu_ms_per_c32_request": direct["c32"].get("cpu_ms_per_request"),
            "listens_on": direct["listens_on"],
        }
    }


def explain(result: dict[str, Any]) -> list[str]:
    """One line per missed target: why, with the CPU time each part took (steadier than wall-clock ratios on a
    shared machine); and the spread of the per-round ratios."""
    meets, lines, bare, batch = result["meets"], [], result["bare_model"], result["max_batch_size"]
    single_cpu, batched_cpu = bare["single_cpu_ms"], bare[f"batch{batch}_cpu_ms_per_image"]
    cpu = {kind: run.get("cpu_ms_per_request", {}) for kind, run in result["runs"].items()}

    def ms(kind: str, name: str) -> str:
        value = cpu[kind].get(name)
        return "n/a" if value is None else f"{value:.0f} ms"

    if not meets["batching_speedup"]:
        lines.append(
            f"batching speed-up: the bare model takes {single_cpu:.0f} ms of CPU for one image and "
            f"{batched_cpu:.0f} ms per image in batches of {batch}, so batching can save at most "
            f"{single_cpu / batched_cpu:.2f}× of the model's work at this size (a VGG16 forward pass on CPU is "
            "compute-bound: batching only saves per-call overhead); the Classifier replica spent "
            f"{ms('c32', 'classifier')} of CPU per request batched and {ms('c32_unbatched', 'classifier')} "
            "unbatched, and the rest of the path (proxy, Api) is per request whatever the batch."
        )
    if not meets["serve_over_bare"]:
        lines.append(
            f"serve ÷ bare: per request at c32 the Classifier spent {ms('c32', 'classifier')} of CPU (bare batched "
            f"model: {batched_cpu:.0f} ms per image), the Api {ms('c32', 'api')}, the proxy {ms('c32', 'proxy')}, "
            f"the load generator {ms('c32', 'load_generator')}, all on the same 2 CPUs as the model, plus Ray's "
            f"background (GCS, raylet, dashboard, controller: {ms('c32', 'ray_other')} per request at this rate). "
            "The smaller the model's per-image work, the larger that share."
        )
    if not meets["latency_overhead_ms"]:
        path = sum(cpu["c1"].get(name, 0.0) for name in ("classifier", "api", "proxy", "load_generator"))
        lines.append(
            f"latency overhead: at concurrency 1 a request waits batch_wait_timeout_s "
            f"({result['batch_wait_timeout_s'] * 1000:.0f} ms) for batch-mates that never come, then pays HTTP, "
            f"two Serve hops and JPEG decoding: {path - single_cpu:.0f} ms of CPU per request beyond the bare "
            "model's on its path (proxy, Api, Classifier, client), each hop waiting for a CPU on a loaded machine."
        )
    if not meets["no_non_200"]:
        lines.append("some requests did not get a 200: see each run's `statuses`.")
    spreads = []
    for key, label, digits in (("batching_speedup", "batching speed-up", 2), ("serve_over_bare", "serve ÷ bare", 2),
                               ("latency_overhead_ms", "latency overhead ms", 0)):
        values = [entry[key] for entry in result["rounds"] if entry[key] is not None]
        if len(values) > 1:
            spreads.append(f"{label} {min(values):.{digits}f} to {max(values):.{digits}f}")
    if spreads:
        lines.append("per-round range (the machine's other load drifts between rounds): " + "; ".join(spreads) + ".")
    return lines


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
