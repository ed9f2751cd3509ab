"""`explain` section: what explanations cost a served digits run, in ratios taken side by side in one run.

serve_config.yaml is deployed on a Ray head of this section's own as the serve section deploys it (one Classifier
replica, bench/serve_deployment.py), serving a digits run's five models (`model: digits-*`: VGG16, KNN and a
decision tree on pixels and on embeddings; the given --registry when it holds them, else trained once into the
bench folder, the VGG16 with its compiled int8 variant, which backend auto serves). The request is one digit image
as JPEG, at the models' 32 px.

1. An explanation is opt-in and never slows plain classification: /v1/classify p50 at concurrency 1 (the load
   generator of bench/serve_load.py, default model) with the Classifier's `explanations` on and off, in alternating
   windows (on, off, on, off, …), the running replica reconfigured with the other user_config before each. The
   figure is the median of the on ÷ off ratios of each window against the mean of the two windows of the other
   setting either side of it (a drift linear over three windows cancels); the noise is the larger round-to-round
   spread of either setting's own p50, (max − min) ÷ median. With explanations off, /v1/explain answers 400
   no_explanation.
2. What an explanation costs per kind: for each model, its first /v1/explain since it was loaded (a VGG16 served by
   OpenVINO loads its TensorFlow network for Grad-CAM then), then CALLS pairs of /v1/classify and /v1/explain one
   after the other; the p50 of each and explain ÷ classify.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from bench.data import BenchInputs, digits_folder
from bench.explain_figures import SETTINGS, opt_in_figures
from bench.explain_measure import MODELS, digit_jpeg, digits_registry, measure
from bench.serve_load import pooled
from bench.serve_measure import without_latencies
from bench.serve_report import fmt
from imgclf.runtime import cpu_count

MEASURE_S = 5.0
ROUNDS = 4
CALLS = 15


def run(bench_dir: Path, *, inputs: BenchInputs, registry: str | None = None, seconds: float = MEASURE_S,
        rounds: int = ROUNDS, calls: int = CALLS, **_: Any) -> dict[str, Any]:
    started = time.perf_counter()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a log line per request
    registry = digits_registry(bench_dir, registry)
    registry_s = time.perf_counter() - started  # training, the first time
    measured = measure(bench_dir / "explain", inputs, registry, digit_jpeg(digits_folder(bench_dir)), seconds,
                       rounds, calls)
    windows = measured.pop("windows")
    p50s = [{setting: entry[setting]["p50_ms"] for setting in SETTINGS} for entry in windows]
    return {
        **measured,
        "cpus": cpu_count(),
        "measure_s": seconds,
        "round_count": rounds,
        "calls": calls,
        "opt_in": {
            **opt_in_figures(p50s),
            "pooled": {setting: pooled([entry[setting] for entry in windows], seconds) for setting in SETTINGS},
            "windows": [{setting: without_latencies(entry[setting]) for setting in SETTINGS} for entry in windows],
        },
        "timing": (
            "classify windows: the serve section's load generator at concurrency 1 (warm-up, then a window of "
            f"{seconds:.0f} s) on the default model, one window per setting per round; "
            "per model: sequential httpx calls, send to answer, p50 of the 200s; every side shares the same CPUs "
            "with the HTTP proxy, the Api ingress and the Classifier replica."
        ),
        "registry_s": registry_s,
        "section_s": time.perf_counter() - started,
    }


def rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(measure, value) lines for the printed table."""
    opt_in, pooled_runs, refused = result["opt_in"], result["opt_in"]["pooled"], result["refusal_when_off"]
    low, high = opt_in["ratio_range"] or (None, None)
    within = {True: "yes", False: "NO", None: "n/a"}[opt_in["within_noise"]]
    cpu = [pooled_runs[setting].get("cpu_ms_per_request", {}).get("classifier") for setting in SETTINGS]
    lines = [
        (f"classify p50 ms c1, explanations on / off ({result['default_model']}, "
         f"{result['round_count']}+{result['round_count']} windows × {result['measure_s']:.0f} s)",
         f"{fmt(opt_in['enabled_p50_ms'])} / {fmt(opt_in['disabled_p50_ms'])}"),
        ("classify p50 on ÷ off (median over bracketed windows, their range)",
         f"{fmt(opt_in['enabled_over_disabled'], 2)} ({fmt(low, 2)}–{fmt(high, 2)})"),
        ("round-to-round spread of a setting's p50 (noise)", fmt(opt_in["noise"], 2)),
        ("on ÷ off within 1 ± noise", within),
        ("Classifier CPU ms per classify, on / off", f"{fmt(cpu[0])} / {fmt(cpu[1])}"),
        ("/v1/explain with explanations off", f"{refused['status']} {refused['code']}"),
    ]
    for name in MODELS:
        figures, inference = result["models"][name], result["inference"].get(name) or {}
        lines.append((f"{name} ({inference.get('backend')} {inference.get('precision')}): classify / explain p50 ms, "
                      f"explain ÷ classify ({result['calls']} each)",
                      f"{fmt(figures['classify']['p50_ms'])} / {fmt(figures['explain']['p50_ms'])}, "
                      f"{fmt(figures['explain_over_classify'], 2)}{failures(figures)}"))
        if name == MODELS[0] and inference.get("backend") == "openvino":
            lines.append((f"{name} first explain ms (loads the TensorFlow network once)",
                          fmt(figures["first_explain_ms"], 0)))
    return lines


def failures(figures: dict[str, Any]) -> str:
    """' (route: status×count, …)' for the model's calls that did not get a 200, '' when all did."""
    failed = [f"{route}: {status}×{count}" for route in ("classify", "explain")
              for status, count in figures[route]["statuses"].items() if status != "200"]
    if figures["first_explain_status"] != 200:
        failed.append(f"first explain: {figures['first_explain_status']}")
    return f" ({', '.join(failed)})" if failed else ""
