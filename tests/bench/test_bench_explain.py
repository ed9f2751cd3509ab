"""The explain section's arithmetic: the order of the interleaved pairs, the on ÷ off p50 ratio with its bootstrap
interval and verdict, each model's p50s and explain ÷ classify, the side-by-side config and the table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench.explain import failures, rows
from bench.explain_figures import model_figures, opt_in_figures, p50_ratio_interval, pair_orders, unchanged
from bench.explain_measure import MODELS, SIDE_CPUS, side_by_side


def pairs_of(*pairs: tuple[float, float], status: int = 200) -> list[dict[str, tuple[int, float]]]:
    """Pairs as the section records them: each side's status and seconds."""
    return [{"on": (status, on), "off": (status, off)} for on, off in pairs]


def test_the_side_that_goes_first_alternates() -> None:
    assert pair_orders(4) == [("on", "off"), ("off", "on"), ("on", "off"), ("off", "on")]
    assert pair_orders(0) == []


def test_equal_sides_give_a_ratio_of_one_in_an_interval_of_one() -> None:
    figures = opt_in_figures(pairs_of((0.010, 0.010), (0.030, 0.030), (0.020, 0.020)))
    assert (figures["on_p50_ms"], figures["off_p50_ms"]) == pytest.approx((20.0, 20.0))
    assert figures["on_over_off"] == pytest.approx(1.0)
    assert figures["interval_95"] == pytest.approx([1.0, 1.0])
    assert figures["unchanged"] is True


def test_a_side_slower_in_every_pair_is_not_unchanged() -> None:
    figures = opt_in_figures(pairs_of((0.012, 0.010), (0.036, 0.030), (0.024, 0.020)))
    assert (figures["on_p50_ms"], figures["off_p50_ms"]) == pytest.approx((24.0, 20.0))
    assert figures["on_over_off"] == pytest.approx(1.2)
    assert figures["interval_95"] == pytest.approx([1.2, 1.2])
    assert figures["unchanged"] is False


def test_the_pairs_are_resampled_together_so_a_drift_shared_by_both_sides_cancels() -> None:
    drift = np.linspace(0.010, 0.060, 101)  # the machine slowing sixfold over the run
    low, high = p50_ratio_interval(drift * 1.02, drift)
    assert (low, high) == pytest.approx((1.02, 1.02))


def test_the_interval_is_the_central_95_percent_of_the_resampled_ratios() -> None:
    # two pairs: a resample takes pair 1 twice (on 1 over off 2: 0.5), pair 2 twice (3 / 2: 1.5), or one of each (1)
    low, high = p50_ratio_interval(np.array([1.0, 3.0]), np.array([2.0, 2.0]))
    assert (low, high) == (0.5, 1.5)


def test_a_lone_slow_request_does_not_move_the_interval_of_the_p50s() -> None:
    off = np.full(21, 0.010)
    on = off.copy()
    on[4] = 1.0  # one on call a hundred times slower: the medians stay put, a mean would not
    assert p50_ratio_interval(on, off) == pytest.approx((1.0, 1.0))


def test_the_same_pairs_give_the_same_interval() -> None:
    rng = np.random.default_rng(7)
    on, off = rng.uniform(0.01, 0.03, 50), rng.uniform(0.01, 0.03, 50)
    assert p50_ratio_interval(on, off) == p50_ratio_interval(on, off)
    low, high = p50_ratio_interval(on, off)
    assert low < np.median(on) / np.median(off) < high


def test_unchanged_when_the_interval_holds_one_even_at_its_ends() -> None:
    assert unchanged((0.97, 1.04)) is True
    assert unchanged((1.0, 1.04)) is True
    assert unchanged((0.9, 1.0)) is True
    assert unchanged((1.001, 1.04)) is False
    assert unchanged((0.9, 0.999)) is False
    assert unchanged(None) is None


def test_a_pair_with_a_call_that_failed_is_left_out_and_its_status_counted() -> None:
    pairs = pairs_of((0.010, 0.020), (0.030, 0.030), (0.020, 0.010))
    pairs[0]["on"] = (503, 0.001)
    figures = opt_in_figures(pairs)
    assert (figures["pairs"], figures["answered_pairs"]) == (3, 2)
    assert figures["statuses"] == {"on": {"503": 1, "200": 2}, "off": {"200": 3}}
    assert (figures["on_p50_ms"], figures["off_p50_ms"]) == pytest.approx((25.0, 20.0))
    none = opt_in_figures(pairs_of((0.01, 0.01), status=503))
    assert (none["on_over_off"], none["interval_95"], none["unchanged"]) == (None, None, None)


def test_a_models_figures_are_the_p50s_of_its_200s_and_explain_over_classify() -> None:
    classify = [(200, 0.010), (200, 0.030), (503, 0.001), (200, 0.020)]
    explain = [(200, 0.090), (200, 0.050), (200, 0.070), (200, 0.060)]
    figures = model_figures(classify, explain, (200, 2.5))
    assert figures["classify"] == {"calls": 4, "statuses": {"200": 3, "503": 1}, "p50_ms": pytest.approx(20.0)}
    assert figures["explain"] == {"calls": 4, "statuses": {"200": 4}, "p50_ms": pytest.approx(65.0)}
    assert figures["explain_over_classify"] == pytest.approx(3.25)
    assert (figures["first_explain_status"], figures["first_explain_ms"]) == (200, 2500.0)


def test_a_model_that_does_not_explain_has_no_ratio_and_no_first_explain() -> None:
    figures = model_figures([(200, 0.010)], [(400, 0.004), (400, 0.005)], (400, 0.006))
    assert figures["explain"] == {"calls": 2, "statuses": {"400": 2}, "p50_ms": None}
    assert figures["explain_over_classify"] is None
    assert (figures["first_explain_status"], figures["first_explain_ms"]) == (400, None)
    assert model_figures([], [(200, 0.010)], (200, 0.1))["explain_over_classify"] is None


def test_side_by_side_serves_the_application_twice_with_explanations_on_and_off() -> None:
    config = {"http_options": {"port": 8123}, "applications": [{
        "name": "imgclf", "route_prefix": "/", "args": {}, "deployments": [
            {"name": "Classifier", "num_replicas": 1, "ray_actor_options": {"num_cpus": 1},
             "user_config": {"model": "digits-*", "registry": "/r", "explanations": True}},
            {"name": "Api", "user_config": {"max_top_k": 100}}]}]}
    sides = side_by_side(config, "digits-vgg16")
    assert config["applications"][0]["name"] == "imgclf"  # the given config is left as it was
    assert sides["http_options"] == {"port": 8123}
    assert [(app["name"], app["route_prefix"]) for app in sides["applications"]] == [("explain-on", "/on"),
                                                                                        ("explain-off", "/off")]
    for app, explanations in zip(sides["applications"], (True, False)):
        classifier, api = app["deployments"]
        assert classifier == {"name": "Classifier", "num_replicas": 1,
                              "ray_actor_options": {"num_cpus": SIDE_CPUS["Classifier"]},
                              "user_config": {"model": "digits-vgg16", "registry": "/r",
                                              "explanations": explanations}}
        assert api == {"name": "Api", "ray_actor_options": {"num_cpus": SIDE_CPUS["Api"]},
                       "user_config": {"max_top_k": 100}}


def timed(p50_ms: float | None, statuses: dict[str, int]) -> dict[str, Any]:
    return {"calls": sum(statuses.values()), "statuses": statuses, "p50_ms": p50_ms}


def section_result(vgg16_backend: str) -> dict[str, Any]:
    """A result as the section's run returns it (the fields the table reads)."""
    models = {name: {"classify": timed(10.0 + index, {"200": 15}), "explain": timed(30.0 + index, {"200": 15}),
                     "explain_over_classify": (30.0 + index) / (10.0 + index), "first_explain_status": 200,
                     "first_explain_ms": 1234.4}
              for index, name in enumerate(MODELS)}
    models["digits-knn-pixels"] |= {"explain": timed(None, {"400": 15}), "explain_over_classify": None,
                                    "first_explain_status": 400, "first_explain_ms": None}
    inference = {name: {"backend": "scikit-learn", "precision": "fp32"} for name in MODELS}
    inference["digits-vgg16"] = {"backend": vgg16_backend, "precision": "int8"}
    return {
        "calls": 15, "inference": inference, "models": models,
        "side_inference": {side: {"backend": vgg16_backend, "precision": "int8"} for side in ("on", "off")},
        "explain_when": {"on": {"status": 200, "code": None}, "off": {"status": 400, "code": "no_explanation"}},
        "opt_in": {"model": "digits-vgg16", "pairs": 300, "statuses": {"on": {"200": 300}, "off": {"200": 300}},
                   "on_p50_ms": 18.84, "off_p50_ms": 18.61, "on_over_off": 1.0124, "interval_95": [0.9876, 1.0312],
                   "unchanged": True},
    }


def test_the_table_shows_the_on_off_ratio_with_its_interval_and_each_models_p50s() -> None:
    lines = rows(section_result("openvino"))
    assert lines[:4] == [
        (("classify p50 ms c1, explanations on / off (digits-vgg16 openvino int8, 300 interleaved pairs, two "
          "applications side by side)"), "18.8 / 18.6"),
        ("classify p50 on ÷ off (bootstrap 95% interval over the pairs)", "1.01 (0.988–1.031)"),
        ("on ÷ off unchanged within noise (the interval holds 1)", "yes"),
        ("/v1/explain with explanations on / off", "200 / 400 no_explanation"),
    ]
    assert lines[4:] == [
        ("digits-vgg16 (openvino int8): classify / explain p50 ms, explain ÷ classify (15 each)",
         "10.0 / 30.0, 3.00"),
        ("digits-vgg16 first explain ms (loads the TensorFlow network once)", "1234"),
        ("digits-knn-pixels (scikit-learn fp32): classify / explain p50 ms, explain ÷ classify (15 each)",
         "11.0 / n/a, n/a (explain: 400×15, first explain: 400)"),
        ("digits-dt-pixels (scikit-learn fp32): classify / explain p50 ms, explain ÷ classify (15 each)",
         "12.0 / 32.0, 2.67"),
        ("digits-knn-embeddings (scikit-learn fp32): classify / explain p50 ms, explain ÷ classify (15 each)",
         "13.0 / 33.0, 2.54"),
        ("digits-dt-embeddings (scikit-learn fp32): classify / explain p50 ms, explain ÷ classify (15 each)",
         "14.0 / 34.0, 2.43"),
    ]


def test_the_first_explain_is_shown_only_for_a_vgg16_served_by_openvino() -> None:
    lines = rows(section_result("tensorflow"))
    assert not any("first explain ms" in measure for measure, _ in lines)
    assert len(lines) == 4 + len(MODELS)


def test_the_verdict_failed_calls_and_missing_figures_read_plainly() -> None:
    result = section_result("tensorflow")
    result["opt_in"] |= {"unchanged": False, "interval_95": None, "on_over_off": None, "on_p50_ms": None,
                         "statuses": {"on": {"200": 298, "503": 2}, "off": {"200": 300}}}
    result["side_inference"]["off"] = {"backend": "openvino", "precision": "int8"}  # the sides served unalike
    values = dict(rows(result))
    assert values["on ÷ off unchanged within noise (the interval holds 1)"] == "NO"
    assert values["classify p50 on ÷ off (bootstrap 95% interval over the pairs)"] == "n/a (n/a–n/a)"
    assert values["classify p50 ms c1, explanations on / off (digits-vgg16 tensorflow int8 / openvino int8, 300 "
                  "interleaved pairs, two applications side by side)"] == "n/a / 18.6 (on: 503×2)"
    result["opt_in"]["unchanged"] = None
    assert dict(rows(result))["on ÷ off unchanged within noise (the interval holds 1)"] == "n/a"


def test_failures_name_each_route_and_status_that_was_not_a_200() -> None:
    figures = {"classify": timed(10.0, {"200": 14, "503": 1}), "explain": timed(None, {"400": 15}),
               "first_explain_status": 200}
    assert failures(figures) == " (classify: 503×1, explain: 400×15)"
    assert failures({**figures, "classify": timed(10.0, {"200": 15}), "explain": timed(5.0, {"200": 15})}) == ""
