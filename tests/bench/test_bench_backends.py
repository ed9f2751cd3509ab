"""The backends section's arithmetic: each path's speed-up over TensorFlow fp32, the best path, and the targets."""

from __future__ import annotations

import math

from bench.backends import (
    TARGET_MAX_DROP_POINTS,
    TARGET_MIN_AGREEMENT,
    TARGET_SPEEDUP_VNNI,
    against_tensorflow_fp32,
    best_path,
    meets_targets,
    speedup_target,
)


def test_each_paths_speed_is_set_against_tensorflow_fp32() -> None:
    assert against_tensorflow_fp32({"tensorflow-fp32": 8.0, "openvino-int8": 28.0, "tensorflow-bf16": 6.0}) == {
        "tensorflow-fp32": {"images_per_s": 8.0, "vs_tensorflow_fp32": 1.0},
        "openvino-int8": {"images_per_s": 28.0, "vs_tensorflow_fp32": 3.5},
        "tensorflow-bf16": {"images_per_s": 6.0, "vs_tensorflow_fp32": 0.75},
    }


def test_the_best_path_has_the_highest_speedup_and_the_first_wins_a_tie() -> None:
    speedups = {"tensorflow-fp32": 1.0, "tensorflow-bf16": 1.2, "openvino-fp32": 2.0, "openvino-bf16": 2.0,
                "openvino-int8": 1.9}
    figures = {path: {"vs_tensorflow_fp32": value} for path, value in speedups.items()}
    assert best_path(figures) == "openvino-fp32"
    figures["openvino-int8"]["vs_tensorflow_fp32"] = 2.1
    assert best_path(figures) == "openvino-int8"


def test_the_speedup_target_is_higher_where_int8_runs_natively() -> None:
    assert speedup_target(True) == 3.5
    assert speedup_target(False) == 2.0


def test_targets_just_met_and_just_missed() -> None:
    int8 = {"accuracy_drop_points": TARGET_MAX_DROP_POINTS, "label_agreement_with_fp32": TARGET_MIN_AGREEMENT}
    assert meets_targets(TARGET_SPEEDUP_VNNI, int8, TARGET_SPEEDUP_VNNI)
    assert not meets_targets(math.nextafter(TARGET_SPEEDUP_VNNI, 0), int8, TARGET_SPEEDUP_VNNI)
    assert not meets_targets(TARGET_SPEEDUP_VNNI, int8 | {"accuracy_drop_points": math.nextafter(
        TARGET_MAX_DROP_POINTS, math.inf)}, TARGET_SPEEDUP_VNNI)
    assert not meets_targets(TARGET_SPEEDUP_VNNI, int8 | {"label_agreement_with_fp32": math.nextafter(
        TARGET_MIN_AGREEMENT, 0)}, TARGET_SPEEDUP_VNNI)
