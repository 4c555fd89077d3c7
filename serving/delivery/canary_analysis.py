"""Automatic canary analysis: canary against stable over one window of live traffic, then promote or roll back.

Figures per stage, for the window:
- requests and errors: deltas of `:tensorflow:serving:request_count{model_name, status}` (status != OK is
  an error) scraped from the Prometheus endpoint of the stage's deployment (TF Serving's metrics are
  per model, not per version: the canary must run on its own deployment);
- latency: deltas of the `:tensorflow:serving:request_latency` histogram; p99 = the upper bound of the
  bucket holding the 99th percentile;
- predictions: the servers' request logs (TF Serving's PredictionLog files, serving/server/request_log.py),
  one per row, by the version that answered (log_metadata.model_spec.version); labels, where known,
  joined on the flight's natural key (data/contract.py NATURAL_KEY) from a labels CSV.

Every check fails only when the difference is both significant (the stated test at `alpha`) and
larger than its margin, so noise alone does not roll a canary back:
- error rate: one-sided Fisher exact test, H1 canary rate > stable rate; margin in rate;
- latency: share of requests slower than stable's p99 bucket bound, one-sided Fisher exact test
  canary share > stable share; margin in share;
- prediction distribution: two-sample Kolmogorov-Smirnov test; margin on the KS statistic;
- live AUC (labels logged): 95% percentile bootstrap interval (fixed seed) of AUC(canary) - AUC(stable);
  fails when the whole interval is below -margin.
Too few canary requests: "wait" (nothing changes).
"""
import math
import re
import urllib.request
from typing import Dict, List, Optional

import numpy as np
from scipy import stats

from data import contract
from serving.server import request_log

REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
DEFAULTS = {"alpha": 0.01, "min_requests": 100, "error_margin": 0.01, "latency_margin": 0.05,
            "ks_margin": 0.1, "auc_margin": 0.02, "bootstrap": 1000}
_SAMPLE = re.compile(r'^([^\s{]+)(?:\{([^}]*)\})?\s+(\S+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> List[tuple]:
    """Samples (name, {label: value}, value) of a Prometheus text exposition."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m:
            samples.append((m.group(1), dict(_LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return samples


def scrape(rest: str, path: str = "/monitoring/prometheus/metrics", timeout: float = 10.0) -> List[tuple]:
    with urllib.request.urlopen(f"http://{rest}{path}", timeout=timeout) as answer:
        return parse_metrics(answer.read().decode())


def server_figures(before: List[tuple], after: List[tuple], model_name: str) -> Dict:
    """{"requests", "errors", "latency_buckets": [(upper bound in us, count)]} between two scrapes."""
    def totals(samples):
        counts, buckets = {}, {}
        for name, labels, value in samples:
            if labels.get("model_name") != model_name:
                continue
            if name in (REQUEST_COUNT, REQUEST_COUNT + "_total"):
                ok = labels.get("status") == "OK"
                counts[ok] = counts.get(ok, 0.0) + value
            elif name == REQUEST_LATENCY + "_bucket":
                bound = math.inf if labels["le"] in ("+Inf", "inf") else float(labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + value
        return counts, buckets
    (c0, b0), (c1, b1) = totals(before), totals(after)
    ok = c1.get(True, 0.0) - c0.get(True, 0.0)
    errors = c1.get(False, 0.0) - c0.get(False, 0.0)
    cumulative = sorted((bound, b1[bound] - b0.get(bound, 0.0)) for bound in b1)
    return {"requests": int(round(ok + errors)), "errors": int(round(errors)),
            "latency_buckets": [(bound, int(round(count))) for bound, count in cumulative]}


def _p99_bound(buckets) -> Optional[float]:
    total = buckets[-1][1] if buckets else 0
    for bound, cumulative in buckets:
        if total and cumulative >= 0.99 * total:
            return bound
    return None


def _above(buckets, bound: float) -> int:
    below = max((c for b, c in buckets if b <= bound), default=0)
    return (buckets[-1][1] if buckets else 0) - below


def _auc(labels, scores) -> Optional[float]:
    labels, scores = np.asarray(labels), np.asarray(scores)
    positives, negatives = labels.sum(), len(labels) - labels.sum()
    if positives == 0 or negatives == 0:
        return None
    ranks = stats.rankdata(scores)
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _fisher_greater(bad_canary, n_canary, bad_stable, n_stable) -> float:
    table = [[bad_canary, n_canary - bad_canary], [bad_stable, n_stable - bad_stable]]
    return float(stats.fisher_exact(table, alternative="greater")[1])


def analyse(stable: Dict, canary: Dict, predictions: Dict[str, List[Dict]], **settings) -> Dict:
    """The checks and the decision ("promote", "rollback" or "wait") for the figures of one window.

    stable/canary: server_figures(); predictions: {"stable": [...], "canary": [...]} prediction log records.
    """
    s = {**DEFAULTS, **settings}
    alpha = s["alpha"]
    checks = {}
    n_s, n_c = stable["requests"], canary["requests"]
    rate_s, rate_c = stable["errors"] / max(n_s, 1), canary["errors"] / max(n_c, 1)
    p = _fisher_greater(canary["errors"], n_c, stable["errors"], n_s) if n_c and n_s else 1.0
    checks["error_rate"] = {"stable": rate_s, "canary": rate_c, "p_value": p, "margin": s["error_margin"],
                            "test": "one-sided Fisher exact", "passed": not (p < alpha and rate_c - rate_s > s["error_margin"])}
    bound = _p99_bound(stable["latency_buckets"])
    if bound is not None and canary["latency_buckets"]:
        slow_s, slow_c = _above(stable["latency_buckets"], bound), _above(canary["latency_buckets"], bound)
        total_s, total_c = stable["latency_buckets"][-1][1], canary["latency_buckets"][-1][1]
        share_s, share_c = slow_s / max(total_s, 1), slow_c / max(total_c, 1)
        p = _fisher_greater(slow_c, total_c, slow_s, total_s) if total_c else 1.0
        checks["latency_p99"] = {"stable_p99_us": bound, "canary_p99_us": _p99_bound(canary["latency_buckets"]),
                                 "stable_share_above": share_s, "canary_share_above": share_c, "p_value": p,
                                 "margin": s["latency_margin"], "test": "one-sided Fisher exact on the share above "
                                 "stable's p99 bucket bound",
                                 "passed": not (p < alpha and share_c - share_s > s["latency_margin"])}
    ps = [r["prediction"] for r in predictions.get("stable", [])]
    pc = [r["prediction"] for r in predictions.get("canary", [])]
    if len(ps) >= 2 and len(pc) >= 2:
        result = stats.ks_2samp(pc, ps)
        checks["predictions"] = {"stable_mean": float(np.mean(ps)), "canary_mean": float(np.mean(pc)),
                                 "ks_statistic": float(result.statistic), "p_value": float(result.pvalue),
                                 "margin": s["ks_margin"], "test": "two-sample Kolmogorov-Smirnov",
                                 "passed": not (result.pvalue < alpha and result.statistic > s["ks_margin"])}
    labelled = {k: [r for r in v if r.get("label") is not None] for k, v in predictions.items()}
    auc_s = _auc([r["label"] for r in labelled.get("stable", [])], [r["prediction"] for r in labelled.get("stable", [])])
    auc_c = _auc([r["label"] for r in labelled.get("canary", [])], [r["prediction"] for r in labelled.get("canary", [])])
    if auc_s is not None and auc_c is not None:
        rng = np.random.default_rng(0)
        ls, ss = np.array([r["label"] for r in labelled["stable"]]), np.array([r["prediction"] for r in labelled["stable"]])
        lc, sc = np.array([r["label"] for r in labelled["canary"]]), np.array([r["prediction"] for r in labelled["canary"]])
        diffs = []
        for _ in range(s["bootstrap"]):
            i, j = rng.integers(0, len(ls), len(ls)), rng.integers(0, len(lc), len(lc))
            a, b = _auc(ls[i], ss[i]), _auc(lc[j], sc[j])
            if a is not None and b is not None:
                diffs.append(b - a)
        low, high = (float(x) for x in np.percentile(diffs, [2.5, 97.5]))
        checks["auc"] = {"stable": auc_s, "canary": auc_c, "difference_95ci": [low, high], "margin": s["auc_margin"],
                         "test": "percentile bootstrap of AUC(canary) - AUC(stable)",
                         "passed": not high < -s["auc_margin"]}
    if n_c < s["min_requests"] or n_s < s["min_requests"]:
        decision = "wait"
    else:
        decision = "promote" if all(c["passed"] for c in checks.values()) else "rollback"
    failed = [name for name, c in checks.items() if not c["passed"]]
    return {"decision": decision, "failed": failed, "checks": checks, "settings": s,
            "requests": {"stable": n_s, "canary": n_c},
            "errors": {"stable": stable["errors"], "canary": canary["errors"]}}


def read_request_logs(paths, start: float, end: float, versions: Dict[int, str], model_name: str,
                      labels: Optional[Dict[tuple, int]] = None) -> Dict[str, List[Dict]]:
    """Prediction records {"time", "version", "prediction", "label"?}, one per row of each logged Predict
    of `model_name` answered by one of `versions` ({version: stage}) within [start, end], grouped by
    stage. timestamp_secs is whole seconds: the window starts at floor(start). `labels`: {natural key:
    label} (data.spans_io.read_labels). A log without the answer (the proxy's) gives no record."""
    grouped: Dict[str, List[Dict]] = {stage: [] for stage in versions.values()}
    for record in request_log.read_logs(paths):
        meta = record.log_metadata
        version = meta.model_spec.version.value
        if (meta.model_spec.name != model_name or version not in versions or record.WhichOneof("log_type") != "predict_log"
                or not math.floor(start) <= meta.timestamp_secs <= end):
            continue
        for row, outputs in request_log.rows(record, contract.EXAMPLES_INPUT):
            if contract.PREDICTION_KEY not in outputs:
                continue
            entry = {"time": meta.timestamp_secs, "version": version, "prediction": float(outputs[contract.PREDICTION_KEY])}
            if labels is not None and all(k in row for k in contract.NATURAL_KEY):
                label = labels.get(contract.natural_key(row))
                if label is not None:
                    entry["label"] = label
            grouped[versions[version]].append(entry)
    return grouped
