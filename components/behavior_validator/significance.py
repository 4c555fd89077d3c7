"""Significance tests of the behaviour checks that decide on a difference, and Holm's correction.

Examples are not independent: those of one group (e.g. the flights of one day, which share weather and
delay cascades) move together. Every test therefore treats the GROUP as the unit of evidence: its
inputs are per-group sums, bootstraps resample whole groups, t-tests use a group-level (cluster-robust)
variance with groups - 1 degrees of freedom. With one example per group each test is the classic
per-example test.

All tests are one-sided: a small p-value is evidence of a problem (recall below the floor, recall or
AUC lower than the baseline's by more than the margin, a prediction lowered by a perturbation). Every
test of one validation is one family: Holm's step-down procedure keeps the probability that a model
without any such problem fails one of them at <= alpha.
"""
import math
import zlib
from typing import Any, Dict, Iterator, List, Mapping, Sequence

import numpy as np
from scipy import special, stats

_CI = 0.95  # level of the intervals reported next to each test
_CHUNK = 2000  # bootstrap resamples drawn at a time (memory: chunk x groups)


def holm_adjust(p_values: Sequence[float]) -> List[float]:
    """Holm-adjusted p-values, in the input order: reject test i at level alpha iff adjusted[i] <= alpha."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def add_adjusted(tests: Mapping[Any, Dict[str, Any]]) -> None:
    """Sets `p_adjusted` (Holm, over all of `tests`) in each test's figures."""
    keys = list(tests)
    for key, adjusted in zip(keys, holm_adjust([tests[k]["p_value"] for k in keys])):
        tests[key]["p_adjusted"] = adjusted


def _rng(seed: int, key: str) -> np.random.Generator:
    """A generator per (seed, test): a test's result does not depend on the other tests."""
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])


def group_resamples(groups: int, resamples: int, seed: int, key: str) -> Iterator[np.ndarray]:
    """Block bootstrap weights: chunks of rows, each row how often each of `groups` groups is drawn when
    `groups` groups are drawn with replacement (`resamples` rows in all)."""
    rng = _rng(seed, key)
    probabilities = np.full(groups, 1.0 / groups)
    for start in range(0, resamples, _CHUNK):
        yield rng.multinomial(groups, probabilities, size=min(_CHUNK, resamples - start)).astype(np.float64)


def _interval(values: np.ndarray) -> List[float]:
    half = (1 - _CI) / 2
    low, high = np.quantile(values, [half, 1 - half])
    return [float(low), float(high)]


def _bootstrap_p(exceeds: int, resamples: int) -> float:
    """p = (1 + #{resampled statistic <= margin}) / (1 + resamples), from the count of resamples that
    exceed the margin."""
    return (1 + resamples - exceeds) / (1 + resamples)


# ----------------------------------------------------------------------------------------------
# Slice recall against a floor


def recall_below_floor(true_positives: Sequence[int], positives: Sequence[int], floor: float) -> Dict[str, Any]:
    """Test of H0: recall >= floor, from per-group true positives and positives.

    Exact binomial on the effective number of positives (Korn and Graubard's Clopper-Pearson for
    clustered samples): positives / design effect, where the design effect is the group-level
    (cluster-robust) variance of the recall over the binomial variance, never below 1. Without a group
    effect this is the exact binomial test p = P(X <= tp), X ~ Binomial(positives, floor).
    """
    tp = np.asarray(true_positives, dtype=np.float64)
    pos = np.asarray(positives, dtype=np.float64)
    n, k, g = float(pos.sum()), float(tp.sum()), int(np.count_nonzero(pos))
    recall = k / n
    deff = 1.0
    if g > 1 and 0 < recall < 1:
        residuals = tp - recall * pos
        clustered = g / (g - 1) * float(np.sum(residuals ** 2)) / n ** 2
        deff = max(1.0, clustered / (recall * (1 - recall) / n))
    n_eff = n / deff
    k_eff = recall * n_eff
    if floor <= 0 or k_eff >= n_eff:
        p = 1.0
    else:  # P(X <= k) = I_{1-floor}(n - k, k + 1), continuous in n and k
        p = float(special.betainc(n_eff - k_eff, k_eff + 1, 1 - floor))
    half = (1 - _CI) / 2
    low = 0.0 if k_eff == 0 else float(stats.beta.ppf(half, k_eff, n_eff - k_eff + 1))
    high = 1.0 if k_eff >= n_eff else float(stats.beta.ppf(1 - half, k_eff + 1, n_eff - k_eff))
    return {"recall_ci95": [low, high], "p_value": p, "groups": g, "design_effect": deff,
            "effective_positives": n_eff}


# ----------------------------------------------------------------------------------------------
# Slice recall versus the baseline


def recall_drop_bootstrap(tables: Sequence[Sequence[int]], margin: float, resamples: int, seed: int,
                          key: str) -> Dict[str, Any]:
    """Paired block bootstrap of drop = baseline recall - candidate recall over a slice's positives.

    `tables` has one row per group: positives found by both models, by the baseline only, by the
    candidate only, by neither. Resampling groups with replacement keeps each group's positives
    together (and paired: both models are scored on the same examples). H0: drop <= margin;
    p = (1 + #{resampled drop <= margin}) / (1 + resamples).
    """
    t = np.asarray(tables, dtype=np.float64).reshape(-1, 4)
    t = t[t.sum(axis=1) > 0]  # groups without a positive of the slice carry no information
    n = float(t.sum())
    drop = float(t[:, 1].sum() - t[:, 2].sum()) / n
    per_group_diff, per_group_pos = t[:, 1] - t[:, 2], t.sum(axis=1)
    drops, exceeds = [], 0
    for w in group_resamples(len(t), resamples, seed, key):
        diff, pos = w @ per_group_diff, w @ per_group_pos
        # Compared in counts (diff is an integer) so that a drop exactly at the margin counts as <=.
        exceeds += int(np.sum(diff > margin * pos + 1e-9))
        drops.append(diff / pos)
    return {"recall_drop": drop, "drop_ci95": _interval(np.concatenate(drops)),
            "p_value": _bootstrap_p(exceeds, resamples), "groups": len(t)}


# ----------------------------------------------------------------------------------------------
# AUC versus the baseline


def auc_pair_matrix(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """A[g, h]: pairs (positive of group g, negative of group h) ranked correctly, ties counting 1/2,
    from per-group score histograms (groups x buckets, bucket order = score order)."""
    below = np.cumsum(negatives, axis=1) - negatives
    return positives @ (below + 0.5 * negatives).T


def _weighted_auc(w: np.ndarray, pairs: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """AUC of each weighting (rows of w) of the groups: w A w' / ((w . pos) (w . neg))."""
    return np.einsum("rg,rg->r", w @ pairs, w) / ((w @ pos) * (w @ neg))


def auc_drop_bootstrap(candidate_positives, candidate_negatives, baseline_positives, baseline_negatives,
                       margin: float, resamples: int, seed: int, key: str = "auc") -> Dict[str, Any]:
    """Paired block bootstrap of drop = baseline AUC - candidate AUC.

    Each argument is a groups x buckets array: per group, how many positive (negative) examples a
    model scored in each bucket of score (buckets in score order; a tie within a bucket counts 1/2).
    Both models are scored on the same examples and the same groups are drawn for both.
    H0: drop <= margin (the candidate is not worse than the baseline by more than the margin);
    p = (1 + #{resampled drop <= margin}) / (1 + resamples).
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in (candidate_positives, candidate_negatives,
                                                       baseline_positives, baseline_negatives)]
    pos, neg = arrays[0].sum(axis=1), arrays[1].sum(axis=1)
    if not np.allclose(pos, arrays[2].sum(axis=1)) or not np.allclose(neg, arrays[3].sum(axis=1)):
        raise ValueError("candidate and baseline histograms must count the same examples per group")
    candidate_pairs = auc_pair_matrix(arrays[0], arrays[1])
    baseline_pairs = auc_pair_matrix(arrays[2], arrays[3])
    ones = np.ones((1, len(pos)))
    auc = float(_weighted_auc(ones, candidate_pairs, pos, neg)[0])
    baseline_auc = float(_weighted_auc(ones, baseline_pairs, pos, neg)[0])
    drops, exceeds = [], 0
    for w in group_resamples(len(pos), resamples, seed, key):
        with np.errstate(invalid="ignore", divide="ignore"):
            d = _weighted_auc(w, baseline_pairs, pos, neg) - _weighted_auc(w, candidate_pairs, pos, neg)
        d = np.where(np.isfinite(d), d, 0.0)  # a resample without positives or negatives: no evidence
        exceeds += int(np.sum(d > margin + 1e-12))
        drops.append(d)
    return {"auc": auc, "baseline_auc": baseline_auc, "auc_drop": baseline_auc - auc,
            "drop_ci95": _interval(np.concatenate(drops)), "p_value": _bootstrap_p(exceeds, resamples),
            "groups": len(pos)}


# ----------------------------------------------------------------------------------------------
# Directional expectations


def mean_delta_below(examples: Sequence[int], sums: Sequence[float], tolerance: float) -> Dict[str, Any]:
    """One-sided t-test of H0: mean prediction change >= -tolerance, from per-group example counts and
    sums of deltas (perturbed minus original prediction).

    The mean is sum / examples; its variance is the group-level (cluster-robust) one,
    G / (G - 1) * sum_g (S_g - mean n_g)^2 / N^2, with G - 1 degrees of freedom. With one example per
    group this is the paired t-test over examples.
    """
    n_g = np.asarray(examples, dtype=np.float64)
    s_g = np.asarray(sums, dtype=np.float64)
    keep = n_g > 0
    n_g, s_g = n_g[keep], s_g[keep]
    groups, n = len(n_g), float(n_g.sum())
    mean = float(s_g.sum()) / n
    if not math.isfinite(mean):
        return {"mean_delta_ci95": [None, None], "t": None, "p_value": 0.0, "groups": groups}
    se = (math.sqrt(groups / (groups - 1) * float(np.sum((s_g - mean * n_g) ** 2))) / n
          if groups > 1 else 0.0)
    if se == 0.0:
        return {"mean_delta_ci95": [mean, mean], "t": None,
                "p_value": 0.0 if mean < -tolerance else 1.0, "groups": groups}
    t = (mean + tolerance) / se
    q = float(stats.t.ppf(1 - (1 - _CI) / 2, groups - 1))
    return {"mean_delta_ci95": [mean - q * se, mean + q * se], "t": t,
            "p_value": float(stats.t.cdf(t, groups - 1)), "groups": groups}
