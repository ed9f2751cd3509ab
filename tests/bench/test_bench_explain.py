"""The explain section's arithmetic: each window's explanations-on ÷ off ratio against its neighbours, the
round-to-round noise, the verdict, each model's p50s and explain ÷ classify, the config switch and the table."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bench.explain import failures, rows
from bench.explain_figures import bracketed_ratios, model_figures, opt_in_figures, relative_spread
from bench.explain_measure import MODELS, explanations_config
from imgclf.serving.launcher import deployment


def rounds_of(*pairs: tuple[float | None, float | None]) -> list[dict[str, float | None]]:
    """Rounds as the section records their p50s: the on window, then the off one."""
    return [{"enabled": enabled, "disabled": disabled} for enabled, disabled in pairs]


def test_each_window_is_compared_with_the_mean_of_the_other_settings_windows_either_side() -> None:
    # sequence on 10, off 8, on 14, off 10: off 8 against (10 + 14) / 2, on 14 against (8 + 10) / 2
    assert bracketed_ratios(rounds_of((10.0, 8.0), (14.0, 10.0))) == pytest.approx([12.0 / 8.0, 14.0 / 9.0])


def test_a_drift_linear_over_three_windows_cancels() -> None:
    drifting = rounds_of((10.0, 11.0), (12.0, 13.0), (14.0, 15.0))  # the same latency, the machine slowing down
    assert bracketed_ratios(drifting) == pytest.approx([1.0, 1.0, 1.0, 1.0])


def test_one_round_gives_the_ratio_of_its_two_windows() -> None:
    assert bracketed_ratios(rounds_of((12.0, 10.0))) == [1.2]
    assert bracketed_ratios(rounds_of((None, 10.0))) == []
    assert bracketed_ratios(rounds_of((12.0, None))) == []


def test_a_window_without_a_p50_gives_no_ratio_nor_one_beside_it() -> None:
    # sequence on 10, off None, on 14, off 10, on 12, off 8: off 10 (between on 14 and 12) and on 12 (off 10, 8)
    assert bracketed_ratios(rounds_of((10.0, None), (14.0, 10.0), (12.0, 8.0))) == pytest.approx(
        [13.0 / 10.0, 12.0 / 9.0])
    # sequence on 10, off 8, on None, off 10, on 12, off 8: only on 12 (between off 10 and 8)
    assert bracketed_ratios(rounds_of((10.0, 8.0), (None, 10.0), (12.0, 8.0))) == pytest.approx([12.0 / 9.0])


def test_the_spread_is_the_range_over_the_median() -> None:
    assert relative_spread([40.0, 50.0, 42.0]) == pytest.approx(10.0 / 42.0)
    assert relative_spread([40.0, None, 50.0, 60.0]) == pytest.approx(20.0 / 50.0)
    assert relative_spread([40.0, None]) is None
    assert relative_spread([]) is None


def test_opt_in_figures_take_the_median_ratio_and_the_noisier_settings_spread() -> None:
    figures = opt_in_figures(rounds_of((10.0, 8.0), (14.0, 10.0), (11.0, 9.0)))
    # sequence on 10, off 8, on 14, off 10, on 11, off 9
    ratios = [12.0 / 8.0, 14.0 / 9.0, 12.5 / 10.0, 11.0 / 9.5]
    assert figures["window_ratios"] == pytest.approx(ratios)
    assert figures["enabled_over_disabled"] == pytest.approx((12.0 / 8.0 + 12.5 / 10.0) / 2)
    assert figures["ratio_range"] == pytest.approx([11.0 / 9.5, 14.0 / 9.0])
    assert (figures["enabled_p50_ms"], figures["disabled_p50_ms"]) == (11.0, 9.0)
    assert figures["noise"] == pytest.approx(4.0 / 11.0)  # on: 10..14 over 11; off: 8..10 over 9
    assert figures["within_noise"] is False  # 1.375 is further from 1 than 0.36


def test_a_ratio_within_the_noise_is_unchanged_and_one_just_outside_is_not() -> None:
    assert opt_in_figures(rounds_of((10.0, 10.0), (12.0, 12.5), (11.0, 10.0)))["within_noise"] is True
    figures = opt_in_figures(rounds_of((11.0, 10.0), (11.0, 10.0), (11.0, 10.5)))
    assert (figures["enabled_over_disabled"], figures["noise"]) == pytest.approx((1.1, 0.05))
    assert figures["within_noise"] is False


def test_a_ratio_as_far_below_one_as_above_is_judged_the_same() -> None:
    figures = opt_in_figures(rounds_of((6.0, 10.0), (4.0, 8.0)))  # ratios 5/10 and 4/9; on's spread 2/5
    assert (figures["enabled_over_disabled"], figures["noise"]) == pytest.approx(((0.5 + 4 / 9) / 2, 0.4))
    assert figures["within_noise"] is False


def test_a_ratio_exactly_the_noise_away_from_one_is_within_it() -> None:
    above = opt_in_figures(rounds_of((6.0, 6.0), (10.0, 6.0)))  # ratios 8/6 and 10/6; on's spread 4/8
    assert (above["enabled_over_disabled"], above["noise"], above["within_noise"]) == (1.5, 0.5, True)
    below = opt_in_figures(rounds_of((6.0, 10.0), (4.0, 6.0)))  # ratios 5/10 and 4/8; on's spread 2/5, off's 4/8
    assert (below["enabled_over_disabled"], below["noise"], below["within_noise"]) == (0.5, 0.5, True)


def test_without_a_second_round_there_is_no_noise_and_no_verdict() -> None:
    figures = opt_in_figures(rounds_of((12.0, 10.0)))
    assert figures["enabled_over_disabled"] == pytest.approx(1.2)
    assert (figures["noise"], figures["within_noise"]) == (None, None)
    empty = opt_in_figures(rounds_of((None, None), (None, None)))
    assert (empty["enabled_over_disabled"], empty["ratio_range"], empty["within_noise"]) == (None, None, None)


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


def test_the_explanations_switch_changes_only_the_classifiers_user_config_of_a_copy() -> None:
    config = {"applications": [{"name": "imgclf", "deployments": [
        {"name": "Classifier", "user_config": {"model": "digits-*", "max_batch_size": 16}},
        {"name": "Api", "user_config": {"max_top_k": 100}}]}]}
    before = copy.deepcopy(config)
    off = explanations_config(config, False)
    assert config == before
    assert deployment(off, "Classifier")["user_config"] == {"model": "digits-*", "max_batch_size": 16,
                                                             "explanations": False}
    assert deployment(off, "Api") == deployment(config, "Api")
    assert deployment(explanations_config(config, True), "Classifier")["user_config"]["explanations"] is True


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
        "default_model": "digits-vgg16", "round_count": 3, "measure_s": 5.0, "calls": 15, "inference": inference,
        "models": models, "refusal_when_off": {"status": 400, "code": "no_explanation"},
        "opt_in": {"enabled_p50_ms": 41.25, "disabled_p50_ms": 40.0, "enabled_over_disabled": 1.0312,
                   "ratio_range": [0.981, 1.052], "noise": 0.0849, "within_noise": True,
                   "pooled": {"enabled": {"cpu_ms_per_request": {"classifier": 20.04}},
                              "disabled": {"cpu_ms_per_request": {"classifier": 19.96}}}},
    }


def test_the_table_shows_the_opt_in_ratio_with_its_noise_and_each_models_p50s() -> None:
    lines = rows(section_result("openvino"))
    assert lines[:6] == [
        ("classify p50 ms c1, explanations on / off (digits-vgg16, 3+3 windows × 5 s)", "41.2 / 40.0"),
        ("classify p50 on ÷ off (median over bracketed windows, their range)", "1.03 (0.98–1.05)"),
        ("round-to-round spread of a setting's p50 (noise)", "0.08"),
        ("on ÷ off within 1 ± noise", "yes"),
        ("Classifier CPU ms per classify, on / off", "20.0 / 20.0"),
        ("/v1/explain with explanations off", "400 no_explanation"),
    ]
    assert lines[6:] == [
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
    assert len(lines) == 6 + len(MODELS)


def test_the_verdict_and_missing_figures_read_plainly() -> None:
    result = section_result("tensorflow")
    result["opt_in"] |= {"within_noise": False, "ratio_range": None, "noise": None, "enabled_over_disabled": None}
    values = dict(rows(result))
    assert values["on ÷ off within 1 ± noise"] == "NO"
    assert values["classify p50 on ÷ off (median over bracketed windows, their range)"] == "n/a (n/a–n/a)"
    result["opt_in"]["within_noise"] = None
    assert dict(rows(result))["on ÷ off within 1 ± noise"] == "n/a"


def test_failures_name_each_route_and_status_that_was_not_a_200() -> None:
    figures = {"classify": timed(10.0, {"200": 14, "503": 1}), "explain": timed(None, {"400": 15}),
               "first_explain_status": 200}
    assert failures(figures) == " (classify: 503×1, explain: 400×15)"
    assert failures({**figures, "classify": timed(10.0, {"200": 15}), "explain": timed(5.0, {"200": 15})}) == ""
