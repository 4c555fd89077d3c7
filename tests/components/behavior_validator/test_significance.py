"""The group-level significance tests and Holm's correction, against direct computations."""
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


def test_recall_below_floor_without_a_group_effect_is_the_exact_binomial():
    # One positive per group, recall 0: no variance between groups, design effect 1.
    out = significance.recall_below_floor([0] * 34, [1] * 34, 0.1)
    assert out["design_effect"] == 1 and out["p_value"] == pytest.approx(0.9 ** 34)
    # Groups of equal recall: the group-level variance is below the binomial one, floored at 1.
    out = significance.recall_below_floor([1] * 20, [4] * 20, 0.4)
    assert out["design_effect"] == 1
    assert out["p_value"] == pytest.approx(stats.binom.cdf(20, 80, 0.4))
    low, high = out["recall_ci95"]
    assert (low, high) == pytest.approx((stats.beta.ppf(0.025, 20, 61), stats.beta.ppf(0.975, 21, 60)))
    assert significance.recall_below_floor([0] * 10, [1] * 10, 0.0)["p_value"] == 1.0


def test_recall_below_floor_counts_days_not_flights():
    """Recall 0.25 on 400 positives over 8 days: on 400 independent flights far below a floor of 0.4;
    but the hits sit on 2 days (0 on the others), so the evidence is ~8 days' worth."""
    clustered = significance.recall_below_floor([50, 50, 0, 0, 0, 0, 0, 0], [50] * 8, 0.4)
    spread = significance.recall_below_floor([13, 12] * 4, [50] * 8, 0.4)
    assert spread["p_value"] == pytest.approx(stats.binom.cdf(100, 400, 0.4)) and spread["p_value"] < 1e-9
    # residuals tp - 0.25 * 50: 37.5 on 2 days, -12.5 on 6; cluster-robust variance over binomial variance
    assert clustered["design_effect"] == pytest.approx(8 / 7 * (2 * 37.5 ** 2 + 6 * 12.5 ** 2) / 400 ** 2
                                                       / (0.25 * 0.75 / 400))
    assert clustered["effective_positives"] == pytest.approx(400 / clustered["design_effect"])
    assert clustered["p_value"] > 0.05


def test_recall_drop_bootstrap_is_seeded_and_centred_on_the_drop():
    # One positive per group: both, baseline only, candidate only, neither: drop 0.2.
    tables = [[1, 0, 0, 0]] * 50 + [[0, 1, 0, 0]] * 30 + [[0, 0, 1, 0]] * 10 + [[0, 0, 0, 1]] * 10
    a = significance.recall_drop_bootstrap(tables, margin=0.05, resamples=4000, seed=0, key="UA")
    assert a == significance.recall_drop_bootstrap(tables, margin=0.05, resamples=4000, seed=0, key="UA")
    assert a != significance.recall_drop_bootstrap(tables, margin=0.05, resamples=4000, seed=3, key="UA")
    assert a["recall_drop"] == pytest.approx(0.2) and a["groups"] == 100
    assert a["drop_ci95"][0] < 0.2 < a["drop_ci95"][1]
    # Normal approximation of the paired difference: se = sqrt((b + c)/n - drop^2) / sqrt(n).
    se = math.sqrt((30 + 10) / 100 - 0.2 ** 2) / 10
    assert a["p_value"] == pytest.approx(stats.norm.cdf((0.05 - 0.2) / se), abs=0.01)
    same = significance.recall_drop_bootstrap([[6, 0, 0, 4]] * 10, margin=0.0, resamples=100, seed=0, key="x")
    assert same["p_value"] == 1.0 and same["drop_ci95"] == [0.0, 0.0]


def _day_effect_tables(per_positive: bool):
    """10 days of 40 positives: on 5 days the candidate misses 20 the baseline finds (drop 0.5), on
    the other 5 it finds 10 the baseline misses and misses 4 (drop -0.15); overall drop 0.175."""
    days = [[20, 20, 0, 0]] * 5 + [[20, 4, 10, 6]] * 5
    if not per_positive:
        return days
    return [[int(k == i) for k in range(4)] for day in days for i in range(4) for _ in range(day[i])]


def test_day_blocks_matter_a_shared_day_effect_is_not_significant():
    """The known answer: resampling flights treats 400 positives as independent and finds the 0.175
    drop significantly above the 0.05 margin; resampling days sees 10 days, half of them better for
    the candidate, and does not."""
    flights = significance.recall_drop_bootstrap(_day_effect_tables(True), 0.05, 10_000, 0, "EV")
    days = significance.recall_drop_bootstrap(_day_effect_tables(False), 0.05, 10_000, 0, "EV")
    assert flights["recall_drop"] == days["recall_drop"] == pytest.approx(0.175)
    assert flights["groups"] == 400 and days["groups"] == 10
    # Flights: se = sqrt((120 + 50)/400 - 0.175^2) / 20 = 0.0314, z = 3.98.
    assert flights["p_value"] < 0.001
    # Days: a resample of 10 days holding k bad days has drop (0.5 k - 0.15 (10 - k)) / 10 <= 0.05
    # iff k <= 3, and k ~ Binomial(10, 1/2): p = P(k <= 3) = 176 / 1024.
    assert days["p_value"] == pytest.approx(176 / 1024, abs=0.01)
    width = lambda r: r["drop_ci95"][1] - r["drop_ci95"][0]  # noqa: E731
    assert width(days) > 2.5 * width(flights)


def test_mean_delta_with_one_example_per_group_is_the_paired_t_test():
    rng = np.random.default_rng(3)
    deltas = rng.normal(-0.01, 0.05, size=200)
    out = significance.mean_delta_below(np.ones(200), deltas, 1e-6)
    assert out["p_value"] == pytest.approx(stats.ttest_1samp(deltas, -1e-6, alternative="less").pvalue)
    assert out["groups"] == 200
    # A model ignoring the feature: float32 rounding noise around zero is not a decrease.
    noise = rng.normal(-1e-8, 1e-8, size=500)
    assert significance.mean_delta_below(np.ones(500), noise, 1e-6)["p_value"] > 0.99
    assert significance.mean_delta_below([1] * 500, [0.0] * 500, 1e-6)["p_value"] == 1.0
    assert significance.mean_delta_below([1] * 500, [-0.1] * 500, 1e-6)["p_value"] == 0.0


def test_mean_delta_over_days_is_the_t_test_of_day_means():
    """Equal-sized days: the group-level test is the t-test over the 8 day means, not over the 800
    flights."""
    rng = np.random.default_rng(5)
    day_means = rng.normal(-0.004, 0.01, size=8)
    flights = day_means[:, None] + rng.normal(0, 0.001, size=(8, 100))
    out = significance.mean_delta_below([100] * 8, flights.sum(axis=1), 0.0)
    means = flights.mean(axis=1)
    se = means.std(ddof=1) / math.sqrt(8)
    assert out["t"] == pytest.approx(means.mean() / se)
    assert out["p_value"] == pytest.approx(stats.t.cdf(means.mean() / se, 7))
    per_flight = significance.mean_delta_below(np.ones(800), flights.ravel(), 0.0)
    assert per_flight["p_value"] < 1e-6 < out["p_value"]


def _histograms(scores, labels, groups, buckets=1000):
    n_groups = max(groups) + 1
    pos, neg = np.zeros((n_groups, buckets)), np.zeros((n_groups, buckets))
    for s, y, g in zip(scores, labels, groups):
        (pos if y else neg)[g, min(buckets - 1, int(s * buckets))] += 1
    return pos, neg


def _bucketed_auc(scores, labels, buckets=1000):
    b = np.minimum(buckets - 1, (np.asarray(scores) * buckets).astype(int))
    y = np.asarray(labels, dtype=bool)
    return stats.mannwhitneyu(b[y], b[~y]).statistic / (y.sum() * (~y).sum())


def test_auc_drop_bootstrap_point_estimates_are_the_bucketed_mann_whitney_auc():
    rng = np.random.default_rng(11)
    labels = rng.random(600) < 0.3
    groups = rng.integers(0, 12, size=600)
    good = np.clip(rng.normal(0.4 + 0.25 * labels, 0.15), 0, 1)
    noisy = np.clip(good + rng.normal(0, 0.2, size=600), 0, 1)
    out = significance.auc_drop_bootstrap(*_histograms(noisy, labels, groups), *_histograms(good, labels, groups),
                                          margin=0.01, resamples=2000, seed=0)
    assert out["auc"] == pytest.approx(_bucketed_auc(noisy, labels))
    assert out["baseline_auc"] == pytest.approx(_bucketed_auc(good, labels))
    assert out["auc_drop"] == pytest.approx(out["baseline_auc"] - out["auc"]) and out["groups"] == 12
    assert out["drop_ci95"][0] < out["auc_drop"] < out["drop_ci95"][1]
    assert out["auc_drop"] > 0.1 and out["p_value"] < 0.001  # a truly worse candidate fails
    same = significance.auc_drop_bootstrap(*_histograms(good, labels, groups), *_histograms(good, labels, groups),
                                           margin=0.0, resamples=500, seed=0)
    assert same["auc_drop"] == 0 and same["drop_ci95"] == [0.0, 0.0] and same["p_value"] == 1.0
    with pytest.raises(ValueError, match="same examples"):
        significance.auc_drop_bootstrap(*_histograms(good, labels, groups),
                                        *_histograms(good[:-1], labels[:-1], groups[:-1]),
                                        margin=0.0, resamples=10, seed=0)
