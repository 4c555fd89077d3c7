"""The significance tests and Holm's correction, against direct computations."""
import math

import numpy as np
import pytest
from scipy import stats

from components.behavior_validator import significance


def test_holm_adjusted_p_values():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, 2*0.03, 1*0.04, made monotone
    assert significance.holm_adjust(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert significance.holm_adjust([0.9, 0.8]) == pytest.approx([1.0, 1.0])
    assert significance.holm_adjust([]) == []


def test_recall_below_floor_is_the_binomial_tail():
    out = significance.recall_below_floor(3, 40, 0.2)
    assert out["p_value"] == pytest.approx(sum(math.comb(40, k) * 0.2 ** k * 0.8 ** (40 - k)
                                               for k in range(4)))
    low, high = out["recall_ci95"]
    assert low < 3 / 40 < high
    assert significance.recall_below_floor(0, 10, 0.0)["p_value"] == 1.0


def test_recall_drop_bootstrap_is_seeded_and_centred_on_the_drop():
    args = (50, 30, 10, 10)  # both, baseline only, candidate only, neither: drop 0.2
    a = significance.recall_drop_bootstrap(*args, margin=0.05, resamples=4000, seed=0, key="UA")
    assert a == significance.recall_drop_bootstrap(*args, margin=0.05, resamples=4000, seed=0, key="UA")
    assert a != significance.recall_drop_bootstrap(*args, margin=0.05, resamples=4000, seed=3, key="UA")
    assert a["recall_drop"] == pytest.approx(0.2)
    assert a["drop_ci95"][0] < 0.2 < a["drop_ci95"][1]
    # Normal approximation of the paired difference: se = sqrt((b + c)/n - drop^2) / sqrt(n).
    se = math.sqrt((30 + 10) / 100 - 0.2 ** 2) / 10
    assert a["p_value"] == pytest.approx(stats.norm.cdf((0.05 - 0.2) / se), abs=0.01)
    same = significance.recall_drop_bootstrap(60, 0, 0, 40, margin=0.0, resamples=100, seed=0, key="x")
    assert same["p_value"] == 1.0 and same["drop_ci95"] == [0.0, 0.0]


def test_mean_delta_t_test():
    rng = np.random.default_rng(3)
    deltas = rng.normal(-0.01, 0.05, size=200)
    out = significance.mean_delta_below(200, float(deltas.mean()), float(deltas.std(ddof=1)), 1e-6)
    expected = stats.ttest_1samp(deltas, -1e-6, alternative="less").pvalue
    assert out["p_value"] == pytest.approx(expected)
    # A model ignoring the feature: float32 rounding noise around zero is not a decrease.
    assert significance.mean_delta_below(500, -1e-8, 1e-8, 1e-6)["p_value"] > 0.99
    assert significance.mean_delta_below(500, 0.0, 0.0, 1e-6)["p_value"] == 1.0
    assert significance.mean_delta_below(500, -0.1, 0.0, 1e-6)["p_value"] == 0.0
