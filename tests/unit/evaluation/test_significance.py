"""Bootstrap intervals of accuracy and McNemar's test on paired answers."""

import numpy as np
import pytest

from imgclf.evaluation.significance import accuracy_interval, mcnemar


def test_the_interval_holds_the_accuracy_and_narrows_with_more_rows():
    rng = np.random.default_rng(1)
    small, large = rng.random(60) < 0.8, rng.random(6000) < 0.8
    low, high = accuracy_interval(small, seed=0)
    assert low < small.mean() < high
    large_low, large_high = accuracy_interval(large, seed=0)
    assert large_high - large_low < (high - low) / 5
    assert large_low < 0.8 < large_high


def test_the_interval_is_reproducible_with_its_seed():
    correct = np.arange(50) % 3 != 0
    assert accuracy_interval(correct, seed=4) == accuracy_interval(correct, seed=4)


def test_all_right_has_no_spread():
    assert accuracy_interval(np.ones(30, bool), seed=0) == (1.0, 1.0)


def test_mcnemar_counts_only_the_files_one_model_got_right():
    first = np.array([True] * 12 + [False] * 1 + [True] * 50)
    second = np.array([False] * 12 + [True] * 1 + [True] * 50)
    result = mcnemar(first, second)
    assert (result["only_first_correct"], result["only_second_correct"]) == (12, 1)
    assert result["p_value"] == pytest.approx(2 * (1 + 13) / 2**13)  # exact two-sided binomial, 1 of 13
    assert result["significant"]


def test_mcnemar_sees_no_difference_in_identical_or_balanced_answers():
    same = np.array([True, False, True])
    assert mcnemar(same, same) == {"only_first_correct": 0, "only_second_correct": 0, "p_value": 1.0,
                                   "significant": False}
    assert not mcnemar(np.array([True, False] * 5), np.array([False, True] * 5))["significant"]
