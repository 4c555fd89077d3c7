"""Pure drift-validation logic: TFDV comparators on statistics protos, no TFX needed.

`validate_drift` puts TFDV's own drift comparators (L-infinity for string features, approximate
Jensen-Shannon divergence for numeric ones) on a copy of the schema, runs
`tfdv.validate_statistics(current, schema, previous_statistics=baseline)` and reads the measured
distance of every configured feature from `Anomalies.drift_skew_info` (TFDV fills it for each
compared feature, drifted or not). The label-rate shift is the absolute change of the label's mean.
"""
import dataclasses
import datetime
import html
import json
import math
import os
from typing import Any, Dict, List, Mapping, Optional

import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2

from components.drift_validator import constants

L_INFTY = "L_INFTY"
JSD = "JENSEN_SHANNON_DIVERGENCE"

_MEASUREMENT_NAMES = {
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: L_INFTY,
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: JSD,
}


@dataclasses.dataclass(frozen=True)
class DriftConfig:
    """What to compare and what blocks.

    feature_thresholds: feature name -> threshold on its distance (L-infinity or JSD, in [0, 1]).
    blocking_features: features whose drift blocks; the other compared features only warn.
    label_key: 0/1 label whose mean is compared; "" disables the label check.
    label_shift_threshold: largest allowed absolute change of the label mean.
    """

    feature_thresholds: Mapping[str, float]
    blocking_features: frozenset = frozenset()
    label_key: str = constants.DEFAULT_LABEL_KEY
    label_shift_threshold: float = constants.DEFAULT_LABEL_SHIFT_THRESHOLD

    def __post_init__(self):
        for name, value in self.feature_thresholds.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"feature_thresholds: feature name must be a non-empty string, got {name!r}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(
                    f"feature_thresholds[{name!r}]: threshold must be a number in [0, 1], got {value!r}")
        unknown = sorted(set(self.blocking_features) - set(self.feature_thresholds))
        if unknown:
            raise ValueError(
                f"blocking_features: {unknown} have no threshold in feature_thresholds "
                f"(configured: {sorted(self.feature_thresholds)})")
        if (isinstance(self.label_shift_threshold, bool)
                or not isinstance(self.label_shift_threshold, (int, float))
                or not 0 <= self.label_shift_threshold <= 1):
            raise ValueError(
                f"label_shift_threshold must be a number in [0, 1], got {self.label_shift_threshold!r}")

    @classmethod
    def from_json(cls, feature_thresholds: str, blocking_features: str,
                  label_key: str = constants.DEFAULT_LABEL_KEY,
                  label_shift_threshold: float = constants.DEFAULT_LABEL_SHIFT_THRESHOLD) -> "DriftConfig":
        """Builds a config from the component's string parameters (JSON object and JSON list)."""
        try:
            thresholds = json.loads(feature_thresholds)
        except json.JSONDecodeError as e:
            raise ValueError(f"feature_thresholds is not valid JSON ({e}): {feature_thresholds!r}") from e
        if not isinstance(thresholds, dict):
            raise ValueError(
                f"feature_thresholds must be a JSON object {{feature: threshold}}, got {feature_thresholds!r}")
        try:
            blocking = json.loads(blocking_features)
        except json.JSONDecodeError as e:
            raise ValueError(f"blocking_features is not valid JSON ({e}): {blocking_features!r}") from e
        if not isinstance(blocking, list) or not all(isinstance(b, str) for b in blocking):
            raise ValueError(
                f"blocking_features must be a JSON list of feature names, got {blocking_features!r}")
        return cls(feature_thresholds=thresholds, blocking_features=frozenset(blocking),
                   label_key=label_key, label_shift_threshold=float(label_shift_threshold))


def _single_dataset(stats: statistics_pb2.DatasetFeatureStatisticsList,
                    what: str) -> statistics_pb2.DatasetFeatureStatistics:
    if not isinstance(stats, statistics_pb2.DatasetFeatureStatisticsList):
        raise TypeError(f"{what}: expected a DatasetFeatureStatisticsList, got {type(stats).__name__}")
    if len(stats.datasets) != 1:
        raise ValueError(f"{what}: expected statistics of exactly one dataset, got {len(stats.datasets)}")
    return stats.datasets[0]


def label_mean(stats: statistics_pb2.DatasetFeatureStatisticsList, label_key: str, what: str) -> float:
    """Mean of a numeric (0/1) label in one dataset's statistics."""
    dataset = _single_dataset(stats, what)
    for feature in dataset.features:
        name = feature.path.step[0] if feature.path.step else feature.name
        if name == label_key:
            if not feature.HasField("num_stats"):
                raise ValueError(f"{what}: label {label_key!r} has no numeric statistics "
                                 f"(type {statistics_pb2.FeatureNameStatistics.Type.Name(feature.type)})")
            return float(feature.num_stats.mean)
    raise ValueError(f"{what}: label {label_key!r} not found in the statistics "
                     f"(features: {sorted(f.path.step[0] if f.path.step else f.name for f in dataset.features)})")


def drift_schema(schema: schema_pb2.Schema, config: DriftConfig) -> schema_pb2.Schema:
    """Copy of `schema` whose only drift/skew comparators are the configured ones."""
    result = schema_pb2.Schema()
    result.CopyFrom(schema)
    by_name = {}
    for feature in result.feature:
        feature.ClearField("drift_comparator")
        feature.ClearField("skew_comparator")
        by_name[feature.name] = feature
    missing = sorted(set(config.feature_thresholds) - set(by_name))
    if missing:
        raise ValueError(f"feature_thresholds names features not in the schema: {missing} "
                         f"(schema features: {sorted(by_name)})")
    for name, threshold in config.feature_thresholds.items():
        feature = by_name[name]
        if feature.type == schema_pb2.BYTES:
            feature.drift_comparator.infinity_norm.threshold = threshold
        elif feature.type in (schema_pb2.INT, schema_pb2.FLOAT):
            feature.drift_comparator.jensen_shannon_divergence.threshold = threshold
        else:
            raise ValueError(f"schema feature {name!r} has type "
                             f"{schema_pb2.FeatureType.Name(feature.type)}; no drift comparator for it")
    return result


def measure_distances(current: statistics_pb2.DatasetFeatureStatisticsList,
                      baseline: statistics_pb2.DatasetFeatureStatisticsList,
                      schema: schema_pb2.Schema) -> Dict[str, Dict[str, Any]]:
    """Runs TFDV drift comparators; returns {feature: {comparator, distance, threshold, description}}."""
    anomalies = tfdv.validate_statistics(current, schema, previous_statistics=baseline)
    measured = {}
    for info in anomalies.drift_skew_info:
        name = ".".join(info.path.step)
        for m in info.drift_measurements:
            measured[name] = {
                "comparator": _MEASUREMENT_NAMES.get(m.type, anomalies_pb2.DriftSkewInfo.Measurement.Type.Name(m.type)),
                "distance": float(m.value),
                "threshold": float(m.threshold),
                "description": "",
            }
    for name, info in anomalies.anomaly_info.items():
        if name in measured:
            drift_reasons = [r.description for r in info.reason
                             if anomalies_pb2.AnomalyInfo.Type.Name(r.type).startswith("COMPARATOR_")]
            measured[name]["description"] = " ".join(drift_reasons)
    return measured


def validate_drift(current: statistics_pb2.DatasetFeatureStatisticsList,
                   baseline: Optional[statistics_pb2.DatasetFeatureStatisticsList],
                   schema: schema_pb2.Schema,
                   config: DriftConfig) -> Dict[str, Any]:
    """Compares the current span's statistics with the baseline's; returns the report as a dict.

    The report's `blessed` is 0 when a blocking feature drifts beyond its threshold, when a blocking
    feature cannot be measured, or when the label mean shifts beyond `label_shift_threshold`.
    Without a baseline the verdict is NO_BASELINE and the span is blessed.
    """
    _single_dataset(current, "statistics")
    if baseline is not None:
        _single_dataset(baseline, "baseline_statistics")
    schema_with_comparators = drift_schema(schema, config)  # validates names even without baseline
    report: Dict[str, Any] = {
        "component_version": constants.COMPONENT_VERSION,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "has_baseline": baseline is not None,
        "num_examples": int(current.datasets[0].num_examples),
        "baseline_num_examples": int(baseline.datasets[0].num_examples) if baseline is not None else None,
        "features": [],
        "label": None,
        "drifted_features": [],
        "blocking_drift": [],
        "warning_drift": [],
    }
    current_rate = label_mean(current, config.label_key, "statistics") if config.label_key else None

    if baseline is None:
        report.update(
            verdict=constants.NO_BASELINE, blessed=1,
            summary="No baseline statistics (first span): nothing to compare against, span passes.")
        if config.label_key:
            report["label"] = {"feature": config.label_key, "current_rate": current_rate,
                               "baseline_rate": None, "abs_change": None,
                               "threshold": config.label_shift_threshold, "drifted": False,
                               "blocking": True, "status": "no_baseline"}
        for name in sorted(config.feature_thresholds):
            report["features"].append({
                "feature": name, "comparator": _comparator_name(schema_with_comparators, name),
                "distance": None, "threshold": float(config.feature_thresholds[name]),
                "blocking": name in config.blocking_features, "drifted": False,
                "status": "no_baseline", "description": ""})
        return report

    measured = measure_distances(current, baseline, schema_with_comparators)
    for name in sorted(config.feature_thresholds):
        threshold = float(config.feature_thresholds[name])
        blocking = name in config.blocking_features
        entry = {"feature": name, "comparator": _comparator_name(schema_with_comparators, name),
                 "distance": None, "threshold": threshold, "blocking": blocking, "drifted": False,
                 "description": ""}
        m = measured.get(name)
        if m is None:
            # TFDV measures nothing when the feature is absent from either span's statistics.
            entry["status"] = "not_measured"
            entry["description"] = "feature absent from the current or the baseline statistics"
            if blocking:
                report["blocking_drift"].append(name)
        else:
            entry["distance"] = m["distance"]
            entry["description"] = m["description"]
            entry["drifted"] = m["distance"] > threshold  # TFDV's own rule: anomaly iff value > threshold
            if entry["drifted"]:
                entry["status"] = "block" if blocking else "warn"
                report["drifted_features"].append(name)
                report["blocking_drift" if blocking else "warning_drift"].append(name)
            else:
                entry["status"] = "ok"
        report["features"].append(entry)

    label_blocked = False
    if config.label_key:
        baseline_rate = label_mean(baseline, config.label_key, "baseline_statistics")
        change = abs(current_rate - baseline_rate)
        label_blocked = change > config.label_shift_threshold
        report["label"] = {"feature": config.label_key, "current_rate": current_rate,
                           "baseline_rate": baseline_rate, "abs_change": change,
                           "threshold": config.label_shift_threshold, "drifted": label_blocked,
                           "blocking": True, "status": "block" if label_blocked else "ok"}

    if report["blocking_drift"] or label_blocked:
        reasons = []
        if report["blocking_drift"]:
            reasons.append("blocking feature drift: " + ", ".join(report["blocking_drift"]))
        if label_blocked:
            reasons.append(f"label rate of {config.label_key!r} moved by {report['label']['abs_change']:.4f} "
                           f"(> {config.label_shift_threshold})")
        report.update(verdict=constants.BLOCKED, blessed=0,
                      summary="Blocked: " + "; ".join(reasons) + ". Training on this span stops.")
    elif report["warning_drift"]:
        report.update(verdict=constants.WARN, blessed=1,
                      summary="Passed with warnings: drift in " + ", ".join(report["warning_drift"]) + ".")
    else:
        report.update(verdict=constants.PASS, blessed=1,
                      summary="Passed: no feature beyond its threshold.")
    return report


def _comparator_name(schema: schema_pb2.Schema, name: str) -> str:
    feature = tfdv.get_feature(schema, name)
    return L_INFTY if feature.drift_comparator.HasField("infinity_norm") else JSD


def _fmt(value: Optional[float]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.4f}"


_STATUS_STYLE = {"ok": "ok", "warn": "warn", "block": "block", "not_measured": "block",
                 "no_baseline": "none"}


def render_html(report: Mapping[str, Any], title: str = "Drift report") -> str:
    """A self-contained HTML page (inline CSS, no scripts) of a report from `validate_drift`."""
    e = html.escape
    rows = []
    for f in report["features"]:
        status = f["status"]
        if status == "not_measured" and not f["blocking"]:
            css = "warn"
        else:
            css = _STATUS_STYLE.get(status, "none")
        rows.append(
            f"<tr class='{css}'><td>{e(f['feature'])}</td><td>{e(f['comparator'])}</td>"
            f"<td class='num'>{_fmt(f['distance'])}</td><td class='num'>{_fmt(f['threshold'])}</td>"
            f"<td>{'blocking' if f['blocking'] else 'warning'}</td><td>{e(status)}</td>"
            f"<td>{e(f.get('description', ''))}</td></tr>")
    label = report.get("label")
    label_html = ""
    if label:
        css = _STATUS_STYLE.get(label["status"], "none")
        label_html = (
            "<h2>Label rate</h2><table><tr><th>label</th><th>current rate</th><th>baseline rate</th>"
            "<th>|change|</th><th>threshold</th><th>verdict</th></tr>"
            f"<tr class='{css}'><td>{e(label['feature'])}</td><td class='num'>{_fmt(label['current_rate'])}</td>"
            f"<td class='num'>{_fmt(label['baseline_rate'])}</td><td class='num'>{_fmt(label['abs_change'])}</td>"
            f"<td class='num'>{_fmt(label['threshold'])}</td><td>{e(label['status'])}</td></tr></table>")
    verdict_css = {"BLOCKED": "block", "WARN": "warn", "PASS": "ok"}.get(report["verdict"], "none")
    meta = (f"current examples: {report['num_examples']}; baseline examples: "
            f"{report['baseline_num_examples'] if report['baseline_num_examples'] is not None else '–'}; "
            f"component version {report['component_version']}; created {report['created_utc']}")
    for key in ("split", "statistics_uri", "baseline_uri"):
        if report.get(key):
            meta += f"; {key}: {report[key]}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #bbb; padding: 4px 8px; text-align: left; }}
th {{ background: #eee; }}
td.num {{ text-align: right; font-family: monospace; }}
tr.ok td {{ background: #e8f5e9; }} tr.warn td {{ background: #fff8e1; }}
tr.block td {{ background: #ffebee; }} tr.none td {{ background: #f5f5f5; }}
.verdict {{ display: inline-block; padding: 6px 12px; font-weight: bold; border: 1px solid #888; }}
.verdict.ok {{ background: #c8e6c9; }} .verdict.warn {{ background: #ffecb3; }}
.verdict.block {{ background: #ffcdd2; }} .verdict.none {{ background: #e0e0e0; }}
</style></head><body>
<h1>{e(title)}</h1>
<p><span class="verdict {verdict_css}">{e(report['verdict'])} (blessed={report['blessed']})</span></p>
<p>{e(report['summary'])}</p>
<p><small>{e(meta)}</small></p>
{label_html}
<h2>Features</h2>
<table><tr><th>feature</th><th>comparator</th><th>distance</th><th>threshold</th><th>policy</th>
<th>verdict</th><th>TFDV detail</th></tr>
{''.join(rows)}
</table>
</body></html>
"""


def write_report(report: Mapping[str, Any], output_dir: str) -> List[str]:
    """Writes drift_report.json and drift_report.html into `output_dir`; returns their paths."""
    tf.io.gfile.makedirs(output_dir)
    json_path = os.path.join(output_dir, constants.REPORT_JSON)
    html_path = os.path.join(output_dir, constants.REPORT_HTML)
    with tf.io.gfile.GFile(json_path, "w") as f:
        f.write(json.dumps(report, indent=2, sort_keys=True))
    with tf.io.gfile.GFile(html_path, "w") as f:
        f.write(render_html(report))
    return [json_path, html_path]

