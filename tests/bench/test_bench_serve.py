"""The serve section's arithmetic: percentiles, per-call and per-request figures, pooling over rounds, each round's
ratios, the medians over rounds, the targets and the lines that explain them."""

from __future__ import annotations

import math
from collections import Counter
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from bench.serve_bare import BARE_BATCH_S, BARE_MIN_BATCHES, batch_figures, more_batches_needed, single_call_figures
from bench.serve_deployment import BATCH_SIZE
from bench.serve_load import cpu_by_name, cpu_ms_per_request, latency_percentiles, pooled, window_figures
from bench.serve_measure import bare_figures, overhead, pooled_by_kind, ratio, round_figures
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

BATCH = f"batch{BATCH_SIZE}"


def load_run(ok: int, throughput_rps: float, latencies: list[float], *, non_200: int = 0, concurrency: int = 32,
             cpu: dict[str, float] | None = None) -> dict[str, Any]:
    """A load run's result as `load` returns it (only the fields pooling reads)."""
    statuses = {"200": ok} | ({"503": non_200} if non_200 else {})
    run = {"concurrency": concurrency, "requests": ok + non_200, "ok": ok, "non_200": non_200, "statuses": statuses,
           "throughput_rps": throughput_rps, "latencies": latencies}
    return run | ({"cpu_ms_per_request": cpu} if cpu is not None else {})


def test_latency_percentiles_interpolate_between_the_sorted_latencies_in_ms() -> None:
    assert latency_percentiles([0.004, 0.001, 0.003, 0.002]) == pytest.approx(
        {"p50_ms": 2.5, "p95_ms": 3.85, "p99_ms": 3.97})
    assert latency_percentiles([0.25]) == {"p50_ms": 250.0, "p95_ms": 250.0, "p99_ms": 250.0}


def test_no_latencies_give_no_percentiles() -> None:
    assert latency_percentiles([]) == {"p50_ms": None, "p95_ms": None, "p99_ms": None}


def test_median_of_rounds_takes_the_middle_round_or_the_mean_of_the_two_middle_ones() -> None:
    assert median_of([{"x": 3.0}, {"x": 1.0}, {"x": 1.5}], "x") == 1.5
    assert median_of([{"x": 1.0}, {"x": 10.0}, {"x": 2.0}, {"x": 3.0}], "x") == 2.5


def test_median_of_rounds_skips_rounds_without_the_figure() -> None:
    assert median_of([{"x": None}, {"x": 1.0}, {"x": 4.0}], "x") == 2.5
    assert median_of([{"x": None}, {"x": None}], "x") is None
    assert median_of([], "x") is None


def test_ratio_is_none_over_zero() -> None:
    assert ratio(30.0, 12.0) == 2.5
    assert ratio(0.0, 4.0) == 0.0
    assert ratio(5.0, 0.0) is None


def test_latency_overhead_is_the_p50_less_the_bare_single_latency() -> None:
    assert overhead({"p50_ms": 130.5}, {"latency_ms": 120.25}) == 10.25
    assert overhead({"p50_ms": 100.0}, {"latency_ms": 110.0}) == -10.0
    assert overhead({"p50_ms": None}, {"latency_ms": 110.0}) is None


def test_bare_single_figures_are_the_median_call_and_cpu_per_call_in_ms() -> None:
    assert single_call_figures([0.030, 0.010, 0.011], 0.12) == pytest.approx({"latency_ms": 11.0, "cpu_ms": 40.0})
    assert single_call_figures([0.04, 0.01, 0.012, 0.02], 0.1) == pytest.approx({"latency_ms": 16.0, "cpu_ms": 25.0})


def test_bare_batches_run_for_both_the_minimum_time_and_the_minimum_batches() -> None:
    enough_images = BARE_MIN_BATCHES * 16
    assert not more_batches_needed(BARE_BATCH_S, enough_images, 16)
    assert more_batches_needed(math.nextafter(BARE_BATCH_S, 0), enough_images, 16)
    assert more_batches_needed(BARE_BATCH_S, enough_images - 16, 16)


def test_bare_batch_figures_are_images_per_second_and_cpu_ms_per_image() -> None:
    assert batch_figures(48, 4.0, 2.4) == pytest.approx({"images_per_s": 12.0, "cpu_ms_per_image": 50.0})


class Process:
    """What the CPU probe reads of a process: its CPU times so far."""

    def __init__(self, user: float, system: float) -> None:
        self.times = SimpleNamespace(user=user, system=system)

    def cpu_times(self) -> SimpleNamespace:
        return self.times


class EndedProcess:
    def cpu_times(self) -> SimpleNamespace:
        raise psutil.NoSuchProcess(123)


def test_cpu_seconds_add_user_and_system_by_name_and_skip_ended_processes() -> None:
    processes = [("api", Process(1.0, 0.5)), ("ray_other", Process(2.0, 0.25)), ("ray_other", Process(0.5, 0.25)),
                 ("proxy", EndedProcess())]
    assert cpu_by_name(processes) == {"api": 1.5, "ray_other": 3.0}


def test_a_window_counts_every_answer_and_its_throughput_only_the_200s() -> None:
    figures = window_figures(Counter({"200": 30, "503": 2, "ReadTimeout": 1}), [0.3, 0.1, 0.2], 6.0)
    assert list(figures) == ["requests", "ok", "non_200", "statuses", "throughput_rps", "p50_ms", "p95_ms", "p99_ms",
                             "latencies"]
    assert (figures["requests"], figures["ok"], figures["non_200"]) == (33, 30, 3)
    assert figures["statuses"] == {"200": 30, "503": 2, "ReadTimeout": 1}
    assert figures["throughput_rps"] == 5.0
    assert [figures["p50_ms"], figures["p95_ms"], figures["p99_ms"]] == pytest.approx([200.0, 290.0, 298.0])
    assert figures["latencies"] == [0.3, 0.1, 0.2]


def test_a_window_without_200s_has_no_throughput_and_no_latencies() -> None:
    assert window_figures(Counter({"503": 4}), [], 2.0) == {
        "requests": 4, "ok": 0, "non_200": 4, "statuses": {"503": 4}, "throughput_rps": 0.0,
        "p50_ms": None, "p95_ms": None, "p99_ms": None, "latencies": [],
    }


def test_cpu_per_request_is_each_groups_cpu_across_the_window_over_the_200s() -> None:
    before = {"api": 1.0, "proxy": 2.0, "ended": 5.0}
    after = {"api": 1.6, "proxy": 2.3, "classifier": 0.9}
    assert cpu_ms_per_request(before, after, 30) == pytest.approx({"api": 20.0, "proxy": 10.0, "classifier": 30.0})


def test_pooled_runs_sum_counts_spread_throughput_over_all_windows_and_pool_latencies() -> None:
    runs = [load_run(18, 3.0, [0.1, 0.3], non_200=2, cpu={"api": 10.0, "proxy": 4.0}),
            load_run(12, 2.0, [0.2], cpu={"api": 20.0, "classifier": 30.0})]
    result = pooled(runs, 6.0)
    assert (result["concurrency"], result["rounds"], result["requests"], result["ok"], result["non_200"]) == (
        32, 2, 32, 30, 2)
    assert result["statuses"] == {"200": 30, "503": 2}
    assert (result["throughput_rps"], result["throughput_rps_by_round"]) == (2.5, [3.0, 2.0])
    assert [result["p50_ms"], result["p95_ms"], result["p99_ms"]] == pytest.approx([200.0, 290.0, 298.0])
    # weighted by each run's 200s; a group a run did not see counts 0 for it
    assert result["cpu_ms_per_request"] == pytest.approx({"api": 14.0, "classifier": 12.0, "proxy": 2.4,
                                                          "total": 28.4})
    assert list(result["cpu_ms_per_request"]) == ["api", "classifier", "proxy", "total"]


def test_pooled_cpu_comes_only_from_runs_that_measured_it() -> None:
    with_and_without = pooled([load_run(18, 3.0, [0.1], cpu={"api": 10.0}), load_run(10, 2.0, [0.2])], 6.0)
    assert with_and_without["cpu_ms_per_request"] == {"api": 10.0, "total": 10.0}
    assert "cpu_ms_per_request" not in pooled([load_run(10, 2.0, [0.2])], 6.0)


def round_entry(*, c32_unbatched_rps: float = 6.5, c1_p50_ms: float | None = 215.0,
                c8: bool = False) -> dict[str, Any]:
    """One round's measures, as `measure` records them."""
    entry = {
        "bare_single": {"latency_ms": 200.0, "cpu_ms": 40.0},
        "bare_batch": {"images_per_s": 20.0, "cpu_ms_per_image": 90.0},
        "c1": load_run(10, 1.0, [0.215], concurrency=1) | {"p50_ms": c1_p50_ms},
        "c32": load_run(78, 13.0, [1.0]),
        "c32_unbatched": load_run(39, c32_unbatched_rps, [2.0]),
        "c1_one_hop": load_run(10, 1.0, [0.2055], concurrency=1) | {"p50_ms": 205.5},
        "c32_one_hop": load_run(90, 15.0, [1.0]),
    }
    return entry | ({"c8": load_run(24, 4.0, [0.5], concurrency=8)} if c8 else {})


def test_a_rounds_ratios_and_overheads_are_against_its_own_bare_measures() -> None:
    assert round_figures(round_entry()) == pytest.approx({
        "bare_single_latency_ms": 200.0, "bare_batch_images_per_s": 20.0, "c1_p50_ms": 215.0, "c32_rps": 13.0,
        "c32_unbatched_rps": 6.5, "batching_speedup": 2.0, "serve_over_bare": 0.65, "latency_overhead_ms": 15.0,
        "one_hop_serve_over_bare": 0.75, "one_hop_latency_overhead_ms": 5.5,
    })


def test_a_round_without_unbatched_answers_or_a_c1_p50_has_no_speedup_or_overhead() -> None:
    figures = round_figures(round_entry(c32_unbatched_rps=0.0, c1_p50_ms=None))
    assert figures["batching_speedup"] is None
    assert figures["latency_overhead_ms"] is None


def test_runs_are_pooled_over_the_rounds_that_ran_them() -> None:
    runs = pooled_by_kind([round_entry(c8=True), round_entry()], 6.0)
    assert list(runs) == ["c1", "c8", "c32", "c32_unbatched", "c1_one_hop", "c32_one_hop"]
    assert (runs["c8"]["rounds"], runs["c8"]["throughput_rps"]) == (1, 4.0)
    assert (runs["c32"]["rounds"], runs["c32"]["ok"], runs["c32"]["throughput_rps"]) == (2, 156, 13.0)


def bare_round(latency_ms: float, cpu_ms: float, images_per_s: float, cpu_ms_per_image: float) -> dict[str, Any]:
    return {"bare_single": {"latency_ms": latency_ms, "cpu_ms": cpu_ms},
            "bare_batch": {"images_per_s": images_per_s, "cpu_ms_per_image": cpu_ms_per_image}}


def test_the_bare_models_figures_are_each_the_median_over_the_rounds() -> None:
    odd = [bare_round(300.0, 40.0, 20.0, 90.0), bare_round(200.0, 60.0, 26.0, 80.0),
           bare_round(220.0, 45.0, 18.0, 130.0)]
    assert bare_figures(odd) == {"single_latency_ms": 220.0, "single_cpu_ms": 45.0, f"{BATCH}_images_per_s": 20.0,
                                 f"{BATCH}_cpu_ms_per_image": 90.0}
    even = odd[:2]
    assert bare_figures(even) == {"single_latency_ms": 250.0, "single_cpu_ms": 50.0, f"{BATCH}_images_per_s": 23.0,
                                  f"{BATCH}_cpu_ms_per_image": 85.0}


def test_targets_just_met() -> None:
    runs = {"c1": {"non_200": 0}, "c32": {"non_200": 0}}
    meets = meets_targets(TARGET_BATCHING_SPEEDUP, TARGET_SERVE_OVER_BARE, TARGET_MAX_LATENCY_OVERHEAD_MS, runs)
    assert meets == {"batching_speedup": True, "serve_over_bare": True, "latency_overhead_ms": True,
                     "no_non_200": True}


def test_targets_just_missed() -> None:
    runs = {"c1": {"non_200": 0}, "c32": {"non_200": 1}}
    meets = meets_targets(math.nextafter(TARGET_BATCHING_SPEEDUP, 0), math.nextafter(TARGET_SERVE_OVER_BARE, 0),
                          math.nextafter(TARGET_MAX_LATENCY_OVERHEAD_MS, math.inf), runs)
    assert meets == {"batching_speedup": False, "serve_over_bare": False, "latency_overhead_ms": False,
                     "no_non_200": False}


def test_a_figure_that_could_not_be_taken_misses_its_target() -> None:
    meets = meets_targets(None, None, None, {})
    assert meets == {"batching_speedup": False, "serve_over_bare": False, "latency_overhead_ms": False,
                     "no_non_200": True}


def hop_measures(direct_c1_p50_ms: float | None) -> dict[str, Any]:
    rounds = [{"latency_overhead_ms": 15.0, "serve_over_bare": 0.6, "one_hop_latency_overhead_ms": 9.0,
               "one_hop_serve_over_bare": 0.7},
              {"latency_overhead_ms": 35.0, "serve_over_bare": 0.9, "one_hop_latency_overhead_ms": 7.0,
               "one_hop_serve_over_bare": 1.2},
              {"latency_overhead_ms": 5.0, "serve_over_bare": 0.65, "one_hop_latency_overhead_ms": None,
               "one_hop_serve_over_bare": 0.8}]
    runs = {"c1": {"p50_ms": 215.0}, "c32": {"throughput_rps": 13.0, "cpu_ms_per_request": {"total": 80.0}},
            "c1_one_hop": {"p50_ms": 208.0}, "c32_one_hop": {"throughput_rps": 16.0}}
    direct = {"c1": {"p50_ms": direct_c1_p50_ms}, "c32": {"throughput_rps": 16.0}, "listens_on": "127.0.0.1:30001"}
    return {"rounds": rounds, "runs": runs, "direct_ingress": direct,
            "bare_model": {"single_latency_ms": 200.0, f"{BATCH}_images_per_s": 20.0}}


def test_each_layout_takes_the_median_round_and_direct_ingress_its_one_window_against_the_median_bare() -> None:
    hops = hop_comparison(hop_measures(212.5))
    assert {layout: (hop["latency_overhead_c1_ms"], hop["serve_over_bare_c32"]) for layout, hop in hops.items()} == {
        "two_hops": (15.0, 0.65), "one_hop": (8.0, 0.8), "direct_ingress": (12.5, 0.8)}
    assert (hops["two_hops"]["c1_p50_ms"], hops["two_hops"]["c32_rps"]) == (215.0, 13.0)
    assert hops["two_hops"]["cpu_ms_per_c32_request"] == {"total": 80.0}
    assert hops["one_hop"]["cpu_ms_per_c32_request"] is None
    assert hops["direct_ingress"]["listens_on"] == "127.0.0.1:30001"


def test_direct_ingress_without_a_c1_p50_has_no_latency_overhead() -> None:
    assert hop_comparison(hop_measures(None))["direct_ingress"]["latency_overhead_c1_ms"] is None


def explained(meets: bool, speedups: list[float | None], overheads: list[float | None]) -> list[str]:
    rounds = [{"batching_speedup": speedup, "serve_over_bare": None if index else 0.6, "latency_overhead_ms": overhead_ms}
              for index, (speedup, overhead_ms) in enumerate(zip(speedups, overheads))]
    runs = {"c1": {"cpu_ms_per_request": {"classifier": 250.0, "api": 20.0, "proxy": 10.0, "load_generator": 5.0,
                                          "ray_other": 100.0}},
            "c32": {"cpu_ms_per_request": {"classifier": 150.4, "api": 19.6, "proxy": 10.0, "load_generator": 2.4,
                                           "ray_other": 7.0}},
            "c32_unbatched": {}}
    return explain({"meets": {"batching_speedup": meets, "serve_over_bare": meets, "latency_overhead_ms": meets,
                              "no_non_200": meets},
                    "bare_model": {"single_cpu_ms": 240.0, f"{BATCH}_cpu_ms_per_image": 160.0},
                    "max_batch_size": BATCH_SIZE, "batch_wait_timeout_s": 0.01, "runs": runs, "rounds": rounds})


def test_each_missed_target_is_explained_with_the_cpu_figures_it_rests_on() -> None:
    lines = explained(False, [1.5, None, 1.25], [12.4, 30.6, None])
    batching, serving, latency, statuses, spread = lines
    assert "the bare model takes 240 ms of CPU for one image and 160 ms per image" in batching
    assert "batching can save at most 1.50× of the model's work" in batching
    assert "the Classifier replica spent 150 ms of CPU per request batched and n/a unbatched" in batching
    assert ("the Classifier spent 150 ms of CPU (bare batched model: 160 ms per image), the Api 20 ms, the proxy "
            "10 ms, the load generator 2 ms") in serving
    assert "(GCS, raylet, dashboard, controller: 7 ms per request at this rate)" in serving
    # the c1 path (classifier 250 + api 20 + proxy 10 + client 5) less the bare model's 240 ms, ray_other left out
    assert "batch_wait_timeout_s (10 ms)" in latency and "45 ms of CPU per request beyond the bare model's" in latency
    assert statuses == "some requests did not get a 200: see each run's `statuses`."
    assert spread == ("per-round range (the machine's other load drifts between rounds): batching speed-up 1.25 to "
                      "1.50; latency overhead ms 12 to 31.")


def test_met_targets_and_single_rounds_need_no_explanation() -> None:
    assert explained(True, [1.5], [12.4]) == []


def test_fmt_rounds_to_the_given_digits_and_shows_a_missing_figure() -> None:
    assert fmt(9.96) == "10.0"
    assert fmt(0.6549, 2) == "0.65"
    assert fmt(1234.5678, 0) == "1235"
    assert fmt(None, 2) == "n/a"
