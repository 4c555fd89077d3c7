"""Pure drift-validation logic: TFDV comparators on statistics protos, no TFX needed.

`validate_drift` puts TFDV's own drift comparators (L-infinity for string features, approximate
Jensen-Shannon divergence for numeric ones) on a copy of the schema, runs
`tfdv.validate_statistics(current, schema, previous_statistics=baseline)` and reads the measured
distance of every configured feature from `Anomalies.drift_skew_info` (TFDV fills it for each
compared feature, drifted or not). The label-rate shift is the absolute change of the label's mean.
The dataset-level checks (`checks.py`) and the schema anomalies join the same report and verdict;
`validate_skew` runs them on serving data against training statistics.
"""
import dataclasses
import datetime
import json
import math
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple

import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_metadata.proto.v0 import statistics_pb2

from components.drift_validator import checks
from components.drift_validator import constants
from components.drift_validator import report_html

L_INFTY = "L_INFTY"
JSD = "JENSEN_SHANNON_DIVERGENCE"

_MEASUREMENT_NAMES = {
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: L_INFTY,
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: JSD,
}


@dataclasses.dataclass(frozen=True)
class DriftConfig:
    """What to compare and what blocks.

    feature_thresholds: feature name -> threshold on its distance (L-infinity or JSD, in [0, 1]): a
      number (blocks when the feature is in `blocking_features`, else warns) or {"warn": w, "block": b}
      (either may be null).
    blocking_features: features whose number threshold blocks; the other numbers only warn.
    label_key: 0/1 label whose mean is compared; "" disables the label check.
    label_shift_threshold: largest allowed absolute change of the label mean (blocks beyond).
    dataset_checks: row count, categories, missing values, duplicates, schema ranges, anomalies.
    """

    feature_thresholds: Mapping[str, Any]
    blocking_features: frozenset = frozenset()
    label_key: str = constants.DEFAULT_LABEL_KEY
    label_shift_threshold: float = constants.DEFAULT_LABEL_SHIFT_THRESHOLD
    dataset_checks: checks.DatasetChecks = checks.DatasetChecks()

    def __post_init__(self):
        levels = {}
        for name, value in self.feature_thresholds.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"feature_thresholds: feature name must be a non-empty string, got {name!r}")
            if isinstance(value, (Mapping, checks.Level)):
                levels[name] = checks.Level.parse(value, f"feature_thresholds[{name!r}]")
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(
                    f"feature_thresholds[{name!r}]: threshold must be a number in [0, 1] or "
                    f"{{\"warn\": w, \"block\": b}}, got {value!r}")
            levels[name] = (checks.Level(warn=float(value), block=float(value))
                            if name in self.blocking_features else checks.Level(warn=float(value)))
        object.__setattr__(self, "levels", levels)
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
                  label_shift_threshold: float = constants.DEFAULT_LABEL_SHIFT_THRESHOLD,
                  dataset_checks: str = "{}") -> "DriftConfig":
        """Builds a config from the component's string parameters (JSON objects and a JSON list)."""
        thresholds = _json(feature_thresholds, "feature_thresholds")
        if not isinstance(thresholds, dict):
            raise ValueError(
                f"feature_thresholds must be a JSON object {{feature: threshold}}, got {feature_thresholds!r}")
        blocking = _json(blocking_features, "blocking_features")
        if not isinstance(blocking, list) or not all(isinstance(b, str) for b in blocking):
            raise ValueError(
                f"blocking_features must be a JSON list of feature names, got {blocking_features!r}")
        return cls(feature_thresholds=thresholds, blocking_features=frozenset(blocking),
                   label_key=label_key, label_shift_threshold=float(label_shift_threshold),
                   dataset_checks=checks.DatasetChecks.from_dict(_json(dataset_checks, "dataset_checks")))


def _json(text: str, what: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{what} is not valid JSON ({e}): {text!r}") from e


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
    for name, level in config.levels.items():
        # TFDV's verdict is not used (every distance is read back), but it needs a threshold.
        threshold = min([t for t in (level.warn, level.block) if t is not None] or [1.0])
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
                   config: DriftConfig,
                   anomalies: Optional[anomalies_pb2.Anomalies] = None,
                   duplicate_counts: Optional[Tuple[int, int]] = None,
                   no_baseline_reason: str = "none given") -> Dict[str, Any]:
    """Compares the current statistics with the baseline's; returns the report as a dict.

    Blocks (`blessed` 0) when a feature's distance exceeds its block threshold, a blocking feature
    cannot be measured, the label mean shifts beyond `label_shift_threshold`, or a dataset check
    blocks (`config.dataset_checks`; `anomalies` are e.g. ExampleValidator's, `duplicate_counts`
    (rows, duplicated rows) come from `duplicates.count_duplicates`). Without a baseline only the
    checks that need none run; the verdict is NO_BASELINE unless one of them blocks, and the summary
    gives `no_baseline_reason` (why there is none).
    """
    _single_dataset(current, "statistics")
    if baseline is not None:
        _single_dataset(baseline, "baseline_statistics")
    schema_with_comparators = drift_schema(schema, config)  # validates names even without baseline
    report = _empty_report(current, baseline)
    current_rate = label_mean(current, config.label_key, "statistics") if config.label_key else None
    measured = (measure_distances(current, baseline, schema_with_comparators)
                if baseline is not None else {})
    _add_features(report, config, schema_with_comparators, measured, baseline is not None)
    if config.label_key:
        report["label"] = _label_entry(current_rate, baseline, config)
    report["checks"] = checks.run(current.datasets[0], baseline.datasets[0] if baseline is not None else None,
                                  schema, config.dataset_checks, anomalies, duplicate_counts)
    report["blocking"] = ([f"distribution:{n}" for n in report["blocking_drift"]]
                          + ([f"label_rate:{config.label_key}"] if _label_blocked(report) else [])
                          + checks.names(report["checks"], checks.BLOCK))
    report["warnings"] = ([f"distribution:{n}" for n in report["warning_drift"]]
                          + checks.names(report["checks"], checks.WARN))
    _add_pictures(report, current, baseline, config)
    report.update(_verdict(report, config, baseline is not None, no_baseline_reason))
    return report


def _label_blocked(report: Dict[str, Any]) -> bool:
    return bool(report["label"] and report["label"]["drifted"])


def _empty_report(current: statistics_pb2.DatasetFeatureStatisticsList,
                  baseline: Optional[statistics_pb2.DatasetFeatureStatisticsList]) -> Dict[str, Any]:
    """The report's header (version, time, row counts) and its empty feature, label and check fields."""
    return {
        "component_version": constants.COMPONENT_VERSION,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "has_baseline": baseline is not None,
        "num_examples": int(current.datasets[0].num_examples),
        "baseline_num_examples": int(baseline.datasets[0].num_examples) if baseline is not None else None,
        "features": [],
        "label": None,
        "checks": [],
        "drifted_features": [],
        "blocking_drift": [],
        "warning_drift": [],
    }


def _add_features(report: Dict[str, Any], config: DriftConfig, schema_with_comparators: schema_pb2.Schema,
                  measured: Dict[str, Dict[str, Any]], has_baseline: bool) -> None:
    """Each configured feature's entry, and its name in the drifted, blocking and warning lists it belongs to."""
    for name in sorted(config.feature_thresholds):
        entry = _feature_entry(name, config.levels[name], _comparator_name(schema_with_comparators, name),
                               measured.get(name), has_baseline)
        report["features"].append(entry)
        if entry["drifted"]:
            report["drifted_features"].append(name)
        if entry["status"] == checks.BLOCK or (entry["status"] == "not_measured" and entry["blocking"]):
            report["blocking_drift"].append(name)
        elif entry["status"] == checks.WARN:
            report["warning_drift"].append(name)


def _feature_entry(name: str, level: checks.Level, comparator: str, measured: Optional[Dict[str, Any]],
                   has_baseline: bool) -> Dict[str, Any]:
    """One feature's entry: its distance from measure_distances and its status under `level`."""
    blocking = level.block is not None
    entry = {"feature": name, "comparator": comparator,
             "distance": None, "threshold": level.block if blocking else level.warn,
             "warn_threshold": level.warn, "block_threshold": level.block,
             "blocking": blocking, "drifted": False, "description": ""}
    if not has_baseline:
        entry["status"] = "no_baseline"
    elif measured is None:
        # TFDV measures nothing when the feature is absent from either span's statistics.
        entry["status"] = "not_measured"
        entry["description"] = "feature absent from the current or the baseline statistics"
    else:
        entry["distance"] = measured["distance"]
        entry["description"] = measured["description"]
        entry["status"] = level.status(measured["distance"])  # TFDV's own rule: anomaly iff value > threshold
        entry["drifted"] = entry["status"] != checks.OK
    return entry


def _label_entry(current_rate: float, baseline: Optional[statistics_pb2.DatasetFeatureStatisticsList],
                 config: DriftConfig) -> Dict[str, Any]:
    """The label rate's shift from the baseline's; `drifted` (which blocks) beyond `label_shift_threshold`."""
    label = {"feature": config.label_key, "current_rate": current_rate,
             "baseline_rate": None, "abs_change": None,
             "threshold": config.label_shift_threshold, "drifted": False,
             "blocking": True, "status": "no_baseline"}
    if baseline is not None:
        baseline_rate = label_mean(baseline, config.label_key, "baseline_statistics")
        change = abs(current_rate - baseline_rate)
        blocked = change > config.label_shift_threshold
        label.update(baseline_rate=baseline_rate, abs_change=change, drifted=blocked,
                     status=checks.BLOCK if blocked else checks.OK)
    return label


def _verdict(report: Dict[str, Any], config: DriftConfig, has_baseline: bool,
             no_baseline_reason: str) -> Dict[str, Any]:
    """{verdict, blessed, summary}: BLOCKED if anything blocks, else NO_BASELINE, WARN or PASS."""
    blocking_checks = checks.names(report["checks"], checks.BLOCK)
    warning_checks = checks.names(report["checks"], checks.WARN)
    if report["blocking"]:
        reasons = []
        if report["blocking_drift"]:
            reasons.append("blocking feature drift: " + ", ".join(report["blocking_drift"]))
        if _label_blocked(report):
            reasons.append(f"label rate of {config.label_key!r} moved by {report['label']['abs_change']:.4f} "
                           f"(> {config.label_shift_threshold})")
        if blocking_checks:
            reasons.append("dataset checks: " + ", ".join(blocking_checks))
        return dict(verdict=constants.BLOCKED, blessed=0,
                    summary="Blocked: " + "; ".join(reasons) + ". Training on this span stops.")
    if not has_baseline:
        return dict(
            verdict=constants.NO_BASELINE, blessed=1,
            summary=f"No baseline statistics ({no_baseline_reason}): nothing to compare against, span passes."
                    + (" Warnings: " + ", ".join(report["warnings"]) + "." if report["warnings"] else ""))
    if report["warnings"]:
        return dict(verdict=constants.WARN, blessed=1,
                    summary="Passed with warnings: " + ", ".join(
                        (["drift in " + ", ".join(report["warning_drift"])] if report["warning_drift"] else [])
                        + warning_checks) + ".")
    return dict(verdict=constants.PASS, blessed=1, summary="Passed: no feature beyond its threshold.")


def validate_skew(serving: statistics_pb2.DatasetFeatureStatisticsList,
                  training: statistics_pb2.DatasetFeatureStatisticsList,
                  schema: schema_pb2.Schema,
                  config: DriftConfig,
                  environment: Optional[str] = "SERVING",
                  duplicate_counts: Optional[Tuple[int, int]] = None) -> Dict[str, Any]:
    """Training/serving skew: the same checks with serving data as current and training as baseline.

    Serving data has no label and its own volume: the label and row-count checks are off, and the
    label and the schema's features not in `environment` are left out of the training statistics;
    schema anomalies are computed here with `tfdv.validate_statistics` in `environment`.
    """
    skew_config = dataclasses.replace(
        config, label_key="", dataset_checks=dataclasses.replace(config.dataset_checks, row_count=None))
    left_out = {config.label_key} | {f.name for f in schema.feature
                                     if environment and environment in f.not_in_environment}
    _single_dataset(training, "training statistics")
    training_only = statistics_pb2.DatasetFeatureStatisticsList()
    training_only.CopyFrom(training)
    features = training_only.datasets[0].features
    for i in reversed(range(len(features))):
        if checks.feature_name(features[i]) in left_out:
            del features[i]
    anomalies = None
    if skew_config.dataset_checks.anomalies is not None:
        anomalies = tfdv.validate_statistics(serving, schema, environment=environment)
    report = validate_drift(serving, training_only, schema, skew_config, anomalies, duplicate_counts)
    report["summary"] = "Skew (serving vs training): " + report["summary"].replace(
        " Training on this span stops.", "")
    return report


def figures(report: Mapping[str, Any], status: str = checks.BLOCK) -> Dict[str, Any]:
    """{"check:feature": the value that fired} of a report's findings with `status` ("block"/"warn")."""
    found: Dict[str, Any] = {}
    for f in report["features"]:
        if f["status"] == status:
            found[f"distribution:{f['feature']}"] = f["distance"]
    label = report.get("label")
    if label and label["status"] == status:
        found[f"label_rate:{label['feature']}"] = label["abs_change"]
    for c in report["checks"]:
        if c["status"] == status:
            found[f"{c['check']}:{c['feature']}" if c["feature"] else c["check"]] = c["value"]
    return found


def _comparator_name(schema: schema_pb2.Schema, name: str) -> str:
    feature = tfdv.get_feature(schema, name)
    return L_INFTY if feature.drift_comparator.HasField("infinity_norm") else JSD


# ---- distributions for the report's pictures ---------------------------------------------------

_PICTURED_CHECKS = (checks.CATEGORIES_VANISHED, checks.CATEGORIES_APPEARED, checks.MISSING_RATE,
                    checks.SCHEMA_RANGE, checks.CONSTANT)


def _add_pictures(report, current, baseline, config: DriftConfig, max_categories: int = 15,
                  bins: int = 20) -> None:
    """report["pictures"]: {feature: distributions} of every drifted or blocking feature."""
    wanted = [f["feature"] for f in report["features"] if f["status"] in (checks.WARN, checks.BLOCK)]
    wanted += [c["feature"] for c in report["checks"] if c["feature"] and c["status"] != checks.OK
               and (c["check"] in _PICTURED_CHECKS or c["check"].startswith(checks.ANOMALY))]
    if report["label"] and report["label"]["status"] == checks.BLOCK:
        wanted.append(config.label_key)
    cur = checks.features_by_name(current.datasets[0])
    base = checks.features_by_name(baseline.datasets[0]) if baseline is not None else {}
    pictures = {}
    for name in dict.fromkeys(wanted):
        picture = distributions(cur.get(name), base.get(name), max_categories, bins)
        if picture is not None:
            pictures[name] = picture
    report["pictures"] = pictures


def distributions(current, baseline, max_categories: int = 15, bins: int = 20) -> Optional[Dict[str, Any]]:
    """Baseline vs current shares of one feature: the top categories (string) or a common-grid
    histogram (numeric, re-binned from TFDV's standard histograms); None when neither has data."""
    either = current if current is not None else baseline
    if either is None:
        return None
    if either.HasField("string_stats"):
        now, before = checks.category_counts(current), checks.category_counts(baseline)
        tn, tb = sum(now.values()) or 1.0, sum(before.values()) or 1.0
        share = {k: max(now.get(k, 0) / tn, before.get(k, 0) / tb) for k in set(now) | set(before)}
        labels = sorted(share, key=lambda k: (-share[k], k))[:max_categories]
        return {"kind": "categorical", "labels": labels,
                "baseline": [before.get(k, 0) / tb for k in labels],
                "current": [now.get(k, 0) / tn for k in labels],
                "other_categories": max(0, len(share) - len(labels))}
    histograms = [h for h in (checks.standard_histogram(current), checks.standard_histogram(baseline)) if h]
    buckets = [b for h in histograms for b in h.buckets if b.sample_count > 0]
    if not buckets:
        return None
    low = min(b.low_value for b in buckets)
    high = max(b.high_value for b in buckets)
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    if high <= low:
        high = low + 1.0
    edges = [low + (high - low) * i / bins for i in range(bins + 1)]
    return {"kind": "numeric", "edges": edges,
            "baseline": _rebin(checks.standard_histogram(baseline), edges),
            "current": _rebin(checks.standard_histogram(current), edges)}


def _rebin(histogram, edges: List[float]) -> List[float]:
    """Shares of a histogram's counts in the bins `edges` (counts spread uniformly within buckets)."""
    shares = [0.0] * (len(edges) - 1)
    if histogram is None:
        return shares
    total = sum(b.sample_count for b in histogram.buckets) or 1.0
    for b in histogram.buckets:
        width = b.high_value - b.low_value
        for i in range(len(shares)):
            lo, hi = edges[i], edges[i + 1]
            if width <= 0:
                inside = 1.0 if (lo <= b.low_value < hi or (i == len(shares) - 1 and b.low_value == hi)) else 0.0
            else:
                inside = max(0.0, min(b.high_value, hi) - max(b.low_value, lo)) / width
            shares[i] += b.sample_count * inside / total
    return shares


def render_html(report: Mapping[str, Any], title: str = "Drift report") -> str:
    """A self-contained HTML page (inline CSS and SVG, no scripts) of a report from `validate_drift`."""
    return report_html.render(report, title)


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
