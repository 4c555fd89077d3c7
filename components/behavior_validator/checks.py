"""Checks decided on the aggregated figures (aggregation.py): output range, invariance, directional
expectations, per-slice recall, and per-slice recall and AUC versus a baseline.

The last four decide with significance tests on groups of examples (significance.py), one
Holm-corrected family per validation: `statistical_tests` runs them, the check functions read their
verdicts from its result.
"""
import zlib
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from components.behavior_validator import constants as c
from components.behavior_validator import significance
from components.behavior_validator.config import BehaviorValidatorConfig
from components.behavior_validator.results import CheckResult


def _fmt(v: Optional[float]) -> str:
    return "n/a" if v is None else f"{v:.4g}"


def check_output_range(m: Mapping[str, Any]) -> CheckResult:
    r = m["range"]
    thresholds = {"min": 0.0, "max": 1.0, "allowed_out_of_range": 0, "allowed_non_finite": 0}
    if r["examples"] == 0:
        return CheckResult(c.CHECK_OUTPUT_RANGE, c.FAIL, "no eval examples were scored", r, thresholds)
    bad = r["out_of_range"] + r["non_finite"]
    verdict = c.PASS if bad == 0 else c.FAIL
    return CheckResult(
        c.CHECK_OUTPUT_RANGE, verdict,
        f"{bad} of {r['examples']} eval predictions outside [0, 1] or non-finite "
        f"(min {_fmt(r['min'])}, max {_fmt(r['max'])})", r, thresholds)


def check_invariance(m: Mapping[str, Any], cfg: BehaviorValidatorConfig) -> CheckResult:
    thresholds = {"max_abs_delta": cfg.invariance_tolerance}
    if not cfg.invariance_values:
        return CheckResult(c.CHECK_INVARIANCE, c.SKIPPED, "no invariance_values configured", {}, thresholds)
    rows, failed = [], []
    for feature in sorted(cfg.invariance_values):
        fig = m["invariance"].get(feature, {"examples": 0, "max_abs_delta": None,
                                            "mean_abs_delta": None})
        ok = fig["examples"] > 0 and fig["max_abs_delta"] <= cfg.invariance_tolerance
        if not ok:
            failed.append(feature)
        rows.append({"feature": feature, "replaced_by": cfg.invariance_values[feature], **fig,
                     "verdict": c.PASS if ok else c.FAIL})
    worst = max((r["max_abs_delta"] or 0.0 for r in rows), default=0.0)
    summary = (f"changing {', '.join(failed)} moves a prediction by up to {worst:.4g} "
               f"(> {cfg.invariance_tolerance})" if failed else
               f"max |prediction delta| {worst:.6g} <= {cfg.invariance_tolerance}")
    return CheckResult(c.CHECK_INVARIANCE, c.FAIL if failed else c.PASS, summary,
                       {"max_abs_delta": worst}, thresholds, rows)


Tests = Dict[Tuple[str, str], Dict[str, Any]]  # (check name, slice or perturbation) -> figures

# More groups than this are merged into this many blocks (by a hash of their key; a group is never
# split): resampling blocks of groups is still a block bootstrap, and its cost stays bounded.
MAX_GROUPS = 500


def _blocks(keys) -> Dict[str, int]:
    """Group key -> row index (0..blocks-1) of the per-group arrays."""
    keys = sorted(keys)
    if len(keys) <= MAX_GROUPS:
        return {k: i for i, k in enumerate(keys)}
    hashed = {k: zlib.crc32(k.encode("utf-8")) % MAX_GROUPS for k in keys}
    used = {b: i for i, b in enumerate(sorted(set(hashed.values())))}
    return {k: used[b] for k, b in hashed.items()}


def _per_group(groups: Mapping[str, Any], width: int, values) -> np.ndarray:
    """blocks x width array of the per-group figures values(group's figures), summed per block."""
    index = _blocks(groups)
    out = np.zeros((max(index.values(), default=-1) + 1, width), dtype=np.float64)
    for g, v in groups.items():
        out[index[g]] += values(v)
    return out


def _groups_with_positives(slice_figures: Mapping[str, Any]) -> int:
    return sum(1 for v in slice_figures["groups"].values() if v["positives"] > 0)


def _eligible_slices(m: Mapping[str, Any], cfg: BehaviorValidatorConfig):
    return {s: v for s, v in sorted(m["slices"].items())
            if v["examples"] >= cfg.min_slice_examples and v["positives"] >= cfg.min_slice_positives
            and _groups_with_positives(v) >= cfg.min_groups}


def _histograms(figures: Mapping[str, Any]) -> List[np.ndarray]:
    """The four groups x buckets arrays of aggregation.ScoreHistogramCombineFn's output."""
    buckets = figures["buckets"]

    def dense(name):
        def values(v):
            row = np.zeros(buckets)
            for bucket, count in v[name]:
                row[bucket] += count
            return row
        return _per_group(figures["groups"], buckets, values)
    return [dense(name) for name in c.SCORE_HISTOGRAMS]


def auc_testable(m: Mapping[str, Any], cfg: BehaviorValidatorConfig) -> Optional[str]:
    """None when the AUC test can run, else why not."""
    figures = m.get("score_histograms")
    if not figures:
        return "no baseline model"
    groups = figures["groups"]
    if len(groups) < cfg.min_groups:
        return f"{len(groups)} group(s) of {_group_name(cfg)}, fewer than min_groups {cfg.min_groups}"
    labels = [sum(c for _, c in v[name]) for v in groups.values()
              for name in ("candidate_positives", "candidate_negatives")]
    if not sum(labels[0::2]) or not sum(labels[1::2]):
        return "the eval examples have only one label"
    return None


def statistical_tests(m: Mapping[str, Any], cfg: BehaviorValidatorConfig, has_baseline: bool) -> Tests:
    """Every significance test of one validation, with raw and Holm-adjusted p-values: per evaluated
    perturbation (directional), per eligible slice (min recall; regression when there is a baseline),
    and the AUC versus the baseline. Every test is decided on groups (cfg.group_by_features)."""
    tests: Tests = {}
    for p in cfg.directional_perturbations:
        fig = m["directional"].get(p["name"])
        if fig and len(fig["groups"]) >= cfg.min_groups:
            per_group = _per_group(fig["groups"], 2, lambda v: [v["examples"], v["sum_delta"]])
            tests[(c.CHECK_DIRECTIONAL, p["name"])] = significance.mean_delta_below(
                per_group[:, 0], per_group[:, 1], cfg.directional_tolerance)
    for s, v in _eligible_slices(m, cfg).items():
        per_group = _per_group(v["groups"], 2, lambda g: [g["true_positives"], g["positives"]])
        tests[(c.CHECK_SLICE_RECALL, s)] = significance.recall_below_floor(
            per_group[:, 0], per_group[:, 1], cfg.min_slice_recall)
        if has_baseline:
            tables = _per_group(m["paired_slices"][s]["groups"], 4, lambda t: t)
            tests[(c.CHECK_SLICE_REGRESSION, s)] = significance.recall_drop_bootstrap(
                tables, cfg.slice_regression_tolerance, cfg.bootstrap_resamples, cfg.bootstrap_seed, s)
    if has_baseline and auc_testable(m, cfg) is None:
        tests[(c.CHECK_AUC_REGRESSION, "overall")] = significance.auc_drop_bootstrap(
            *_histograms(m["score_histograms"]), margin=cfg.auc_regression_tolerance,
            resamples=cfg.bootstrap_resamples, seed=cfg.bootstrap_seed)
    significance.add_adjusted(tests)
    return tests


def _significant(test: Mapping[str, Any], cfg: BehaviorValidatorConfig) -> bool:
    return test["p_adjusted"] <= cfg.alpha


def _family(cfg: BehaviorValidatorConfig, tests: Tests) -> Dict[str, Any]:
    return {"alpha": cfg.alpha, "correction": f"Holm over the {len(tests)} tests of this validation"}


def check_directional(m: Mapping[str, Any], cfg: BehaviorValidatorConfig, tests: Tests) -> CheckResult:
    rows, failed = [], []
    for p in cfg.directional_perturbations:
        fig = dict(m["directional"].get(p["name"], {"examples": 0, "mean_delta": None, "std_delta": None,
                                                    "mean_prediction": None, "share_lowered": None}))
        fig["groups"] = len(fig.get("groups") or {})
        test = tests.get((c.CHECK_DIRECTIONAL, p["name"]))
        if test is None:
            verdict = c.SKIPPED
        elif _significant(test, cfg):
            verdict = c.FAIL
            failed.append(p["name"])
        else:
            verdict = c.PASS
        rows.append({"perturbation": p["name"], "change": f"{p['feature']} {p['op']} {p['value']}",
                     **fig, **(test or {}), "verdict": verdict})
    thresholds = {"test": "one-sided t-test of the mean delta with the group-level (cluster-robust) variance, "
                          "groups - 1 degrees of freedom; H0: mean delta >= -tolerance",
                  "tolerance": cfg.directional_tolerance, **_grouping(cfg), **_family(cfg, tests)}
    evaluated = [r for r in rows if r["verdict"] != c.SKIPPED]
    figures = {"min_mean_delta": min(r["mean_delta"] for r in evaluated),
               "min_p_adjusted": min(r["p_adjusted"] for r in evaluated)} if evaluated else {}
    if failed:
        return CheckResult(c.CHECK_DIRECTIONAL, c.FAIL,
                           f"the perturbation significantly lowers the mean prediction (Holm-adjusted "
                           f"p <= {cfg.alpha}): {', '.join(failed)}", figures, thresholds, rows)
    if not evaluated:
        return CheckResult(c.CHECK_DIRECTIONAL, c.SKIPPED,
                           f"no perturbation (or none configured) changed eval examples of >= {cfg.min_groups} "
                           f"groups of {_group_name(cfg)}", figures, thresholds, rows)
    return CheckResult(c.CHECK_DIRECTIONAL, c.PASS,
                       "no perturbation significantly lowers the mean prediction (smallest mean change "
                       f"{figures['min_mean_delta']:+.4g}, smallest adjusted p {figures['min_p_adjusted']:.3g})",
                       figures, thresholds, rows)


def _group_name(cfg: BehaviorValidatorConfig) -> str:
    return "/".join(cfg.group_by_features)


def _grouping(cfg: BehaviorValidatorConfig) -> Dict[str, Any]:
    return {"group_by_features": cfg.group_by_features, "min_groups": cfg.min_groups}


def _slice_thresholds(cfg: BehaviorValidatorConfig, tests: Tests, test: str, **extra) -> Dict[str, Any]:
    return {"test": test, **extra, "min_slice_examples": cfg.min_slice_examples,
            "min_slice_positives": cfg.min_slice_positives, **_grouping(cfg),
            "decision_threshold": cfg.decision_threshold, **_family(cfg, tests)}


def check_slice_recall(m: Mapping[str, Any], cfg: BehaviorValidatorConfig, tests: Tests) -> CheckResult:
    thresholds = _slice_thresholds(
        cfg, tests, "exact binomial on the effective number of positives (positives / design effect of "
        "the groups, >= 1), H0: recall >= min_recall", min_recall=cfg.min_slice_recall)
    eligible = _eligible_slices(m, cfg)
    figures = {"overall_recall": m["overall"]["recall"], "slices": len(m["slices"]),
               "eligible_slices": len(eligible), "groups": len(m["overall"]["groups"])}
    rows, failed = [], []
    for s, v in sorted(m["slices"].items()):
        test = tests.get((c.CHECK_SLICE_RECALL, s), {})
        if s not in eligible:
            verdict = c.SKIPPED
        elif _significant(test, cfg):
            verdict = c.FAIL
            failed.append(s)
        else:
            verdict = c.PASS
        rows.append({cfg.slice_feature: s, "examples": v["examples"], "positives": v["positives"],
                     "groups_with_positives": _groups_with_positives(v), "recall": v["recall"], **test,
                     "verdict": verdict})
    if failed:
        return CheckResult(c.CHECK_SLICE_RECALL, c.FAIL,
                           f"recall significantly below {cfg.min_slice_recall} (Holm-adjusted p <= "
                           f"{cfg.alpha}) for {cfg.slice_feature} {', '.join(failed)}",
                           figures, thresholds, rows)
    if not eligible:
        return CheckResult(c.CHECK_SLICE_RECALL, c.SKIPPED,
                           f"no {cfg.slice_feature} slice has >= {cfg.min_slice_examples} examples "
                           f"and >= {cfg.min_slice_positives} positives in >= {cfg.min_groups} groups",
                           figures, thresholds, rows)
    worst = min(v["recall"] for v in eligible.values())
    return CheckResult(c.CHECK_SLICE_RECALL, c.PASS,
                       f"no {cfg.slice_feature} recall significantly below {cfg.min_slice_recall} over "
                       f"{len(eligible)} slices (lowest {worst:.4f})", figures, thresholds, rows)


def check_slice_regression(m: Mapping[str, Any], cfg: BehaviorValidatorConfig, tests: Tests,
                           has_baseline: bool) -> CheckResult:
    thresholds = _slice_thresholds(
        cfg, tests, "paired block bootstrap over groups (whole groups of the slice's positives drawn with "
        "replacement), H0: recall drop <= max_recall_drop; the candidate at the baseline's operating point "
        "(its threshold flags as many eval examples as the baseline does at decision_threshold)",
        max_recall_drop=cfg.slice_regression_tolerance, bootstrap_resamples=cfg.bootstrap_resamples,
        bootstrap_seed=cfg.bootstrap_seed)
    if not has_baseline:
        return CheckResult(c.CHECK_SLICE_REGRESSION, c.SKIPPED, "no baseline model", {}, thresholds)
    eligible = _eligible_slices(m, cfg)
    rows, failed = [], []
    for s, v in eligible.items():
        test = tests[(c.CHECK_SLICE_REGRESSION, s)]
        ok = not _significant(test, cfg)
        if not ok:
            failed.append(s)
        rows.append({cfg.slice_feature: s, "examples": v["examples"], "positives": v["positives"],
                     "recall": v["recall"],
                     "recall_at_matched_threshold": m["paired_slices"][s]["recall_at_matched_threshold"],
                     "baseline_recall": v["baseline_recall"], **test, "verdict": c.PASS if ok else c.FAIL})
    matched = m["matched_threshold"]
    figures = {"overall_recall": m["overall"]["recall"],
               "overall_baseline_recall": m["overall"]["baseline_recall"],
               "matched_threshold": matched["threshold"], "baseline_flagged": matched["baseline_flagged"],
               "candidate_flagged_at_matched_threshold": matched["candidate_flagged"],
               "eligible_slices": len(eligible)}
    if failed:
        return CheckResult(c.CHECK_SLICE_REGRESSION, c.FAIL,
                           f"recall dropped by significantly more than {cfg.slice_regression_tolerance} "
                           f"versus the baseline (Holm-adjusted p <= {cfg.alpha}) for {cfg.slice_feature} "
                           f"{', '.join(failed)}", figures, thresholds, rows)
    if not eligible:
        return CheckResult(c.CHECK_SLICE_REGRESSION, c.SKIPPED, "no eligible slice", figures,
                           thresholds, rows)
    return CheckResult(c.CHECK_SLICE_REGRESSION, c.PASS,
                       f"no {cfg.slice_feature} recall dropped by significantly more than "
                       f"{cfg.slice_regression_tolerance} versus the baseline", figures, thresholds, rows)


def check_auc_regression(m: Mapping[str, Any], cfg: BehaviorValidatorConfig, tests: Tests,
                         has_baseline: bool) -> CheckResult:
    """The candidate's AUC against the baseline's on the same eval examples: FAIL when it is
    significantly lower by more than auc_regression_tolerance (Holm-adjusted p <= alpha)."""
    thresholds = {"test": "paired block bootstrap over groups of drop = baseline AUC - candidate AUC, "
                          "H0: drop <= max_auc_drop", "max_auc_drop": cfg.auc_regression_tolerance,
                  "bootstrap_resamples": cfg.bootstrap_resamples, "bootstrap_seed": cfg.bootstrap_seed,
                  **_grouping(cfg), **_family(cfg, tests)}
    if not has_baseline:
        return CheckResult(c.CHECK_AUC_REGRESSION, c.SKIPPED, "no baseline model", {}, thresholds)
    test = tests.get((c.CHECK_AUC_REGRESSION, "overall"))
    if test is None:
        return CheckResult(c.CHECK_AUC_REGRESSION, c.SKIPPED, f"not tested: {auc_testable(m, cfg)}", {},
                           thresholds)
    figures = {"examples": m["overall"]["examples"], **test,
               "skipped_non_finite": m["score_histograms"]["skipped"]}
    low, high = test["drop_ci95"]
    text = (f"AUC {test['auc']:.4f} vs baseline {test['baseline_auc']:.4f} on {figures['examples']} examples "
            f"in {test['groups']} groups of {_group_name(cfg)}: drop {test['auc_drop']:+.4f}, 95% interval "
            f"[{low:+.4f}, {high:+.4f}], Holm-adjusted p {test['p_adjusted']:.3g}")
    if _significant(test, cfg):
        return CheckResult(c.CHECK_AUC_REGRESSION, c.FAIL,
                           f"AUC significantly lower than the baseline's by more than "
                           f"{cfg.auc_regression_tolerance}: {text}", figures, thresholds)
    return CheckResult(c.CHECK_AUC_REGRESSION, c.PASS, text, figures, thresholds)
