"""Checks decided on the aggregated figures (aggregation.py): output range, invariance, directional
expectations, per-slice recall and slice regression versus a baseline."""
import math
from typing import Any, Mapping, Optional

from components.behavior_validator import constants as c
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


def check_directional(m: Mapping[str, Any], cfg: BehaviorValidatorConfig) -> CheckResult:
    rows, failed, evaluated = [], [], 0
    for p in cfg.directional_perturbations:
        fig = m["directional"].get(p["name"], {"examples": 0, "mean_delta": None,
                                               "mean_prediction": None, "share_lowered": None})
        if fig["examples"] == 0:
            verdict = c.SKIPPED
        else:
            evaluated += 1
            ok = math.isfinite(fig["mean_delta"]) and fig["mean_delta"] >= -cfg.directional_tolerance
            verdict = c.PASS if ok else c.FAIL
            if not ok:
                failed.append(p["name"])
        rows.append({"perturbation": p["name"], "change": f"{p['feature']} {p['op']} {p['value']}",
                     **fig, "verdict": verdict})
    thresholds = {"min_mean_delta": 0.0 - cfg.directional_tolerance}
    deltas = [r["mean_delta"] for r in rows if r["verdict"] != c.SKIPPED]
    figures = {"min_mean_delta": min(deltas)} if deltas else {}
    if failed:
        return CheckResult(c.CHECK_DIRECTIONAL, c.FAIL,
                           f"the perturbation lowers the mean prediction: {', '.join(failed)}",
                           figures, thresholds, rows)
    if not evaluated:
        return CheckResult(c.CHECK_DIRECTIONAL, c.SKIPPED,
                           "no eval example has a perturbed feature (or none configured)",
                           figures, thresholds, rows)
    return CheckResult(c.CHECK_DIRECTIONAL, c.PASS,
                       "no perturbation lowers the mean prediction (smallest mean change "
                       f"{min(deltas):+.4g})", figures, thresholds, rows)


def _eligible_slices(m: Mapping[str, Any], cfg: BehaviorValidatorConfig):
    return {s: v for s, v in sorted(m["slices"].items())
            if v["examples"] >= cfg.min_slice_examples and v["positives"] > 0}


def check_slice_recall(m: Mapping[str, Any], cfg: BehaviorValidatorConfig) -> CheckResult:
    eligible = _eligible_slices(m, cfg)
    thresholds = {"min_recall": cfg.min_slice_recall, "min_slice_examples": cfg.min_slice_examples,
                  "decision_threshold": cfg.decision_threshold}
    figures = {"overall_recall": m["overall"]["recall"], "slices": len(m["slices"]),
               "eligible_slices": len(eligible)}
    rows, failed = [], []
    for s, v in sorted(m["slices"].items()):
        if s not in eligible:
            verdict = c.SKIPPED
        elif v["recall"] >= cfg.min_slice_recall:
            verdict = c.PASS
        else:
            verdict = c.FAIL
            failed.append(s)
        rows.append({cfg.slice_feature: s, "examples": v["examples"], "positives": v["positives"],
                     "recall": v["recall"], "verdict": verdict})
    if failed:
        return CheckResult(c.CHECK_SLICE_RECALL, c.FAIL,
                           f"recall below {cfg.min_slice_recall} for {cfg.slice_feature} "
                           f"{', '.join(failed)}", figures, thresholds, rows)
    if not eligible:
        return CheckResult(c.CHECK_SLICE_RECALL, c.SKIPPED,
                           f"no {cfg.slice_feature} slice has >= {cfg.min_slice_examples} examples "
                           "and a positive", figures, thresholds, rows)
    worst = min(v["recall"] for v in eligible.values())
    return CheckResult(c.CHECK_SLICE_RECALL, c.PASS,
                       f"lowest {cfg.slice_feature} recall {worst:.4f} >= {cfg.min_slice_recall} "
                       f"over {len(eligible)} slices", figures, thresholds, rows)


def check_slice_regression(m: Mapping[str, Any], cfg: BehaviorValidatorConfig,
                           has_baseline: bool) -> CheckResult:
    thresholds = {"max_recall_drop": cfg.slice_regression_tolerance,
                  "min_slice_examples": cfg.min_slice_examples}
    if not has_baseline:
        return CheckResult(c.CHECK_SLICE_REGRESSION, c.SKIPPED, "no baseline model", {}, thresholds)
    eligible = _eligible_slices(m, cfg)
    rows, failed = [], []
    for s, v in eligible.items():
        drop = v["baseline_recall"] - v["recall"]
        ok = drop <= cfg.slice_regression_tolerance
        if not ok:
            failed.append(s)
        rows.append({cfg.slice_feature: s, "examples": v["examples"], "recall": v["recall"],
                     "baseline_recall": v["baseline_recall"], "recall_drop": drop,
                     "verdict": c.PASS if ok else c.FAIL})
    figures = {"overall_recall": m["overall"]["recall"],
               "overall_baseline_recall": m["overall"]["baseline_recall"],
               "eligible_slices": len(eligible)}
    if failed:
        return CheckResult(c.CHECK_SLICE_REGRESSION, c.FAIL,
                           f"recall dropped by more than {cfg.slice_regression_tolerance} versus the "
                           f"baseline for {cfg.slice_feature} {', '.join(failed)}",
                           figures, thresholds, rows)
    if not eligible:
        return CheckResult(c.CHECK_SLICE_REGRESSION, c.SKIPPED, "no eligible slice", figures,
                           thresholds, rows)
    return CheckResult(c.CHECK_SLICE_REGRESSION, c.PASS,
                       f"no {cfg.slice_feature} recall dropped by more than "
                       f"{cfg.slice_regression_tolerance} versus the baseline", figures,
                       thresholds, rows)
