"""Canary analysis decisions on figures with a known answer: noise passes, real differences fail."""
import numpy as np
import pytest

from serving.delivery import canary_analysis as ca
from serving.server.monitoring import Metrics

BOUNDS = [100.0, 1000.0, 10000.0, float("inf")]


def figures(requests, errors, fast_share=1.0):
    """server_figures-like: `fast_share` of the requests under 1 ms, the rest under 10 ms."""
    fast = int(round(requests * fast_share))
    buckets = [(100.0, 0), (1000.0, fast), (10000.0, requests), (float("inf"), requests)]
    return {"requests": requests, "errors": errors, "latency_buckets": buckets}


def records(rng, n, shift=0.0, informative=True):
    labels = rng.integers(0, 2, n)
    scores = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + (1.5 * labels if informative else 0) + shift)))
    return [{"prediction": float(p), "label": int(y)} for p, y in zip(scores, labels)]


def test_noise_alone_promotes():
    rng = np.random.default_rng(1)
    result = ca.analyse(figures(2000, 2, 0.995), figures(400, 1, 0.99),
                        {"stable": records(rng, 2000), "canary": records(rng, 400)})
    assert result["decision"] == "promote", result
    assert set(result["checks"]) == {"error_rate", "latency_p99", "predictions", "auc"}
    assert result["checks"]["error_rate"]["p_value"] > 0.01


def test_each_real_difference_rolls_back_naming_its_check():
    rng = np.random.default_rng(2)
    stable = {"stable": records(rng, 2000)}
    cases = {
        "error_rate": (figures(400, 40, 0.99), {"canary": records(rng, 400)}),
        "latency_p99": (figures(400, 0, 0.7), {"canary": records(rng, 400)}),
        "predictions": (figures(400, 0, 0.99), {"canary": records(rng, 400, shift=1.5)}),
        "auc": (figures(400, 0, 0.99), {"canary": records(rng, 400, informative=False)}),
    }
    for check, (canary, predictions) in cases.items():
        result = ca.analyse(figures(2000, 1, 0.995), canary, {**stable, **predictions})
        assert result["decision"] == "rollback" and check in result["failed"], (check, result["checks"])
    # A significant but immaterial difference (below the margin) passes: 0.5% more errors.
    result = ca.analyse(figures(20000, 0), figures(20000, 100), {})
    assert result["checks"]["error_rate"]["p_value"] < 0.01 and result["decision"] == "promote"


def test_too_few_requests_waits():
    assert ca.analyse(figures(2000, 0), figures(40, 20), {})["decision"] == "wait"


def test_server_figures_from_the_local_server_exposition():
    metrics = Metrics()
    before = ca.parse_metrics(metrics.exposition().decode())
    for status, n in (("OK", 7), ("INVALID_ARGUMENT", 3)):
        for _ in range(n):
            metrics.request_count.labels("flight", status).inc()
            metrics.request_latency.labels("flight", "predict", "REST").observe(500.0)
    metrics.request_count.labels("other", "OK").inc()
    result = ca.server_figures(before, ca.parse_metrics(metrics.exposition().decode()), "flight")
    assert (result["requests"], result["errors"]) == (10, 3)
    assert dict(result["latency_buckets"])[612.0] == 10 and dict(result["latency_buckets"])[340.0] == 0


def test_prediction_log_is_grouped_by_stage_within_the_window(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_text('{"time": 5, "version": 1, "prediction": 0.2, "label": 1}\n'
                    '{"time": 6, "version": 2, "prediction": 0.4}\n{"time": 99, "version": 2, "prediction": 0.4}\n')
    grouped = ca.read_predictions(str(path), 0, 10, {1: "stable", 2: "canary"})
    assert [len(grouped["stable"]), len(grouped["canary"])] == [1, 1]
    path.write_text('{"time": 5, "version": 1}\n')
    with pytest.raises(ValueError, match="predictions.jsonl:1: not a prediction record"):
        ca.read_predictions(str(path), 0, 10, {1: "stable"})
