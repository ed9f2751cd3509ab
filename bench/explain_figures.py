"""The explain section's arithmetic: the explanations-on ÷ off classify ratio from alternating windows with its
round-to-round noise, and each model's classify and explain latencies from timed calls."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from bench.serve_load import latency_percentiles
from bench.serve_measure import ratio
from bench.serve_report import median_of

SETTINGS = ("enabled", "disabled")  # the order of the two windows in each round


def bracketed_ratios(rounds: list[dict[str, float | None]]) -> list[float]:
    """enabled ÷ disabled for each window between two of the other setting in the sequence on₁, off₁, on₂, off₂, …:
    an off window against the mean of the on windows either side of it, an on window against the mean of the off
    windows either side of it, so a drift of the machine's other load that is linear over three windows cancels.
    With one round, the ratio of its two windows. A window without a p50 gives no ratio, nor one beside it."""
    sequence = [(setting, entry[setting]) for entry in rounds for setting in SETTINGS]
    if len(sequence) == 2:
        on, off = (value for _, value in sequence)
        return [on / off] if on is not None and off is not None else []
    ratios = []
    for (_, before), (setting, value), (_, after) in zip(sequence, sequence[1:], sequence[2:]):
        if before is None or value is None or after is None:
            continue
        neighbours = (before + after) / 2
        ratios.append(value / neighbours if setting == "enabled" else neighbours / value)
    return ratios


def relative_spread(values: list[float | None]) -> float | None:
    """(max − min) ÷ median of one measure's values over the rounds; None with fewer than two."""
    taken = [value for value in values if value is not None]
    if len(taken) < 2:
        return None
    return (max(taken) - min(taken)) / statistics.median(taken)


def opt_in_figures(rounds: list[dict[str, float | None]]) -> dict[str, Any]:
    """The enabled ÷ disabled classify p50 (median of the bracketed windows' ratios, and their range), the noise
    (the larger round-to-round spread of either setting's own p50) and whether the ratio is within 1 ± noise."""
    ratios = bracketed_ratios(rounds)
    spreads = [relative_spread([entry[setting] for entry in rounds]) for setting in SETTINGS]
    noise = max((spread for spread in spreads if spread is not None), default=None)
    on_over_off = statistics.median(ratios) if ratios else None
    return {
        "enabled_p50_ms": median_of(rounds, "enabled"),
        "disabled_p50_ms": median_of(rounds, "disabled"),
        "enabled_over_disabled": on_over_off,
        "window_ratios": ratios,
        "ratio_range": [min(ratios), max(ratios)] if ratios else None,
        "noise": noise,
        "within_noise": None if on_over_off is None or noise is None else abs(on_over_off - 1) <= noise,
    }


def answered(calls: list[tuple[int, float]]) -> dict[str, Any]:
    """Timed calls (HTTP status, seconds): how many, their statuses, and the p50 of the 200s, ms."""
    statuses = Counter(str(status) for status, _ in calls)
    return {"calls": len(calls), "statuses": dict(statuses),
            "p50_ms": latency_percentiles([seconds for status, seconds in calls if status == 200])["p50_ms"]}


def model_figures(classify: list[tuple[int, float]], explain: list[tuple[int, float]],
                  first_explain: tuple[int, float]) -> dict[str, Any]:
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
