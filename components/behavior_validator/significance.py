"""Significance tests of the slice and directional checks, and Holm's correction across them.

All tests are one-sided: a small p-value is evidence of a problem (recall below the floor, recall
lower than the baseline's by more than the margin, a prediction lowered by a perturbation). Every
test of one validation is one family: Holm's step-down procedure keeps the probability that a model
without any such problem fails one of them at <= alpha.
"""
import math
import zlib
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np
from scipy import stats

_CI = 0.95  # level of the intervals reported next to each test


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


def recall_below_floor(true_positives: int, positives: int, floor: float) -> Dict[str, Any]:
    """Exact binomial test of H0: recall >= floor; p = P(X <= tp), X ~ Binomial(positives, floor).
    Also the Clopper-Pearson interval of the recall."""
    p = 1.0 if floor <= 0 else float(stats.binom.cdf(true_positives, positives, floor))
    half = (1 - _CI) / 2
    low = 0.0 if true_positives == 0 else float(stats.beta.ppf(half, true_positives,
                                                                 positives - true_positives + 1))
    high = 1.0 if true_positives == positives else float(stats.beta.ppf(1 - half, true_positives + 1,
                                                                          positives - true_positives))
    return {"recall_ci95": [low, high], "p_value": p}


def _rng(seed: int, key: str) -> np.random.Generator:
    """A generator per (seed, slice): a slice's result does not depend on the other slices."""
    return np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])


def recall_drop_bootstrap(both: int, baseline_only: int, candidate_only: int, neither: int,
                          margin: float, resamples: int, seed: int, key: str) -> Dict[str, Any]:
    """Paired bootstrap over a slice's positives of drop = baseline recall - candidate recall.

    Each positive example is one of: found by both models, by the baseline only, by the candidate
    only, by neither; resampling the positives with replacement is drawing these four counts from a
    multinomial. H0: drop <= margin; p = (1 + #{resampled drop <= margin}) / (1 + resamples).
    """
    counts = np.array([both, baseline_only, candidate_only, neither], dtype=np.int64)
    n = int(counts.sum())
    drop = (baseline_only - candidate_only) / n
    draws = _rng(seed, key).multinomial(n, counts / n, size=resamples)
    drops = (draws[:, 1] - draws[:, 2]) / n
    half = (1 - _CI) / 2
    low, high = np.quantile(drops, [half, 1 - half])
    # Compared in counts (drop * n is an integer) so that a drop exactly at the margin counts as <=.
    p = (1 + int(np.sum(draws[:, 1] - draws[:, 2] <= margin * n + 1e-9))) / (1 + resamples)
    return {"recall_drop": drop, "drop_ci95": [float(low), float(high)], "p_value": p}


def mean_delta_below(examples: int, mean: float, std: float, tolerance: float) -> Dict[str, Any]:
    """One-sided paired t-test over examples of H0: mean prediction change >= -tolerance
    (deltas are per example: perturbed minus original prediction)."""
    se = std / math.sqrt(examples) if examples > 1 else 0.0
    if not math.isfinite(mean) or not math.isfinite(se):
        return {"mean_delta_ci95": [None, None], "t": None, "p_value": 0.0}
    if se == 0.0:
        return {"mean_delta_ci95": [mean, mean], "t": None,
                "p_value": 0.0 if mean < -tolerance else 1.0}
    t = (mean + tolerance) / se
    q = float(stats.t.ppf(1 - (1 - _CI) / 2, examples - 1))
    return {"mean_delta_ci95": [mean - q * se, mean + q * se], "t": t,
            "p_value": float(stats.t.cdf(t, examples - 1))}


def add_adjusted(tests: Mapping[Any, Dict[str, Any]]) -> None:
    """Sets `p_adjusted` (Holm, over all of `tests`) in each test's figures."""
    keys = list(tests)
    for key, adjusted in zip(keys, holm_adjust([tests[k]["p_value"] for k in keys])):
        tests[key]["p_adjusted"] = adjusted
