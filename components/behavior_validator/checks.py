"""Checks decided on the aggregated figures (aggregation.py): output range, invariance, directional
expectations, per-slice recall and slice regression versus a baseline.

The last three decide with significance tests (significance.py), one Holm-corrected family per
validation: `statistical_tests` runs them, the check functions read their verdicts from its result.
"""
from typing import Any, Dict, Mapping, Optional, Tuple

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


def _eligible_slices(m: Mapping[str, Any], cfg: BehaviorValidatorConfig):
    return {s: v for s, v in sorted(m["slices"].items())
            if v["examples"] >= cfg.min_slice_examples and v["positives"] >= cfg.min_slice_positives}


def statistical_tests(m: Mapping[str, Any], cfg: BehaviorValidatorConfig, has_baseline: bool) -> Tests:
    """Every significance test of one validation, with raw and Holm-adjusted p-values: per evaluated
    perturbation (directional), per eligible slice (min recall; regression when there is a baseline)."""
    tests: Tests = {}
    for p in cfg.directional_perturbations:
        fig = m["directional"].get(p["name"])
        if fig and fig["examples"]:
            tests[(c.CHECK_DIRECTIONAL, p["name"])] = significance.mean_delta_below(
                fig["examples"], fig["mean_delta"], fig["std_delta"], cfg.directional_tolerance)
    for s, v in _eligible_slices(m, cfg).items():
        tests[(c.CHECK_SLICE_RECALL, s)] = significance.recall_below_floor(
            v["true_positives"], v["positives"], cfg.min_slice_recall)
        if has_baseline:
            t = m["paired_slices"][s]
            tests[(c.CHECK_SLICE_REGRESSION, s)] = significance.recall_drop_bootstrap(
                t["both"], t["baseline_only"], t["candidate_only"], t["neither"],
                cfg.slice_regression_tolerance, cfg.bootstrap_resamples, cfg.bootstrap_seed, s)
    significance.add_adjusted(tests)
    return tests


def _significant(test: Mapping[str, Any], cfg: BehaviorValidatorConfig) -> bool:
    return test["p_adjusted"] <= cfg.alpha


def _family(cfg: BehaviorValidatorConfig, tests: Tests) -> Dict[str, Any]:
    return {"alpha": cfg.alpha, "correction": f"Holm over the {len(tests)} tests of this validation"}


def check_directional(m: Mapping[str, Any], cfg: BehaviorValidatorConfig, tests: Tests) -> CheckResult:
    rows, failed = [], []
    for p in cfg.directional_perturbations:
        fig = m["directional"].get(p["name"], {"examples": 0, "mean_delta": None, "std_delta": None,
                                               "mean_prediction": None, "share_lowered": None})
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
    thresholds = {"test": "one-sided paired t-test over examples, H0: mean delta >= -tolerance",
                  "tolerance": cfg.directional_tolerance, **_family(cfg, tests)}
    evaluated = [r for r in rows if r["verdict"] != c.SKIPPED]
    figures = {"min_mean_delta": min(r["mean_delta"] for r in evaluated),
               "min_p_adjusted": min(r["p_adjusted"] for r in evaluated)} if evaluated else {}
    if failed:
        return CheckResult(c.CHECK_DIRECTIONAL, c.FAIL,
                           f"the perturbation significantly lowers the mean prediction (Holm-adjusted "
                           f"p <= {cfg.alpha}): {', '.join(failed)}", figures, thresholds, rows)
    if not evaluated:
        return CheckResult(c.CHECK_DIRECTIONAL, c.SKIPPED,
                           "no eval example has a perturbed feature (or none configured)",
                           figures, thresholds, rows)
    return CheckResult(c.CHECK_DIRECTIONAL, c.PASS,
                       "no perturbation significantly lowers the mean prediction (smallest mean change "
                       f"{figures['min_mean_delta']:+.4g}, smallest adjusted p {figures['min_p_adjusted']:.3g})",
                       figures, thresholds, rows)


def _slice_thresholds(cfg: BehaviorValidatorConfig, tests: Tests, test: str, **extra) -> Dict[str, Any]:
    return {"test": test, **extra, "min_slice_examples": cfg.min_slice_examples,
            "min_slice_positives": cfg.min_slice_positives, "decision_threshold": cfg.decision_threshold,
            **_family(cfg, tests)}


def check_slice_recall(m: Mapping[str, Any], cfg: BehaviorValidatorConfig, tests: Tests) -> CheckResult:
    thresholds = _slice_thresholds(cfg, tests, "exact binomial, H0: recall >= min_recall",
                                   min_recall=cfg.min_slice_recall)
    eligible = _eligible_slices(m, cfg)
    figures = {"overall_recall": m["overall"]["recall"], "slices": len(m["slices"]),
               "eligible_slices": len(eligible)}
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
                     "recall": v["recall"], **test, "verdict": verdict})
    if failed:
        return CheckResult(c.CHECK_SLICE_RECALL, c.FAIL,
                           f"recall significantly below {cfg.min_slice_recall} (Holm-adjusted p <= "
                           f"{cfg.alpha}) for {cfg.slice_feature} {', '.join(failed)}",
                           figures, thresholds, rows)
    if not eligible:
        return CheckResult(c.CHECK_SLICE_RECALL, c.SKIPPED,
                           f"no {cfg.slice_feature} slice has >= {cfg.min_slice_examples} examples "
                           f"and >= {cfg.min_slice_positives} positives", figures, thresholds, rows)
    worst = min(v["recall"] for v in eligible.values())
    return CheckResult(c.CHECK_SLICE_RECALL, c.PASS,
                       f"no {cfg.slice_feature} recall significantly below {cfg.min_slice_recall} over "
                       f"{len(eligible)} slices (lowest {worst:.4f})", figures, thresholds, rows)


def check_slice_regression(m: Mapping[str, Any], cfg: BehaviorValidatorConfig, tests: Tests,
                           has_baseline: bool) -> CheckResult:
    thresholds = _slice_thresholds(
        cfg, tests, "paired bootstrap over the slice's positives, H0: recall drop <= max_recall_drop; "
        "the candidate at the baseline's operating point (its threshold flags as many eval examples "
        "as the baseline does at decision_threshold)",
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
