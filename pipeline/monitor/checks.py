"""What the monitor decides: training/serving skew, input drift, prediction drift (the DriftValidator's checks and
thresholds, components/drift_validator) and decay (live metrics against validation, day-aware).

An alert is a finding at the level that stops training (the drift policy's `block`), or a decay whose whole
one-sided interval lies beyond its margin. Figures at the `warn` level are reported, they do not page.
"""
import dataclasses
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from components.drift_validator import checks as drift_checks
from components.drift_validator import drift
from data import contract
from pipeline.dag import configs

SKEW, DRIFT = "skew", "drift"


def _without(stats, names: Sequence[str]):
    """A copy of a DatasetFeatureStatisticsList without the features `names`."""
    out = type(stats)()
    out.CopyFrom(stats)
    for dataset in out.datasets:
        for i in reversed(range(len(dataset.features))):
            if drift_checks.feature_name(dataset.features[i]) in names:
                del dataset.features[i]
    return out


def _schema_without(schema, names: Sequence[str]):
    out = type(schema)()
    out.CopyFrom(schema)
    for i in reversed(range(len(out.feature))):
        if out.feature[i].name in names:
            del out.feature[i]
    return out


def window_config(config: drift.DriftConfig, left_out: Sequence[str]) -> drift.DriftConfig:
    """The drift policy without the features a monitoring window's dates decide."""
    thresholds = {k: v for k, v in config.feature_thresholds.items() if k not in left_out}
    return dataclasses.replace(config, feature_thresholds=thresholds,
                               blocking_features=frozenset(config.blocking_features) - set(left_out))


def compare(serving, baseline, schema, config: Optional[drift.DriftConfig] = None,
            left_out: Sequence[str] = configs.MONITOR_WINDOW_FEATURES) -> Dict[str, Any]:
    """`drift.validate_skew` of serving statistics against a baseline's (training data, or the previous window),
    the window's calendar features left out of statistics, schema and policy."""
    config = window_config(config or configs.drift_config(), left_out)
    return drift.validate_skew(_without(serving, left_out), _without(baseline, left_out),
                               _schema_without(schema, left_out), config)


def findings(report: Dict[str, Any], check: str) -> List[Dict[str, Any]]:
    """Every feature distance and every dataset check that fired, as {feature, distance, threshold, check, ...};
    `alert` when it reached the block level."""
    out = []
    for f in report["features"]:
        out.append({"feature": f["feature"], "distance": f["distance"], "threshold": f["block_threshold"],
                    "warn_threshold": f["warn_threshold"], "check": f"{check}:distribution:{f['comparator']}",
                    "status": f["status"], "alert": f["status"] in (drift_checks.BLOCK, "not_measured")
                    and f["blocking"]})
    for c in report["checks"]:
        if c["status"] == drift_checks.OK:
            continue
        out.append({"feature": c["feature"], "distance": c["value"], "threshold": c.get("block"),
                    "warn_threshold": c.get("warn"), "check": f"{check}:{c['check']}", "status": c["status"],
                    "alert": c["status"] == drift_checks.BLOCK, "detail": c.get("detail")})
    return out


def alerting(found: List[Dict[str, Any]]) -> List[str]:
    """Names of the features (or checks) whose finding alerts."""
    return sorted({f["feature"] or f["check"] for f in found if f["alert"]})


# ---- prediction drift -------------------------------------------------------------------------------
def prediction_drift(live, reference) -> Dict[str, Any]:
    """TFDV's Jensen-Shannon divergence between the answers' histogram and the model's answers on its eval
    split (statistics of one FLOAT column, contract.PREDICTION_KEY), against MONITOR_PREDICTION_DRIFT."""
    import tensorflow_data_validation as tfdv
    level = configs.MONITOR_PREDICTION_DRIFT
    config = drift.DriftConfig(feature_thresholds={contract.PREDICTION_KEY: level}, label_key="",
                               dataset_checks=drift_checks.DatasetChecks())
    schema = tfdv.infer_schema(reference)
    report = drift.validate_drift(live, reference, schema, config)
    entry = report["features"][0]
    current = drift_checks.features_by_name(live.datasets[0]).get(contract.PREDICTION_KEY)
    base = drift_checks.features_by_name(reference.datasets[0]).get(contract.PREDICTION_KEY)
    return {"feature": contract.PREDICTION_KEY, "distance": entry["distance"], "threshold": level["block"],
            "warn_threshold": level["warn"], "check": f"prediction_drift:distribution:{entry['comparator']}",
            "status": entry["status"], "alert": entry["status"] == drift_checks.BLOCK,
            "live_mean": float(current.num_stats.mean) if current is not None else None,
            "reference_mean": float(base.num_stats.mean) if base is not None else None,
            "live_count": int(live.datasets[0].num_examples),
            "reference_count": int(reference.datasets[0].num_examples),
            "picture": drift.distributions(current, base, bins=20)}


# ---- decay: live metrics against validation, resampling days --------------------------------------------
def auc(labels: np.ndarray, scores: np.ndarray) -> Optional[float]:
    """ROC AUC (rank statistic, ties averaged); None without both classes."""
    from scipy import stats
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = stats.rankdata(scores)
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def recall(labels: np.ndarray, scores: np.ndarray) -> Optional[float]:
    positives = labels == 1
    return float((scores[positives] >= contract.DECISION_THRESHOLD).mean()) if positives.any() else None


def calibration(labels: np.ndarray, scores: np.ndarray) -> Optional[float]:
    """Mean prediction / mean label (TFMA's `calibration`)."""
    return float(scores.mean() / labels.mean()) if labels.mean() > 0 else None


METRICS = {"auc": auc, "recall": recall, "calibration": calibration}


@dataclasses.dataclass
class Scored:
    """Labelled answers with the day (month * 100 + day) of each flight."""
    labels: np.ndarray
    scores: np.ndarray
    days: np.ndarray

    def by_day(self) -> List[tuple]:
        order = np.argsort(self.days, kind="stable")
        days, labels, scores = self.days[order], self.labels[order], self.scores[order]
        cuts = np.flatnonzero(np.diff(days)) + 1
        return list(zip(np.split(days, cuts), np.split(labels, cuts), np.split(scores, cuts)))

    def metrics(self) -> Dict[str, Optional[float]]:
        return {name: fn(self.labels, self.scores) for name, fn in METRICS.items()}


def _resample(groups, rng, n: int):
    picks = rng.integers(0, len(groups), size=(n, len(groups)))
    for pick in picks:
        yield (np.concatenate([groups[i][1] for i in pick]), np.concatenate([groups[i][2] for i in pick]))


def decay(live: Scored, reference: Scored, settings: Optional[Dict] = None) -> Dict[str, Any]:
    """Live AUC, recall and calibration against the model's validation figures (the same metrics of its answers
    on its eval split), the live side resampled by whole days (a block bootstrap: a day's flights share weather
    and delay cascades, so one bad day widens the interval instead of paging). A metric with a margin alerts
    when the one-sided upper bound of live - validation is below -margin; with fewer than `min_days` labelled
    days nothing alerts. The validation figure is a point, as the Evaluator records it: its own noise (a few
    eval days) is what the margin absorbs."""
    s = {**configs.MONITOR_DECAY, **(settings or {})}
    rng = np.random.default_rng(s["seed"])
    live_days = live.by_day()
    live_point, ref_point = live.metrics(), reference.metrics()
    samples = {name: [] for name in METRICS}
    for labels, scores in _resample(live_days, rng, s["resamples"]):
        for name, fn in METRICS.items():
            value = fn(labels, scores)
            if value is not None:
                samples[name].append(value)
    out: Dict[str, Any] = {"days": len(live_days), "reference_days": len(np.unique(reference.days)),
                           "examples": int(len(live.labels)), "reference_examples": int(len(reference.labels)),
                           "late_rate": float(live.labels.mean()) if len(live.labels) else None,
                           "confidence": s["confidence"], "resamples": s["resamples"],
                           "test": "block bootstrap over the live days of live - validation, one-sided",
                           "metrics": {}, "per_day": []}
    enough = len(live_days) >= s["min_days"]
    for name in METRICS:
        margin = s["margins"].get(name)
        ref = ref_point[name]
        d = np.asarray(samples[name]) - ref if ref is not None and samples[name] else np.asarray([])
        entry = {"live": live_point[name], "reference": ref, "margin": margin,
                 "difference": live_point[name] - ref if live_point[name] is not None and ref is not None else None,
                 "interval": [float(np.quantile(d, 1 - s["confidence"])), float(np.quantile(d, s["confidence"]))]
                 if len(d) else None}
        entry["alert"] = bool(enough and margin is not None and entry["interval"] is not None
                              and entry["interval"][1] < -margin)
        out["metrics"][name] = entry
    for days, labels, scores in live_days:
        out["per_day"].append({"day": int(days[0]), "examples": int(len(labels)), "auc": auc(labels, scores),
                               "recall": recall(labels, scores), "late_rate": float(labels.mean())})
    out["enough_days"] = enough
    out["alert"] = any(m["alert"] for m in out["metrics"].values())
    return out
