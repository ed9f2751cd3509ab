"""`explain` section: what explanations cost a served digits run, in ratios taken side by side in one run.

serve_config.yaml is deployed on a Ray head of this section's own as the serve section deploys it (one Classifier
replica, bench/serve_deployment.py), serving a digits run's five models (`model: digits-*`: VGG16, KNN and a
decision tree on pixels and on embeddings; the given --registry when it holds them, else trained once into the
bench folder, the VGG16 with its compiled int8 variant, which backend auto serves). The request is one digit image
as JPEG, at the models' 32 px.

1. An explanation is opt-in and never slows plain classification: the VGG16 served by two applications side by side
   on the same head, a copy of the bench's with explanations on (explain-on, route /on) and one with them off
   (explain-off, /off), each with one Classifier replica of 0.5 CPU and an Api of 0.25 CPU. After a warm-up, PAIRS
   pairs of /v1/classify, one to each side from one client, one after the other, the side that goes first
   alternating; a drift of the machine's speed moves both sides of a pair alike. The figure is the ratio of the two
   sides' p50s with a 95% bootstrap interval (the pairs resampled); the p50 is unchanged within noise when the
   interval holds 1. Then /v1/explain answers 200 on one side and 400 no_explanation on the other.
2. What an explanation costs per kind: for each model, its first /v1/explain since it was loaded (a VGG16 served by
   OpenVINO loads its TensorFlow network for Grad-CAM then), then CALLS pairs of /v1/classify and /v1/explain one
   after the other; the p50 of each and explain ÷ classify (on the bench's one application, before the two
   side by side).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from bench.data import BenchInputs, digits_folder
from bench.explain_figures import RESAMPLES, SEED, opt_in_figures, opt_in_rows
from bench.explain_measure import MODELS, WARMUP_CALLS, digit_jpeg, digits_registry, measure
from bench.serve_report import fmt
from imgclf.runtime import cpu_count

PAIRS = 300  # interleaved pairs of an on and an off classify
CALLS = 15


def run(bench_dir: Path, *, inputs: BenchInputs, registry: str | None = None, pairs: int = PAIRS,
        calls: int = CALLS, **_: Any) -> dict[str, Any]:
    started = time.perf_counter()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a log line per request
    registry = digits_registry(bench_dir, registry)
    registry_s = time.perf_counter() - started  # training, the first time
    measured = measure(bench_dir / "explain", inputs, registry, digit_jpeg(digits_folder(bench_dir)), pairs, calls)
    pairs = measured.pop("pairs")
    return {
        **measured,
        "cpus": cpu_count(),
        "calls": calls,
        "opt_in": {**opt_in_figures(pairs), "model": MODELS[0], "warmup_calls": WARMUP_CALLS,
                   "bootstrap": {"resamples": RESAMPLES, "seed": SEED}},
        "timing": (
            f"on and off: {WARMUP_CALLS} warm-up classify calls to each side, then sequential pairs from one httpx "
            "client, send to answer, the side that goes first alternating; p50s over the pairs whose calls both got "
            "a 200; per model: sequential httpx calls, send to answer, p50 of the 200s; everything shares the head's "
            "CPUs with the HTTP proxy."
        ),
        "registry_s": registry_s,
        "section_s": time.perf_counter() - started,
    }


def rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(measure, value) lines for the printed table."""
    lines = opt_in_rows(result["opt_in"], result["side_inference"], result["explain_when"])
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
