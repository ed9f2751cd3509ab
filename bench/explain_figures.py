"""The explain section's arithmetic: the order of each interleaved pair of classify requests, the explanations-on
÷ off p50 ratio with its bootstrap interval and verdict, and each model's classify and explain latencies."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from bench.serve_load import latency_percentiles
from bench.serve_measure import ratio
from bench.serve_report import fmt

SIDES = ("on", "off")  # explanations on, off: the first pair's order
RESAMPLES = 1000
SEED = 0
Call = tuple[int, float]  # a timed call: HTTP status, seconds from send to answer


def pair_orders(pairs: int) -> list[tuple[str, str]]:
    """Which side goes first in each pair: on, off, then off, on, and so on, so neither is always first."""
    return [SIDES if index % 2 == 0 else SIDES[::-1] for index in range(pairs)]


def p50_ratio_interval(on: np.ndarray, off: np.ndarray, resamples: int = RESAMPLES,
                       seed: int = SEED) -> tuple[float, float]:
    """The 95% bootstrap interval of median(on) ÷ median(off): the pairs resampled with replacement, each pair's two
    latencies kept together (what drifts between pairs moves both)."""
    picks = np.random.default_rng(seed).integers(0, len(on), size=(resamples, len(on)))
    ratios = np.median(on[picks], axis=1) / np.median(off[picks], axis=1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(low), float(high)


def unchanged(interval: tuple[float, float] | None) -> bool | None:
    """Whether the interval holds 1.0 (the p50 unchanged within noise); None without an interval."""
    return None if interval is None else interval[0] <= 1.0 <= interval[1]


def opt_in_figures(pairs: list[dict[str, Call]]) -> dict[str, Any]:
    """Each side's statuses and classify p50 over the pairs both of whose calls got a 200, on ÷ off, its bootstrap
    95% interval and whether that holds 1.0."""
    both = [pair for pair in pairs if all(pair[side][0] == 200 for side in SIDES)]
    seconds = {side: np.asarray([pair[side][1] for pair in both]) for side in SIDES}
    p50 = {side: latency_percentiles(list(seconds[side]))["p50_ms"] for side in SIDES}
    interval = p50_ratio_interval(seconds["on"], seconds["off"]) if both else None
    return {
        "pairs": len(pairs),
        "answered_pairs": len(both),
        "statuses": {side: dict(Counter(str(pair[side][0]) for pair in pairs)) for side in SIDES},
        "on_p50_ms": p50["on"],
        "off_p50_ms": p50["off"],
        "on_over_off": ratio(p50["on"], p50["off"]) if both else None,
        "interval_95": list(interval) if interval else None,
        "unchanged": unchanged(interval),
    }


def answered(calls: list[Call]) -> dict[str, Any]:
    """Timed calls: how many, their statuses, and the p50 of the 200s, ms."""
    statuses = Counter(str(status) for status, _ in calls)
    return {"calls": len(calls), "statuses": dict(statuses),
            "p50_ms": latency_percentiles([seconds for status, seconds in calls if status == 200])["p50_ms"]}


def model_figures(classify: list[Call], explain: list[Call], first_explain: Call) -> dict[str, Any]:
    """One model's classify and explain p50s, explain ÷ classify, and its first explain (ms; None unless a 200)."""
    classified, explained = answered(classify), answered(explain)
    both = classified["p50_ms"] is not None and explained["p50_ms"] is not None
    status, seconds = first_explain
    return {
        "classify": classified,
        "explain": explained,
        "explain_over_classify": ratio(explained["p50_ms"], classified["p50_ms"]) if both else None,
        "first_explain_status": status,
        "first_explain_ms": seconds * 1000 if status == 200 else None,
    }


def opt_in_rows(opt_in: dict[str, Any], inference: dict[str, dict[str, Any]],
                explain_statuses: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """(measure, value) lines of the on-and-off comparison for the printed table (`inference`: how each side
    serves the model)."""
    low, high = opt_in["interval_95"] or (None, None)
    verdict = {True: "yes", False: "NO", None: "n/a"}[opt_in["unchanged"]]
    failed = [f"{side}: {status}×{count}" for side in SIDES for status, count in opt_in["statuses"][side].items()
              if status != "200"]
    served = " / ".join(dict.fromkeys(f"{inference[side]['backend']} {inference[side]['precision']}"
                                      for side in SIDES))
    answers = [" ".join(str(part) for part in (explain_statuses[side]["status"], explain_statuses[side]["code"])
                        if part is not None) for side in SIDES]
    p50s = f"{fmt(opt_in['on_p50_ms'])} / {fmt(opt_in['off_p50_ms'])}" + (f" ({', '.join(failed)})" if failed else "")
    heading = (f"classify p50 ms c1, explanations on / off ({opt_in['model']} {served}, {opt_in['pairs']} "
               "interleaved pairs, two applications side by side)")
    return [
        (heading, p50s),
        ("classify p50 on ÷ off (bootstrap 95% interval over the pairs)",
         f"{fmt(opt_in['on_over_off'], 2)} ({fmt(low, 3)}–{fmt(high, 3)})"),
        ("on ÷ off unchanged within noise (the interval holds 1)", verdict),
        ("/v1/explain with explanations on / off", " / ".join(answers)),
    ]
