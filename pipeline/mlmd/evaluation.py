"""What TFMA wrote into a ModelEvaluation artifact's folder: metrics per slice and model, and the validation
result. The one reader of TFMA's files, used by the run summary, the report pages and the lineage library.

TFMA names the models ``candidate`` and ``baseline`` when the Evaluator had a baseline, and leaves the name
empty when it had not; diff metrics (candidate - baseline) carry ``is_diff``.
"""
import json
from typing import Dict, List

CANDIDATE, BASELINE = "candidate", "baseline"
OVERALL = "overall"
# The metrics a person reads first (run summary, run list).
HEADLINE_METRICS = ("auc", "auc_precision_recall", "precision", "recall", "f1_score", "calibration",
                    "example_count", "mean_label", "mean_prediction")


def slice_name(slice_key) -> str:
    """'overall', or 'carrier=AA' / 'carrier=AA, origin=EWR' for a TFMA SliceKey proto."""
    return ", ".join(f"{k.column}={k.bytes_value.decode() if k.bytes_value else k.int64_value}"
                     for k in slice_key.single_slice_keys) or OVERALL


def _is_model(metric_key, model: str) -> bool:
    return (metric_key.model_name == BASELINE) == (model == BASELINE)


def metrics_by_slice(evaluation_uri: str, model: str = CANDIDATE) -> List[Dict]:
    """[{"slice": name, metric: value, ...}] of one model (no diff metrics), overall first, then by
    feature and decreasing example count."""
    import tensorflow_model_analysis as tfma
    rows = []
    for per_slice in tfma.load_metrics(evaluation_uri):
        row = {"slice": slice_name(per_slice.slice_key)}
        for key_and_value in per_slice.metric_keys_and_values:
            key = key_and_value.key
            if key.is_diff or not _is_model(key, model):
                continue
            if key_and_value.value.HasField("double_value"):
                row[key.name] = key_and_value.value.double_value.value
        rows.append(row)
    rows.sort(key=lambda r: (r["slice"] != OVERALL, r["slice"].split("=")[0], -r.get("example_count", 0)))
    return rows


def overall_metrics(evaluation_uri: str, model: str = CANDIDATE) -> Dict[str, float]:
    """Overall-slice metrics of one model, keyed by metric name."""
    rows = metrics_by_slice(evaluation_uri, model)
    overall = rows[0] if rows and rows[0]["slice"] == OVERALL else {}
    return {k: v for k, v in overall.items() if k != "slice"}


def headline_metrics(evaluation_uri: str) -> Dict[str, float]:
    """The candidate's overall HEADLINE_METRICS."""
    return {k: v for k, v in overall_metrics(evaluation_uri).items() if k in HEADLINE_METRICS}


def describe_threshold(threshold) -> str:
    """'required >= 0.6' / 'allowed change vs baseline -0.01' for a TFMA MetricThreshold proto."""
    if threshold.HasField("change_threshold"):
        change = threshold.change_threshold
        return f"allowed change vs baseline {change.absolute.value:+g}"
    bounds = threshold.value_threshold
    parts = []
    if bounds.HasField("lower_bound"):
        parts.append(f">= {bounds.lower_bound.value:g}")
    if bounds.HasField("upper_bound"):
        parts.append(f"<= {bounds.upper_bound.value:g}")
    return "required " + " and ".join(parts)


def load_validation(evaluation_uri: str) -> Dict:
    """TFMA validation result: ok flag and each failed threshold as a readable line."""
    import tensorflow_model_analysis as tfma
    result = tfma.load_validation_result(evaluation_uri)
    failures = []
    for per_slice in result.metric_validations_per_slice:
        where = slice_name(per_slice.slice_key)
        for failure in per_slice.failures:
            key = failure.metric_key
            name = key.name + (" change" if key.is_diff else "")
            failures.append(f"{name} = {failure.metric_value.double_value.value:.4f} on {where}, "
                            f"{describe_threshold(failure.metric_threshold)}")
    return {"ok": bool(result.validation_ok), "failures": failures,
            "missing_thresholds": bool(result.missing_thresholds)}


def plots_by_slice(evaluation_uri: str) -> Dict[str, Dict[str, Dict[str, List[tuple]]]]:
    """{slice name: {model: {"roc": [(fpr, tpr, threshold)], "pr": [(recall, precision, threshold)],
    "calibration": [(mean prediction, mean label, weighted examples)]}}} from TFMA's plots (the Evaluator's
    EvalConfig must ask for ConfusionMatrixPlot and CalibrationPlot). Model: ``candidate`` or ``baseline``."""
    import tensorflow_model_analysis as tfma
    found: Dict[str, Dict[str, Dict[str, List[tuple]]]] = {}
    for per_slice in tfma.load_plots(evaluation_uri):
        by_model = found.setdefault(slice_name(per_slice.slice_key), {})
        for key_and_value in per_slice.plot_keys_and_values:
            model = BASELINE if key_and_value.key.model_name == BASELINE else CANDIDATE
            plots = by_model.setdefault(model, {})
            value = key_and_value.value
            if value.HasField("confusion_matrix_at_thresholds"):
                matrices = value.confusion_matrix_at_thresholds.matrices
                plots["roc"] = [(m.false_positives / (m.false_positives + m.true_negatives)
                                 if m.false_positives + m.true_negatives else 0.0,
                                 m.true_positives / (m.true_positives + m.false_negatives)
                                 if m.true_positives + m.false_negatives else 0.0, m.threshold)
                                for m in matrices]
                plots["pr"] = [(m.recall, m.precision, m.threshold) for m in matrices
                               if m.true_positives + m.false_positives > 0]
            if value.HasField("calibration_histogram_buckets"):
                plots["calibration"] = [
                    (b.total_weighted_refined_prediction.value / b.num_weighted_examples.value,
                     b.total_weighted_label.value / b.num_weighted_examples.value, b.num_weighted_examples.value)
                    for b in value.calibration_histogram_buckets.buckets if b.num_weighted_examples.value > 0]
    return found


def gates(eval_config_json: str) -> Dict:
    """What the Evaluator was asked to gate on, from its ``eval_config`` execution property (TFMA EvalConfig as
    JSON): {"metrics": {metric name: {"lower_bound", "upper_bound", "change"}}, "decision_thresholds": [...]}.
    ``change`` is the allowed absolute change vs the baseline (e.g. -0.01)."""
    import tensorflow_model_analysis as tfma
    from google.protobuf import json_format
    config = json_format.Parse(eval_config_json, tfma.EvalConfig())
    metrics: Dict[str, Dict[str, float]] = {}
    decision = set()
    for spec in config.metrics_specs:
        for metric in spec.metrics:
            kwargs = json.loads(metric.config) if metric.config else {}
            name = getattr(tfma.metrics, metric.class_name)(**kwargs).name
            decision.update(kwargs.get("thresholds", []))
            thresholds = [metric.threshold] if metric.HasField("threshold") else []
            thresholds += [t.threshold for t in metric.per_slice_thresholds]
            for threshold in thresholds:
                found = metrics.setdefault(name, {})
                bounds = threshold.value_threshold
                if bounds.HasField("lower_bound"):
                    found["lower_bound"] = bounds.lower_bound.value
                if bounds.HasField("upper_bound"):
                    found["upper_bound"] = bounds.upper_bound.value
                if threshold.change_threshold.HasField("absolute"):
                    found["change"] = threshold.change_threshold.absolute.value
    return {"metrics": metrics, "decision_thresholds": sorted(decision)}
