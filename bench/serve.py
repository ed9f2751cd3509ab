"""`serve` section: the HTTP service of serve_config.yaml under load, against the bare model in this process.

serve_config.yaml is deployed with `serve deploy` on a Ray head of this section's own (`start_head(num_cpus=2)`,
stopped by pid), with only what a benchmark must change: a free HTTP port, a random-weight VGG16 artifact in a
registry under the bench folder, the Classifier pinned to one replica (no autoscaling, so the numbers are
stable), `max_ongoing_requests` twice the batch size (the next batch queues in the replica while one runs) and
a queue deep enough that the load never gets 503s. A load generator in this process (`httpx.AsyncClient`,
N workers each sending the same small JPEG as the raw body, one request after another) warms up, then runs a
fixed window; throughput counts the 200s completed inside the window, latencies are theirs.

Measures, all in one run on the same artifact and cluster:

1. throughput and p50/p95/p99 latency at concurrency 1, 8 and 32, dynamic batching on (max_batch_size 16);
2. batching on ÷ `max_batch_size: 1` at concurrency 32 (the same config redeployed with the changed
   user_config; Serve reconfigures the running replica in place);
3. serving at concurrency 32 ÷ bare `predict_batch` on pre-decoded arrays at the batch size, warm;
4. serving p50 at concurrency 1 − bare single-image `predict_batch` latency (median of its calls).

The model input is IMAGE_SIZE px (SIZE_NOTE says why, and what other sizes gave). Each ratio is taken side
by side within a round (bare single, c1, bare batch, c32, redeploy unbatched, c32 unbatched, redeploy
batched), ROUNDS rounds, and the median round's value is the figure: on a shared machine the load of other
work drifts by 2× within minutes, and adjacent measures see the same drift. The CPU time of every process
involved (proxy, Api, Classifier, other Ray processes, this process) is recorded per request, which explains
the ratios independently of that drift.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from bench.artifacts import BACKEND, WEIGHTS_NOTE
from bench.data import BenchInputs
from bench.serve_bare import BARE_BATCH_S, BARE_SINGLE_CALLS
from bench.serve_deployment import BATCH_SIZE
from bench.serve_load import WARMUP_S
from bench.serve_measure import HEAD_CPUS, measure
from bench.serve_report import (
    TARGET_BATCHING_SPEEDUP,
    TARGET_MAX_LATENCY_OVERHEAD_MS,
    TARGET_SERVE_OVER_BARE,
    explain,
    fmt,
    hop_comparison,
    median_of,
    meets_targets,
)
from imgclf.runtime import cpu_count
from imgclf.serving.launcher import deployment, read_serve_config

IMAGE_SIZE = 128
ROUNDS = 3
MEASURE_S = 6.0
SIZE_NOTE = {
    "chosen": (
        "128 px for all four measures: VGG16's work per image then outweighs the serving stack's per-request CPU "
        "(HTTP proxy, Api ingress, two hops, JPEG decode: ~40–60 ms of CPU per request on this 2-CPU machine "
        "under other load), which is what serving ÷ bare measures. No size meets all targets here: the smaller "
        "sizes that give batching room to help (per-call overhead ≫ per-image compute) are dominated by that "
        "per-request CPU, which batching does not remove."
    ),
    "observed_2026_11_25_2cpu_shared": {
        "32px": (
            "2 rounds × 4 s: bare single 32 ms, bare batch16 59 img/s (11 ms CPU per image); serving c32 18 req/s "
            "batched vs 14 unbatched (speed-up 1.38), serve ÷ bare 0.32, p50 c1 − bare single 49 ms; CPU per c32 "
            "request 70 ms (Classifier 31, Api 18, proxy 11, other Ray 8, load generator 3). A first 1-round pass: "
            "speed-up 0.82, serve ÷ bare 0.24, latency overhead 14 ms."
        ),
        "64px": (
            "single exploratory runs: bare single 72–81 ms, bare batch16 19–20 img/s; serving c32 8.4–8.8 req/s "
            "(≈ 0.45 of bare), c1 p50 135–219 ms (+60 ms or more). Serve's own batch-size metric averaged about 2 "
            "requests per batch at c32 over HTTP, against about 6 with 32 concurrent calls straight to the "
            "Classifier's DeploymentHandle (16 req/s): the CPU-starved proxy and Api feed the replica slower than "
            "it batches."
        ),
        "128px": "a first 1-round pass: serve ÷ bare 0.78, batching speed-up 1.03; bare single 217–310 ms (drift).",
    },
}


def run(bench_dir: Path, *, inputs: BenchInputs, image_size: int = IMAGE_SIZE, seconds: float = MEASURE_S,
        rounds: int = ROUNDS, **_: Any) -> dict[str, Any]:
    started = time.perf_counter()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a log line per request
    measured = measure(bench_dir / "serve", inputs, image_size, seconds, rounds)
    shipped = read_serve_config(inputs.serve_config)
    batching_speedup = median_of(measured["rounds"], "batching_speedup")
    serve_over_bare = median_of(measured["rounds"], "serve_over_bare")
    overhead_ms = median_of(measured["rounds"], "latency_overhead_ms")
    meets = meets_targets(batching_speedup, serve_over_bare, overhead_ms, measured["runs"])
    result = {
        "image_size": image_size,
        "weights": WEIGHTS_NOTE,
        "backend": BACKEND,
        "replicas": {"Classifier": 1, "Api": 1},
        "classifier_cpus": deployment(shipped, "Classifier")["ray_actor_options"]["num_cpus"],
        "head_cpus": HEAD_CPUS,
        "cpus": cpu_count(),
        "max_batch_size": BATCH_SIZE,
        "batch_wait_timeout_s": deployment(shipped, "Classifier")["user_config"]["batch_wait_timeout_s"],
        "max_ongoing_requests": 2 * BATCH_SIZE,
        "warmup_s_min": WARMUP_S,
        "measure_s": seconds,
        "round_count": rounds,
        **measured,
        "batching_speedup_c32": batching_speedup,
        "serve_over_bare_c32": serve_over_bare,
        "latency_overhead_c1_ms": overhead_ms,
        "targets": {"batching_speedup_min": TARGET_BATCHING_SPEEDUP, "serve_over_bare_min": TARGET_SERVE_OVER_BARE,
                    "latency_overhead_max_ms": TARGET_MAX_LATENCY_OVERHEAD_MS},
        "meets": meets,
        "meets_targets": all(meets.values()),
        "timing": (
            "load: httpx.AsyncClient in this process, N workers each POSTing the same JPEG (raw body, image/jpeg, "
            "already at the model's input size) back to back; warm-up until every worker had an answer and "
            f"{WARMUP_S:.0f} s passed, then a {seconds:.0f} s window; throughput = 200s completed in the window ÷ "
            "its length; latency = client-side, send to answer; runs of a kind pooled over the rounds. Bare model: "
            f"predict_batch in this process on the decoded image (single: median of {BARE_SINGLE_CALLS} calls; "
            f"batch: {BATCH_SIZE} copies for ≥ {BARE_BATCH_S:.0f} s). Ratios: the median round's. Both sides size "
            "TensorFlow's thread pools to the machine's CPUs; Ray workers run at nice 0 like this process. The load "
            "generator, the HTTP proxy, the Api ingress and the Classifier replica share the same CPUs. "
            "cpu_ms_per_request: CPU time (user + system) of each process across the window ÷ the 200s in it; "
            "ray_other (GCS, raylet, dashboard, controller, agents) is mostly background, not per request."
        ),
        "section_s": None,
    }
    result["hops"] = hop_comparison(measured)
    result["explanation"] = explain(result)
    result["sizes"] = SIZE_NOTE
    result["section_s"] = time.perf_counter() - started
    return result


def rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(measure, value) lines for the printed table."""
    runs, bare, batch = result["runs"], result["bare_model"], result["max_batch_size"]
    lines = []
    for key, run in runs.items():
        batching = "max_batch_size 1" if key.endswith("unbatched") else f"batch ≤ {batch}"
        window = f"{result['image_size']} px, {run['rounds']}×{result['measure_s']:.0f} s"
        failed = f" ({run['non_200']} non-200)" if run["non_200"] else ""
        lines.append((f"c{run['concurrency']} {batching}: req/s, p50/p95/p99 ms ({window})",
                      f"{run['throughput_rps']:.1f}, {fmt(run['p50_ms'])}/{fmt(run['p95_ms'])}/{fmt(run['p99_ms'])}"
                      f"{failed}"))
    cpu = runs["c32"].get("cpu_ms_per_request", {})
    return lines + [
        (f"bare predict_batch: single ms, batch {batch} images/s",
         f"{bare['single_latency_ms']:.1f}, {bare[f'batch{batch}_images_per_s']:.1f}"),
        ("CPU ms per c32 request: classifier/api/proxy/load gen (bare batched per image)",
         "/".join(fmt(cpu.get(name), 0) for name in ("classifier", "api", "proxy", "load_generator"))
         + f" ({bare[f'batch{batch}_cpu_ms_per_image']:.0f})"),
        (f"batching on ÷ off at c32 (target ≥ {TARGET_BATCHING_SPEEDUP})", fmt(result["batching_speedup_c32"], 2)),
        (f"serve c32 ÷ bare batch {batch} (target ≥ {TARGET_SERVE_OVER_BARE})",
         fmt(result["serve_over_bare_c32"], 2)),
        (f"p50 c1 − bare single, ms (target ≤ {TARGET_MAX_LATENCY_OVERHEAD_MS:.0f})",
         fmt(result["latency_overhead_c1_ms"], 1)),
        *((f"{hop['layout']}: p50 c1 − bare ms, serve ÷ bare c32",
           f"{fmt(hop['latency_overhead_c1_ms'], 1)}, {fmt(hop['serve_over_bare_c32'], 2)}")
          for hop in result["hops"].values()),
        ("meets targets", "yes" if result["meets_targets"] else "NO"),
    ]
